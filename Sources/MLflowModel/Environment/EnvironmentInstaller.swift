import Foundation

/// What installs a model environment's packages: `python -m venv` and pip (`--env-manager
/// virtualenv`, as MLflow's virtualenv manager does), or uv (`--env-manager uv`, as MLflow's
/// `env_manager="uv"`): the same requirements, the same cache, lock and errors, another tool.
public enum EnvironmentInstaller: Sendable, Equatable {
    case pip
    /// uv at `executable`.
    case uv(executable: String)

    /// How logs and errors name the tool.
    public var name: String {
        switch self {
        case .pip: "virtualenv"
        case .uv: "uv"
        }
    }

    /// What the cache key adds, so that environments the two tools built never stand in for each other.
    var keySuffix: String {
        switch self {
        case .pip: ""
        case .uv: "-uv"
        }
    }

    /// uv from `UV` (an executable path), else `PATH`, else next to the running interpreter
    /// environment (`VIRTUAL_ENV/bin/uv`, as `pip install uv` puts it).
    public static func findUV(environment: [String: String] = ProcessInfo.processInfo.environment) throws(PyFuncError) -> EnvironmentInstaller {
        let fm = FileManager.default
        if let given = environment["UV"], !given.isEmpty {
            guard fm.isExecutableFile(atPath: given) else { throw PyFuncError("UV names \(given), which is not an executable file") }
            return .uv(executable: given)
        }
        var candidates = (environment["PATH"] ?? "").split(separator: ":").map { String($0) + "/uv" }
        if let venv = environment["VIRTUAL_ENV"] { candidates.append(venv + "/bin/uv") }
        if let found = candidates.first(where: { fm.isExecutableFile(atPath: $0) }) { return .uv(executable: found) }
        throw PyFuncError("--env-manager uv needs uv, which is not on PATH nor in $VIRTUAL_ENV/bin: pip install uv (scripts/requirements.txt installs it into .venv), or name it with UV=/path/to/uv")
    }
}
