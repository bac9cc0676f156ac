/// Where a job may write and what `--overwrite` may remove: pure rules over resolved paths and
/// directory listings, so that they are tested without touching a file system.
///
/// The caller resolves symlinks (`realpath`) on both sides before asking, lists the directory
/// without following symlinks, and deletes exactly the entries a verdict names.
enum OutputLocationRules {
    /// One entry of a directory, as `lstat` sees it (a symlink is a symlink, never its target).
    struct Entry: Equatable, Sendable {
        enum Kind: Equatable, Sendable { case file, directory, symlink, other }
        var name: String
        var kind: Kind

        init(_ name: String, _ kind: Kind) {
            self.name = name
            self.kind = kind
        }
    }

    /// What `--overwrite` may do with an existing output directory.
    enum OverwriteVerdict: Equatable, Sendable {
        /// Remove these entries (never the lock, which the job holds while it clears).
        case clear([Entry])
        /// Not recognisably an output: the reason, for the user.
        case refuse(String)
    }

    /// Names score-cluster writes into an output directory.
    static let manifestName = "_manifest.jsonl"
    static let successName = "_SUCCESS"
    static let temporaryName = "_temporary"
    static let failedName = "_failed"
    static let lockName = "_lock"
    static let ownNames: Set<String> = [manifestName, successName, temporaryName, failedName, lockName]

    /// Why a job may never write to `output`, whatever the mode; nil when it may. Every path
    /// must be absolute and resolved (no symlinks, no `.` or `..`).
    static func refusal(output: String, input: String, home: String?) -> String? {
        if output == "/" {
            return "the output '/' is the file system root; choose an output directory of its own"
        }
        if let home, contains(output, home) {
            return output == home
                ? "the output '\(output)' is your home directory; choose an output directory of its own"
                : "the output '\(output)' contains your home directory; choose an output directory of its own"
        }
        if contains(output, input) || contains(input, output) {
            return "the output '\(output)' overlaps the input '\(input)' (compared with symlinks resolved); choose an output directory outside the input"
        }
        return nil
    }

    /// Whether `outer` is `inner` or one of its ancestors.
    static func contains(_ outer: String, _ inner: String) -> Bool {
        outer == inner || outer == "/" || inner.hasPrefix(outer + "/")
    }

    /// What `--overwrite` may remove from the existing directory `directory` holding `entries`.
    /// `hasOwnManifest` says whether its `_manifest.jsonl` is a score-cluster job manifest.
    ///
    /// A directory is cleared only when it is empty or recognisably an earlier output: its own
    /// manifest and nothing but what score-cluster writes, or (another writer's output, as Spark
    /// leaves it) `_SUCCESS` and nothing but part files, `_` entries and Hadoop's `.crc` files.
    static func overwrite(directory: String, entries: [Entry], hasOwnManifest: Bool) -> OverwriteVerdict {
        let removable = entries.filter { $0.name != lockName }
        if removable.isEmpty { return .clear([]) }
        let names = Set(entries.map(\.name))
        let foreign: [Entry]
        if hasOwnManifest {
            foreign = removable.filter { !isOwn($0) }
        } else if names.contains(successName) {
            foreign = removable.filter { !isOtherWritersOutput($0) }
        } else {
            return .refuse("the output '\(directory)' exists and does not look like a score-cluster output (it has no \(manifestName) or \(successName)): it holds \(sample(removable)). "
                + "--overwrite replaces only an earlier job's output; remove the directory by hand if it is meant to go, or choose another --output")
        }
        guard foreign.isEmpty else {
            return .refuse("the output '\(directory)' holds entries no scoring job wrote: \(sample(foreign)). "
                + "--overwrite replaces only an earlier job's output; move them away or remove the directory by hand, or choose another --output")
        }
        return .clear(removable)
    }

    /// An entry score-cluster writes: its part files and its `_` files and directories.
    static func isOwn(_ entry: Entry) -> Bool {
        switch entry.kind {
        case .file, .symlink: return isOwnPartFile(entry.name) || (ownNames.contains(entry.name) && entry.name != temporaryName && entry.name != failedName)
        // A `key=value` directory: the mirrored partition directories of an input's layout.
        case .directory: return entry.name == temporaryName || entry.name == failedName || isPartitionDirectory(entry.name)
        case .other: return false
        }
    }

    /// `date=2026-12-01`: a Hive-style partition directory name.
    static func isPartitionDirectory(_ name: String) -> Bool {
        guard let equals = name.firstIndex(of: "=") else { return false }
        return equals != name.startIndex && !name.hasPrefix("_") && !name.hasPrefix(".")
    }

    /// `part-00042.parquet`: five or more digits, as `JobPlan.outputFileName` names them.
    static func isOwnPartFile(_ name: String) -> Bool {
        guard name.hasPrefix("part-"), name.hasSuffix(".parquet") else { return false }
        let digits = name.dropFirst(5).dropLast(8)
        return digits.count >= 5 && digits.allSatisfy(\.isASCIIDigitCharacter)
    }

    /// What another writer's committed output holds: `part-*` files, `_` entries (`_SUCCESS`,
    /// `_committed_*`, `_temporary`), and the `.crc` checksum files Hadoop writes beside them.
    static func isOtherWritersOutput(_ entry: Entry) -> Bool {
        if entry.name.hasPrefix("_") { return entry.kind != .other }
        let isFile = entry.kind == .file || entry.kind == .symlink
        if entry.name.hasPrefix("part-") { return isFile }
        if entry.name.hasPrefix(".") && entry.name.hasSuffix(".crc") {
            let base = String(entry.name.dropFirst().dropLast(4))
            return isFile && (base.hasPrefix("part-") || base.hasPrefix("_"))
        }
        return false
    }

    /// A few entries for a message: `thesis.tex, notes/, .git/ and 12 more`.
    static func sample(_ entries: [Entry], limit: Int = 5) -> String {
        let sorted = entries.sorted { $0.name < $1.name }
        let shown = sorted.prefix(limit).map { $0.kind == .directory ? $0.name + "/" : $0.name }
        let rest = sorted.count - shown.count
        return shown.joined(separator: ", ") + (rest > 0 ? " and \(rest) more" : "")
    }
}

private extension Character {
    var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
