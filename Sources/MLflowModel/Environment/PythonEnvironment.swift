import Foundation

/// A Python virtual environment whose site-packages the embedded interpreter uses.
///
/// The embedded interpreter is the libpython the worker links (3.11); the environment must
/// have been made by the same minor version, or compiled extensions (numpy, pandas) would
/// not load. `pyvenv.cfg` says which version made it.
public struct PythonEnvironment: Sendable, Equatable {
    /// The environment's root directory (holds `pyvenv.cfg`, `bin/python`).
    public var root: String
    /// The version recorded in `pyvenv.cfg`, e.g. "3.11.2".
    public var version: String

    /// The interpreter path the embedded runtime presents as its program, so that Python's
    /// path logic finds the environment's `pyvenv.cfg` and site-packages.
    public var programPath: String { root + "/bin/python" }

    /// Reads and checks the environment at `path` against the embedded Python `linkedVersion` ("3.11").
    public init(path: String, linkedVersion: String = PythonEnvironment.linkedMajorMinor) throws(PyFuncError) {
        let root = URL(fileURLWithPath: path).standardizedFileURL.path
        let cfgPath = root + "/pyvenv.cfg"
        guard let cfg = try? String(contentsOfFile: cfgPath, encoding: .utf8) else {
            throw PyFuncError("""
                '\(root)' is not a Python virtual environment (no pyvenv.cfg). \
                Create one with the interpreter the worker embeds: /usr/bin/python\(linkedVersion) -m venv \(root), \
                or run scripts/setup.sh for the project's .venv
                """)
        }
        var version: String?
        for line in cfg.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "version" || parts[0] == "version_info" { version = parts[1]; break }
        }
        guard let version else {
            throw PyFuncError("'\(cfgPath)' has no version line; recreate the environment with /usr/bin/python\(linkedVersion) -m venv")
        }
        let majorMinor = version.split(separator: ".").prefix(2).joined(separator: ".")
        guard majorMinor == linkedVersion else {
            throw PyFuncError("""
                the Python environment '\(root)' was made by Python \(version), but score-cluster embeds \
                Python \(linkedVersion) (libpython\(linkedVersion)); its compiled packages cannot load. \
                Recreate it with /usr/bin/python\(linkedVersion) -m venv, or point --python-env at a \(linkedVersion) environment
                """)
        }
        self.root = root
        self.version = version
    }

    /// "3.11": the major.minor version of the libpython this binary links.
    public static var linkedMajorMinor: String { EmbeddedPython.majorMinor }

    /// The environment to use: an explicit `--python-env`, else `VIRTUAL_ENV`, else `.venv`
    /// next to the executable's package checkout or in the current directory.
    public static func resolve(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                               executablePath: String = CommandLine.arguments[0]) throws(PyFuncError) -> PythonEnvironment {
        if let explicit { return try PythonEnvironment(path: explicit) }
        if let virtualEnv = environment["VIRTUAL_ENV"], !virtualEnv.isEmpty { return try PythonEnvironment(path: virtualEnv) }
        for candidate in defaultCandidates(executablePath: executablePath) {
            if FileManager.default.fileExists(atPath: candidate + "/pyvenv.cfg") { return try PythonEnvironment(path: candidate) }
        }
        throw PyFuncError("""
            no Python environment found: pass --python-env DIR, set VIRTUAL_ENV, or run scripts/setup.sh \
            to create the project's .venv
            """)
    }

    /// `.venv` in the current directory and in each ancestor of the executable (a checkout's
    /// `.build/release/score-cluster` finds the checkout's `.venv`).
    static func defaultCandidates(executablePath: String) -> [String] {
        var candidates = [FileManager.default.currentDirectoryPath + "/.venv"]
        var dir = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" && !dir.path.isEmpty {
            candidates.append(dir.appendingPathComponent(".venv").path)
            dir = dir.deletingLastPathComponent()
        }
        return candidates
    }
}
