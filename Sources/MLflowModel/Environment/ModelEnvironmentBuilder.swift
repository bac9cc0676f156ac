import Foundation

// MARK: - Builder

/// Builds, once per machine, the virtual environment a model's env files describe, and reuses it.
///
/// Environments are content-addressed: `<cacheDirectory>/<key>`, where the key hashes the
/// interpreter version and the sorted, normalised requirement lines. A build takes an
/// exclusive `flock` on `<cacheDirectory>/<key>.lock`, so concurrent workers and jobs wait
/// for one build and then reuse it. It runs `python -m venv` and `pip install` in a
/// temporary directory next to the final one, and renames it into place only when complete;
/// a failed build leaves no directory, and its error carries the tail of pip's output (the
/// whole log is kept in `<key>.failed.log`).
public struct ModelEnvironmentBuilder: Sendable {
    public var cacheDirectory: String
    /// The interpreter that makes the environments: it must be the minor version the workers embed.
    public var basePython: String
    /// Packages the engine imports, added (unpinned) when the model's files do not name them.
    public var engineRequirements: [String]
    /// pip (in a `python -m venv` environment) or uv.
    public var installer: EnvironmentInstaller
    public var log: @Sendable (String) -> Void

    public init(cacheDirectory: String = ModelEnvironmentBuilder.defaultCacheDirectory(),
                basePython: String = "/usr/bin/python\(PythonEnvironment.linkedMajorMinor)",
                engineRequirements: [String] = ["numpy", "pandas"], installer: EnvironmentInstaller = .pip,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.cacheDirectory = URL(fileURLWithPath: cacheDirectory).standardizedFileURL.path
        self.basePython = basePython
        self.engineRequirements = engineRequirements
        self.installer = installer
        self.log = log
    }

