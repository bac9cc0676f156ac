import Foundation

extension ModelEnvironmentBuilder {
    // MARK: - Building

    /// The marker written last into a complete environment (before the rename that publishes it).
    static let markerPath = "score-cluster/env.json"

    func reuse(_ finalPath: String, key: String, requirements: ModelRequirements) throws(PyFuncError) -> ModelEnvironment? {
        guard FileManager.default.fileExists(atPath: finalPath + "/" + Self.markerPath) else { return nil }
        log("\(installer.name): using the environment \(finalPath)")
        return ModelEnvironment(environment: try PythonEnvironment(path: finalPath), requirements: requirements,
                                key: key, built: false)
    }

    func build(_ requirements: ModelRequirements, at temp: String, finalPath: String, key: String,
                       interpreter: String, transcript: inout BuildTranscript) throws(PyFuncError) {
        let fm = FileManager.default
        let python = temp + "/bin/python"
        // How packages are installed into the environment: pip inside it, or uv pointed at it.
        let (installExecutable, install): (String, [String]) = switch self.installer {
        case .pip: (python, ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"])
        case .uv(let uv): (uv, ["pip", "install", "--python", python, "--no-progress"])
        }

        // 1. The virtual environment itself (uv is told to use this interpreter, never to download one).
        let venv = switch self.installer {
        case .pip: transcript.run(basePython, ["-m", "venv", temp], directory: cacheDirectory)
        case .uv(let uv): transcript.run(uv, ["venv", "--python", basePython, "--no-python-downloads", "--no-project", temp],
                                         directory: cacheDirectory)
        }
        guard venv.status == 0 else {
            var hint = ""
            if venv.output.contains("ensurepip") {
                hint = "; install Debian's python\(PythonEnvironment.linkedMajorMinor)-venv (scripts/setup.sh does)"
            }
            throw PyFuncError("""
                cannot build the \(self.installer.name) environment for model \(requirements.modelDirectory): creating the \
                virtual environment with \(basePython) failed (exit status \(venv.status))\(hint)
                \(Self.tail(venv.output))
                """)
        }

        // 2. Build dependencies (pip, setuptools, wheel pins), as MLflow installs them first.
        if !requirements.buildDependencies.isEmpty {
            let lines = requirements.buildDependencies
            log("\(installer.name): installing build dependencies: \(lines.map(\.text).joined(separator: " "))")
            let result = transcript.run(installExecutable, install + lines.map(\.installText), directory: temp)
            guard result.status == 0 else {
                throw pipFailure(result, lines: lines, what: "the build dependencies from \(Self.sources(of: lines))",
                                 requirements: requirements)
            }
        }

        // 3. The requirements, from a file that notes where each line came from.
        let metaDir = temp + "/score-cluster"
        do { try fm.createDirectory(atPath: metaDir, withIntermediateDirectories: true) } catch {
            throw PyFuncError("cannot create \(metaDir): \(error.localizedDescription)")
        }
        var file = "# Requirements of \(requirements.modelDirectory), from \(requirements.origin)\n"
        if !requirements.constraints.isEmpty {
            let constraints = requirements.constraints.map { "\($0.installText)  # \($0.location)" }.joined(separator: "\n") + "\n"
            try Self.write(constraints, to: metaDir + "/constraints.txt")
            file += "-c \(metaDir)/constraints.txt\n"
        }
        file += requirements.requirements.map { "\($0.installText)  # \($0.location)" }.joined(separator: "\n") + "\n"
        let requirementsFile = metaDir + "/requirements.txt"
        try Self.write(file, to: requirementsFile)
        log("\(installer.name): pip install: \(requirements.requirements.count) requirement line(s)"
            + (requirements.constraints.isEmpty ? "" : ", \(requirements.constraints.count) constraint(s)"))
        let installed = transcript.run(installExecutable, install + ["-r", requirementsFile], directory: temp)
        guard installed.status == 0 else {
            throw pipFailure(installed, lines: requirements.requirements + requirements.constraints,
                             what: "the requirements from \(requirements.origin)", requirements: requirements)
        }

        // 4. What the worker imports must import.
        if !engineRequirements.isEmpty {
            let check = transcript.run(python, ["-c", "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"]
                                        + engineRequirements, directory: temp)
            guard check.status == 0 else {
                throw PyFuncError("""
                    the \(self.installer.name) environment for model \(requirements.modelDirectory) installed, but \
                    \(engineRequirements.joined(separator: ", ")) do not import in it:
                    \(Self.tail(check.output))
                    """)
            }
        }

        // 5. venv and pip wrote the temporary path into scripts; point them at the final one.
        relocate(temp, to: finalPath)

        // 6. The marker, last: its presence in the final directory means complete.
        let marker: [String: Any] = [
            "key": key,
            "python": interpreter,
            "base_python": basePython,
            "installer": self.installer.name,
            "model": requirements.modelDirectory,
            "origin": requirements.origin,
            "files": requirements.files,
            "hash_input": requirements.hashInput(interpreterVersion: interpreter),
            "built": ISO8601DateFormatter().string(from: Date()),
        ]
        try? transcript.text.write(toFile: metaDir + "/build.log", atomically: true, encoding: .utf8)
        guard let json = try? JSONSerialization.data(withJSONObject: marker, options: [.prettyPrinted, .sortedKeys]),
              (try? json.write(to: URL(fileURLWithPath: temp + "/" + Self.markerPath))) != nil else {
            throw PyFuncError("cannot write \(temp)/\(Self.markerPath)")
        }
    }

    /// An error for a failed `pip install`: the requirement(s) pip names, where each was declared, and pip's output tail.
    func pipFailure(_ result: BuildProcess.Result, lines: [ModelRequirements.Line], what: String,
                            requirements: ModelRequirements) -> PyFuncError {
        let culprits = Self.culprits(in: result.output, among: lines)
        let tool = installer == .pip ? "pip" : "uv"
        var message = "cannot build the \(installer.name) environment for model \(requirements.modelDirectory): \(tool) could not install \(what) (exit status \(result.status))"
        for line in culprits {
            message += "\n  failing requirement '\(line.text)' (\(line.location))"
        }
        message += "\n\(tool)'s output (last lines):\n" + Self.tail(result.output)
        return PyFuncError(message)
    }

    /// The declared lines that pip's error lines mention: their full text first, else their project name.
    static func culprits(in output: String, among lines: [ModelRequirements.Line]) -> [ModelRequirements.Line] {
        let errorText = output.split(separator: "\n")
            // pip's "ERROR: ..." lines; uv's resolver explains itself in "×" and "╰─▶ Because ..." lines.
            .filter { $0.localizedCaseInsensitiveContains("error") || $0.contains("Cannot install") || $0.contains("conflict")
                || $0.contains("×") || $0.contains("Because") || $0.contains("unsatisfiable") }
            .joined(separator: "\n").lowercased()
        guard !errorText.isEmpty else { return [] }
        let byText = lines.filter { line in
            let spec = line.installText.split(separator: ";").first.map(String.init) ?? line.installText
            return containsWord(errorText, spec.trimmingCharacters(in: .whitespaces).lowercased())
        }
        if !byText.isEmpty { return byText }
        return lines.filter { line in
            guard let name = line.projectName else { return false }
            return containsWord(errorText.replacingOccurrences(of: "_", with: "-"), name)
        }
    }

    static func containsWord(_ text: String, _ word: String) -> Bool {
        var searchRange = text.startIndex..<text.endIndex
        while let found = text.range(of: word, range: searchRange) {
            let before = found.lowerBound == text.startIndex ? nil : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? nil : text[found.upperBound]
            let isNameChar: (Character?) -> Bool = { c in c.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." } ?? false }
            if !isNameChar(before) && !isNameChar(after) { return true }
            searchRange = found.upperBound..<text.endIndex
        }
        return false
    }

    /// Rewrites the temporary path in the environment's scripts (`bin/pip` shebangs, `activate`)
    /// and `pyvenv.cfg` to the final path, so the renamed environment is consistent.
    func relocate(_ temp: String, to finalPath: String) {
        let fm = FileManager.default
        let bin = temp + "/bin"
        var files = ((try? fm.contentsOfDirectory(atPath: bin)) ?? []).map { bin + "/" + $0 }
        files.append(temp + "/pyvenv.cfg")
        for path in files {
            guard let attributes = try? fm.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeRegular,
                  let size = attributes[.size] as? Int, size < 1 << 20,
                  let data = fm.contents(atPath: path),
                  let text = String(data: data, encoding: .utf8), text.contains(temp) else { continue }
            let fixed = text.replacingOccurrences(of: temp, with: finalPath)
            try? fixed.write(toFile: path, atomically: false, encoding: .utf8)
        }
    }
}
