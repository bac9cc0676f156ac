import Digest
import Foundation

/// Reads requirement lines from YAML entries and requirements files, expanding `-r` and `-c`.
struct RequirementCollector {
    enum Target { case build, requirements, constraints }

    let modelDirectory: String
    var build: [ModelRequirements.Line] = []
    var requirements: [ModelRequirements.Line] = []
    var constraints: [ModelRequirements.Line] = []
    var files: [String] = []
    private var including: [String] = []

    init(modelDirectory: String) { self.modelDirectory = modelDirectory }

    /// Reads a requirements file: continuation lines joined, comments and blank lines dropped.
    mutating func addFile(_ path: String, into target: Target, includedFrom: String?) throws(PyFuncError) {
        let path = URL(fileURLWithPath: path).standardizedFileURL.path
        guard !including.contains(path) else {
            throw PyFuncError("\(path) includes itself (through \(including.joined(separator: " → ")))")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            let from = includedFrom.map { ", which \($0) includes," } ?? ""
            throw PyFuncError("the model's requirements file \(path)\(from) does not exist or cannot be read")
        }
        if !files.contains(path) { files.append(path) }
        including.append(path)
        defer { including.removeLast() }
        let baseDirectory = (path as NSString).deletingLastPathComponent
        var pending = ""
        var pendingLine = 0
        let physical = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, raw) in physical.enumerated() {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if pending.isEmpty { pendingLine = index + 1 }
            if line.hasSuffix("\\") {
                pending += String(line.dropLast())
                continue
            }
            pending += line
            try add(pending, source: path, lineNumber: pendingLine, baseDirectory: baseDirectory, into: target)
            pending = ""
        }
        if !pending.isEmpty {
            try add(pending, source: path, lineNumber: pendingLine, baseDirectory: baseDirectory, into: target)
        }
    }

    /// Adds one entry (a YAML list item or a requirements file line).
    mutating func add(_ raw: String, source: String, lineNumber: Int?, baseDirectory: String,
                      into target: Target) throws(PyFuncError) {
        let entry = Self.collapse(Self.stripComment(raw))
        guard !entry.isEmpty else { return }
        let location = lineNumber.map { "\(source), line \($0)" } ?? source

        if entry.hasPrefix("-") {
            let (option, value) = Self.splitOption(entry)
            switch option {
            case "-r", "--requirement":
                guard !value.isEmpty else { throw PyFuncError("\(location): '\(entry)' names no file") }
                try addFile(resolve(value, against: baseDirectory), into: target, includedFrom: location)
                return
            case "-c", "--constraint":
                guard !value.isEmpty else { throw PyFuncError("\(location): '\(entry)' names no file") }
                try addFile(resolve(value, against: baseDirectory), into: .constraints, includedFrom: location)
                return
            case "-e", "--editable", "-f", "--find-links":
                let short = option.count == 2 ? option : (option == "--editable" ? "-e" : "-f")
                var line = ModelRequirements.Line(text: "\(short) \(value)", installText: "\(short) \(value)",
                                                  source: source, lineNumber: lineNumber)
                if Self.isLocalPath(value) {
                    line.installText = "\(short) \(resolve(value, against: baseDirectory))"
                }
                line.projectName = Self.eggName(value)
                append(line, to: target)
            default:
                append(.init(text: entry, installText: entry, source: source, lineNumber: lineNumber), to: target)
            }
            return
        }
        append(parseRequirement(entry, source: source, lineNumber: lineNumber, baseDirectory: baseDirectory), to: target)
    }

    private mutating func append(_ line: ModelRequirements.Line, to target: Target) {
        switch target {
        case .build: if !build.contains(where: { $0.hashText == line.hashText }) { build.append(line) }
        case .requirements: if !requirements.contains(where: { $0.hashText == line.hashText }) { requirements.append(line) }
        case .constraints: if !constraints.contains(where: { $0.hashText == line.hashText }) { constraints.append(line) }
        }
    }

    /// A PEP 508 requirement, a URL or a local archive/directory, normalised.
    func parseRequirement(_ entry: String, source: String, lineNumber: Int?, baseDirectory: String) -> ModelRequirements.Line {
        var specPart = entry
        var marker: String?
        if let semicolon = entry.firstIndex(of: ";") {
            specPart = entry[..<semicolon].trimmingCharacters(in: .whitespaces)
            let m = Self.collapse(String(entry[entry.index(after: semicolon)...]))
            marker = m.isEmpty ? nil : m
        }
        let withMarker: (String) -> String = { base in marker.map { "\(base); \($0)" } ?? base }

        // A URL or a path, without a "name @" prefix.
        if !Self.isNameAtURL(specPart) && (Self.isURL(specPart) || Self.isLocalPath(specPart)) {
            var line = ModelRequirements.Line(text: withMarker(specPart), installText: withMarker(specPart),
                                              source: source, lineNumber: lineNumber)
            line.projectName = Self.eggName(specPart) ?? Self.archiveName(specPart)
            if Self.isLocalPath(specPart) {
                var pathPart = specPart
                var fragment = ""
                if let hash = specPart.firstIndex(of: "#") {
                    pathPart = String(specPart[..<hash])
                    fragment = String(specPart[hash...])
                }
                let path = resolve(pathPart, against: baseDirectory)
                line.installText = withMarker(path + fragment)
                line.contentDigest = Self.fileDigest(path)
            }
            return line
        }

        // name [extras] (specifiers | @ url)
        let nameEnd = specPart.firstIndex { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") } ?? specPart.endIndex
        let rawName = String(specPart[..<nameEnd])
        guard !rawName.isEmpty else {
            return .init(text: entry, installText: entry, source: source, lineNumber: lineNumber)
        }
        let name = ModelEnvironmentBuilder.normaliseName(rawName)
        var rest = specPart[nameEnd...].trimmingCharacters(in: .whitespaces)
        var extras = ""
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            let list = rest[rest.index(after: rest.startIndex)..<close].split(separator: ",")
                .map { ModelEnvironmentBuilder.normaliseName($0.trimmingCharacters(in: .whitespaces)) }
                .filter { !$0.isEmpty }
            if !list.isEmpty { extras = "[" + Set(list).sorted().joined(separator: ",") + "]" }
            rest = rest[rest.index(after: close)...].trimmingCharacters(in: .whitespaces)
        }
        var text: String
        if rest.hasPrefix("@") {
            let url = rest.dropFirst().trimmingCharacters(in: .whitespaces)
            text = "\(name)\(extras) @ \(url)"
        } else {
            var spec = rest.filter { !$0.isWhitespace }
            if spec.hasPrefix("(") && spec.hasSuffix(")") { spec = String(spec.dropFirst().dropLast()) }
            let specifiers = spec.split(separator: ",").map(String.init).sorted()
            text = name + extras + specifiers.joined(separator: ",")
        }
        text = withMarker(text)
        return .init(text: text, installText: text, source: source, lineNumber: lineNumber, projectName: name)
    }

    private func resolve(_ path: String, against baseDirectory: String) -> String {
        if Self.isURL(path) { return path }
        var path = path
        if path.hasPrefix("file:") { path = String(path.dropFirst(5)) }
        if path.hasPrefix("~") { path = (path as NSString).expandingTildeInPath }
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
        // pip reads -r and -f relative to the including file; MLflow runs pip from the model directory.
        let first = URL(fileURLWithPath: baseDirectory + "/" + path).standardizedFileURL.path
        if FileManager.default.fileExists(atPath: first) { return first }
        return URL(fileURLWithPath: modelDirectory + "/" + path).standardizedFileURL.path
    }

    // MARK: Lexical helpers

    /// pip's comment rule: `#` at the start of a line or after whitespace.
    static func stripComment(_ line: String) -> String {
        var previous: Character = " "
        for index in line.indices {
            let c = line[index]
            if c == "#" && previous.isWhitespace { return String(line[..<index]) }
            previous = c
        }
        return line
    }

    static func collapse(_ text: String) -> String {
        text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// "-r file", "-rfile", "--requirement=file", "--requirement file" → (option, value).
    static func splitOption(_ entry: String) -> (String, String) {
        if entry.hasPrefix("--") {
            let end = entry.firstIndex { $0 == "=" || $0 == " " } ?? entry.endIndex
            let value = end == entry.endIndex ? "" : entry[entry.index(after: end)...].trimmingCharacters(in: .whitespaces)
            return (String(entry[..<end]), value)
        }
        let option = String(entry.prefix(2))
        return (option, entry.dropFirst(2).trimmingCharacters(in: .whitespaces))
    }

    /// "name @ url" and "name[extras] @ url" (PEP 508 direct references).
    static func isNameAtURL(_ value: String) -> Bool {
        guard let at = value.firstIndex(of: "@") else { return false }
        var head = value[..<at].trimmingCharacters(in: .whitespaces)
        if head.hasSuffix("]"), let open = head.firstIndex(of: "[") { head = String(head[..<open]) }
        return !head.isEmpty && head.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
    }

    static func isURL(_ value: String) -> Bool {
        value.contains("://") && !value.hasPrefix("file:")
            || ["git+", "hg+", "svn+", "bzr+"].contains { value.hasPrefix($0) }
    }

    static func isLocalPath(_ value: String) -> Bool {
        if isURL(value) { return false }
        if value.hasPrefix("file:") || value.hasPrefix(".") || value.hasPrefix("/") || value.hasPrefix("~") { return true }
        let path = value.split(separator: "#").first.map(String.init) ?? value
        if path.contains("/") { return true }
        return [".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar"].contains { path.hasSuffix($0) }
    }

    static func eggName(_ value: String) -> String? {
        guard let range = value.range(of: "#egg=") else { return nil }
        let name = value[range.upperBound...].prefix { $0 != "&" && $0 != " " }
        return name.isEmpty ? nil : ModelEnvironmentBuilder.normaliseName(String(name))
    }

    /// `dist/foo_bar-1.0-py3-none-any.whl` → foo-bar; `foo-1.0.tar.gz` → foo.
    static func archiveName(_ value: String) -> String? {
        let file = (value.split(separator: "#").first.map(String.init) ?? value).split(separator: "/").last.map(String.init) ?? ""
        if file.hasSuffix(".whl") {
            return file.split(separator: "-").first.map { ModelEnvironmentBuilder.normaliseName(String($0)) }
        }
        for suffix in [".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar"] where file.hasSuffix(suffix) {
            let stem = file.dropLast(suffix.count)
            guard let dash = stem.lastIndex(of: "-") else { return nil }
            return ModelEnvironmentBuilder.normaliseName(String(stem[..<dash]))
        }
        return nil
    }

    static func fileDigest(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let data = FileManager.default.contents(atPath: path) else { return nil }
        return SHA256.hex([UInt8](data))
    }
}