    /// `$XDG_CACHE_HOME/score-cluster/envs`, else `~/.cache/score-cluster/envs`.
    public static func defaultCacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return xdg + "/score-cluster/envs"
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.cache/score-cluster/envs"
    }

    // MARK: Environments

    /// Builds (once per machine, under a file lock) or reuses the environment for `model`.
    public func environment(for model: MLModel) throws(PyFuncError) -> PythonEnvironment {
        try prepare(for: model).environment
    }

    /// Builds or reuses the environment for `model`, saying whether this call built it.
    public func prepare(for model: MLModel) throws(PyFuncError) -> ModelEnvironment {
        let requirements = try requirements(for: model)
        for note in requirements.notes { log("\(installer.name): note: \(note)") }
        let interpreter = try interpreterVersion()
        if let wanted = requirements.pythonVersion, wanted.split(separator: ".").count >= 3, wanted != interpreter {
            log("\(installer.name): the model asks for Python \(wanted); building with \(basePython) (\(interpreter)), the same minor version")
        }
        let key = requirements.key(interpreterVersion: interpreter) + installer.keySuffix
        let finalPath = cacheDirectory + "/" + key

        if let ready = try reuse(finalPath, key: key, requirements: requirements) { return ready }

        do {
            try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        } catch {
            throw PyFuncError("cannot create the environment cache directory \(cacheDirectory): \(error.localizedDescription); pass another with --env-cache")
        }
        let lockPath = finalPath + ".lock"
        let lock = try FileLock(path: lockPath) {
            log("\(installer.name): waiting for another process that is building \(finalPath) (lock \(lockPath))")
        }
        defer { lock.unlock() }
        if let ready = try reuse(finalPath, key: key, requirements: requirements) { return ready }

        let fm = FileManager.default
        // Holding the lock, any directory of this key without a marker is a leftover of a build that died.
        if fm.fileExists(atPath: finalPath) {
            log("\(installer.name): removing the incomplete environment \(finalPath)")
            try? fm.removeItem(atPath: finalPath)
        }
        let leftoverPrefix = ".building-\(key)-"
        for name in (try? fm.contentsOfDirectory(atPath: cacheDirectory)) ?? [] where name.hasPrefix(leftoverPrefix) {
            try? fm.removeItem(atPath: cacheDirectory + "/" + name)
        }

        let tempPath = cacheDirectory + "/" + leftoverPrefix + "\(getpid())-" + String(UInt32.random(in: 0 ... .max), radix: 16)
        let failedLog = finalPath + ".failed.log"
        let started = Date()
        log("""
            \(installer.name): building \(finalPath) with \(basePython) (\(interpreter)) for \(model.directory): \
            \(requirements.requirements.count) requirement line(s) from \(requirements.origin); \
            this happens once per machine
            """)
        var transcript = BuildTranscript()
        do {
            try build(requirements, at: tempPath, finalPath: finalPath, key: key, interpreter: interpreter,
                      transcript: &transcript)
        } catch {
            try? fm.removeItem(atPath: tempPath)
            try? transcript.text.write(toFile: failedLog, atomically: true, encoding: .utf8)
            var message = error.message
            if fm.fileExists(atPath: failedLog) { message += "\nfull log: \(failedLog)" }
            throw PyFuncError(message)
        }
        guard rename(tempPath, finalPath) == 0 else {
            let why = String(cString: strerror(errno))
            try? fm.removeItem(atPath: tempPath)
            throw PyFuncError("cannot move the built environment \(tempPath) to \(finalPath): \(why)")
        }
        try? fm.removeItem(atPath: failedLog)
        let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
        log("\(installer.name): environment ready: \(finalPath) (built in \(seconds) s)")
        return ModelEnvironment(environment: try PythonEnvironment(path: finalPath), requirements: requirements,
                                key: key, built: true)
    }

    /// The base interpreter's full version ("3.11.2"); throws unless it is the embedded minor version.
    public func interpreterVersion() throws(PyFuncError) -> String {
        guard FileManager.default.isExecutableFile(atPath: basePython) else {
            throw PyFuncError("""
                cannot build model environments: the interpreter \(basePython) does not exist; install Debian's \
                python\(PythonEnvironment.linkedMajorMinor) and python\(PythonEnvironment.linkedMajorMinor)-venv \
                (scripts/setup.sh does)
                """)
        }
        let result = BuildProcess.run(basePython, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                              directory: "/")
        let version = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, !version.isEmpty else {
            throw PyFuncError("cannot run \(basePython) to learn its version: \(result.output)")
        }
        let minor = version.split(separator: ".").prefix(2).joined(separator: ".")
        guard minor == PythonEnvironment.linkedMajorMinor else {
            throw PyFuncError("""
                \(basePython) is Python \(version), but score-cluster embeds Python \(PythonEnvironment.linkedMajorMinor); \
                environments must be built with python\(PythonEnvironment.linkedMajorMinor)
                """)
        }
        return version
    }

    // MARK: - Helpers

    /// PEP 503: lowercase, runs of -, _ and . become one -.
    static func normaliseName(_ name: String) -> String {
        var out = ""
        var lastWasSeparator = false
        for c in name.lowercased() {
            if c == "-" || c == "_" || c == "." {
                if !lastWasSeparator { out.append("-") }
                lastWasSeparator = true
            } else {
                out.append(c)
                lastWasSeparator = false
            }
        }
        return out
    }

    static func relative(_ path: String, to dir: String) -> String {
        path.hasPrefix(dir + "/") ? String(path.dropFirst(dir.count + 1)) : path
    }

    static func sources(of lines: [ModelRequirements.Line]) -> String {
        var seen: [String] = []
        for line in lines where !seen.contains(line.source) { seen.append(line.source) }
        return seen.joined(separator: ", ")
    }

    static func tail(_ output: String, lines count: Int = 30) -> String {
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
        let shown = lines.suffix(count).map { "    " + $0 }
        return (lines.count > count ? ["    …"] + shown : shown).joined(separator: "\n")
    }

    static func write(_ text: String, to path: String) throws(PyFuncError) {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw PyFuncError("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
