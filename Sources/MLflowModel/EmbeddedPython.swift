/// The CPython the workers embed, as far as code that does not link it needs to know.
///
/// The build links Debian's libpython3.11 (Package.swift's `CPython` target, pkg-config
/// `python3-embed`). Environments, model files and inspection compare against this version
/// without starting an interpreter; `PythonRuntime` checks at start-up that the headers it
/// was compiled against agree, so a build against another libpython fails loudly.
public enum EmbeddedPython {
    /// "3.11": the major.minor version of the libpython the worker links.
    public static let majorMinor = "3.11"
}
