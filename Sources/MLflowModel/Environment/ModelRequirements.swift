import Digest
import Foundation

/// What a model's environment files ask pip to install (docs/spark-udf.md §3.4, §4.3):
/// `python_env.yaml`'s `dependencies` (with `-r requirements.txt` expanded), else
/// `requirements.txt`, else the `pip` section of `conda.yaml`; plus numpy and pandas, which
/// the engine imports, when the model does not name them.
public struct ModelRequirements: Sendable, Equatable {
    /// One requirement or pip option line, with where it was declared.
    public struct Line: Sendable, Equatable, CustomStringConvertible {
        /// The normalised line, e.g. `numpy==2.4.6`, `scikit-learn[all]>=1.0,<2; python_version >= "3.8"`.
        /// Relative paths stay relative, so that the hash does not depend on where the model is.
        public var text: String
        /// What pip is given: `text` with local paths made absolute.
        public var installText: String
        /// The file that declared it (absolute), or "score-cluster" for an added engine requirement.
        public var source: String
        /// The 1-based line in `source`, when known.
        public var lineNumber: Int?
        /// The PEP 503 normalised project name (`scikit-learn`), when the line names one.
        public var projectName: String?
        /// SHA-256 of a local file the line installs (a wheel or sdist shipped with the model).
        public var contentDigest: String?

        public var description: String { text }
        /// "…/requirements.txt, line 3" or the source alone.
        public var location: String { lineNumber.map { "\(source), line \($0)" } ?? source }
        /// The form the environment's hash covers.
        public var hashText: String { contentDigest.map { "\(text) sha256=\($0)" } ?? text }
    }

    /// The model directory the files were read from.
    public var modelDirectory: String
    /// The Python version the environment files ask for (python_env.yaml `python`, or conda.yaml's `python=`).
    public var pythonVersion: String?
    /// The file `pythonVersion` came from.
    public var pythonVersionSource: String?
    /// python_env.yaml's `build_dependencies` (or conda.yaml's pip/setuptools/wheel), installed first.
    public var buildDependencies: [Line]
    /// The requirement and option lines given to `pip install -r`, in declared order, without duplicates.
    public var requirements: [Line]
    /// Lines of constraints files (`-c constraints.txt`), given to pip as a constraints file.
    public var constraints: [Line]
    /// Engine requirements (numpy, pandas) added because the model's files do not name them.
    public var addedEngineRequirements: [String]
    /// The files the requirement lines were read from, in order (python_env.yaml, then the files it includes, …).
    public var files: [String]
    /// Where the requirements come from, for messages: "python_env.yaml (dependencies) → requirements.txt".
    public var origin: String
    /// Things worth telling the user (conda packages that pip does not install, …).
    public var notes: [String]

    /// The text the environment's hash covers: the interpreter version and the sorted, normalised lines.
    public func hashInput(interpreterVersion: String) -> String {
        var lines = ["score-cluster virtualenv 1", "python \(interpreterVersion)"]
        lines += Set(buildDependencies.map(\.hashText)).sorted().map { "build \($0)" }
        lines += Set(requirements.map(\.hashText)).sorted().map { "requirement \($0)" }
        lines += Set(constraints.map(\.hashText)).sorted().map { "constraint \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The environment's directory name: 32 hex digits of the SHA-256 of `hashInput`.
    public func key(interpreterVersion: String) -> String {
        String(SHA256.hex(Array(hashInput(interpreterVersion: interpreterVersion).utf8)).prefix(32))
    }
}

/// An environment ready to use, and how it came to be.
public struct ModelEnvironment: Sendable {
    public var environment: PythonEnvironment
    public var requirements: ModelRequirements
    /// The content address: the directory's name under the cache directory.
    public var key: String
    /// True when this call built it; false when it was already there (or another process built it meanwhile).
    public var built: Bool
}
