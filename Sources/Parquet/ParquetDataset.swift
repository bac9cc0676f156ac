import Foundation
import Columnar

/// A Parquet dataset: one file, or a directory of part files as Spark, pyarrow and DuckDB write them.
///
/// Files are taken in sorted order of their paths; names starting with `_` or `.` (`_SUCCESS`,
/// `_metadata`, `.crc` files, `_temporary/`) are skipped. Directories named `key=value` are
/// Hive-style partition directories (Spark's `partitionBy`): read recursively, their keys become
/// columns (`partitioning`); other subdirectories are skipped. Every footer is read up front, so
/// that a malformed file or a schema mismatch stops a job before any work.
public struct ParquetDataset: Sendable {
    /// The path the user gave.
    public let path: String
    /// The files, in order.
    public let files: [ParquetFileReader]
    /// The partition directories the files lie in, if any: columns of the dataset.
    public let partitioning: HivePartitioning?

    /// Opens every part file of the dataset at `path`; with `verifyChecksums`, pages that carry a
    /// CRC are checked when they are decoded. With `filter` (`--input-filter`), only the
    /// partition directories it accepts are opened.
    public init(path: String, verifyChecksums: Bool = false, filter: String? = nil) throws(DatasetError) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DatasetError("input '\(url.path)' does not exist")
        }
        var relative: [String] = []
        if isDirectory.boolValue {
            try Self.walk(url.path, below: "", into: &relative)
            guard !relative.isEmpty else {
                throw DatasetError("input directory '\(url.path)' holds no data files (names starting with _ or . are skipped)")
            }
        } else {
            relative = [url.lastPathComponent]
        }
        let root = isDirectory.boolValue ? url.path : url.deletingLastPathComponent().path
        let (kept, partitioning) = try Self.select(relativePaths: relative, root: root, filter: filter)
        var readers: [ParquetFileReader] = []
        for i in kept {
            let file = root + "/" + relative[i]
            do { readers.append(try ParquetFileReader(path: file, verifyChecksums: verifyChecksums)) } catch let error as ParquetError {
                throw DatasetError("\(error)", file: file)
            } catch {
                throw DatasetError("cannot read \(file): \(error)", file: file)
            }
        }
        self.path = url.path
        self.files = readers
        self.partitioning = partitioning
    }

    /// The data files below `directory` (paths relative to the dataset's root, sorted): files not
    /// starting with `_` or `.`, and those of `key=value` subdirectories.
    private static func walk(_ directory: String, below prefix: String, into paths: inout [String]) throws(DatasetError) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw DatasetError("cannot list input directory '\(directory)': \(error.localizedDescription)")
        }
        for name in names.sorted() where !name.hasPrefix("_") && !name.hasPrefix(".") {
            let full = directory + "/" + name
            var sub: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &sub) else { continue }
            if !sub.boolValue {
                paths.append(prefix + name)
            } else if HivePartitioning.split(name) != nil {
                try walk(full, below: prefix + name + "/", into: &paths)
            }
        }
    }

    /// The files to open among `relativePaths` (indices, in order) and their partitioning, after
    /// `filter`; shared by local and remote datasets.
    /// - Throws: `DatasetError` for inconsistent partition directories, a filter that cannot be
    ///   parsed or applied, or one that leaves nothing.
    public static func select(relativePaths: [String], root: String, filter: String?) throws(DatasetError) -> (kept: [Int], partitioning: HivePartitioning?) {
        let partitioning = try HivePartitioning(relativePaths: relativePaths, root: root)
        guard let filter else { return (Array(relativePaths.indices), partitioning) }
        guard let partitioning else {
            throw DatasetError("--input-filter chooses partition directories (key=value), and \(root) has none")
        }
        let condition = try PartitionFilter.parse(filter, keys: partitioning.keys)
        let kept = relativePaths.indices.filter { condition.matches(partitioning.values[$0]) }
        guard !kept.isEmpty else {
            let directories = Set(partitioning.directories).count
            throw DatasetError("none of the \(directories) partition directories of \(root) passes --input-filter \"\(filter)\"")
        }
        return (kept, partitioning.selecting(kept))
    }

    /// A dataset of files already opened (from object storage, say), named `path`.
    public init(path: String, files: [ParquetFileReader], partitioning: HivePartitioning? = nil) {
        self.path = path
        self.files = files
        self.partitioning = partitioning
    }

    /// Total rows over all files.
    public var rowCount: Int { files.reduce(0) { $0 + $1.rowCount } }

    /// The columns of the first file, in schema order, then the partition columns.
    public var columnNames: [String] { (files.first?.columns.map(\.name) ?? []) + partitionColumnNames }

    /// The partition directories' keys, in directory order.
    public var partitionColumnNames: [String] { partitioning?.keys.map(\.name) ?? [] }

    /// The names of every file's columns, in order of first appearance (the first file's, then
    /// those only later files add): the dataset's columns under `--merge-schema`.
    public var mergedColumnNames: [String] {
        var names: [String] = []
        var seen: Set<String> = []
        for file in files {
            for column in file.columns where seen.insert(column.name).inserted { names.append(column.name) }
        }
        return names + partitionColumnNames.filter { !seen.contains($0) }
    }

    /// Resolves `names` to a schema every file shares, and to each file's column indices.
    ///
    /// Fails, naming the file and column, when a column is missing from a file, has a type
    /// score-cluster cannot read, or differs in type between files. A column is nullable in
    /// the result when it is nullable in any file.
    ///
    /// With `mergeSchema` (Spark's `mergeSchema`), a column missing from some files is null there
    /// (its index -1 for those files; it must be in at least one) and types widen as Spark's
    /// merge widens them (`DataType.merged(with:)`: int32 to int64, float to double); other
    /// differences still fail.
    public func resolve(columns names: [String], mergeSchema: Bool = false) throws(DatasetError) -> (schema: Schema, indices: [[Int]]) {
        var fields: [Field] = []
        var indices: [[Int]] = Array(repeating: [], count: files.count)
        for name in names {
            // A partition directory's key: the same value for every row of a file (index -2 - key).
            if let k = partitioning?.keys.firstIndex(where: { $0.name == name }) {
                if let file = files.first(where: { $0.columns.contains { $0.name == name } }) {
                    throw DatasetError("column '\(name)' is both in \(file.path) and a partition directory key (\(name)=...); rename one of them",
                                       file: file.path, column: name)
                }
                let key = partitioning!.keys[k]
                for f in files.indices { indices[f].append(-2 - k) }
                fields.append(Field(name: name, type: key.type, nullable: key.nullable))
                continue
            }
            var field: Field?
            var typedIn = ""
            var missing = false
            for (f, file) in files.enumerated() {
                guard let index = file.columns.firstIndex(where: { $0.name == name }) else {
                    if mergeSchema {
                        missing = true
                        indices[f].append(-1)
                        continue
                    }
                    let available = file.columns.map(\.name).joined(separator: ", ")
                    let elsewhere = files.contains { $0.columns.contains { $0.name == name } }
                    throw DatasetError("column '\(name)' is not in \(file.path) (it has: \(available))"
                                       + (elsewhere ? "; pass --merge-schema to read it as null in the files that lack it" : ""),
                                       file: file.path, column: name)
                }
                let descriptor = file.columns[index]
                guard let type = descriptor.dataType else {
                    let why = descriptor.unsupportedReason ?? "its type is not supported"
                    throw DatasetError("column '\(name)' of \(file.path) cannot be read: \(why); leave it out with --keep-columns or --columns",
                                       file: file.path, column: name)
                }
                if let existing = field {
                    if existing.type != type {
                        guard mergeSchema else {
                            let widens = existing.type.merged(with: type) != nil
                            throw DatasetError("""
                                column '\(name)' is \(type) (\(descriptor.physicalType)) in \(file.path) but \(existing.type) \
                                in \(typedIn); all files of a dataset must share the selected columns' types\
                                \(widens ? " (pass --merge-schema to widen them as Spark's mergeSchema does)" : "")
                                """, file: file.path, column: name)
                        }
                        guard let merged = existing.type.merged(with: type) else {
                            throw DatasetError("""
                                column '\(name)' is \(type) in \(file.path) but \(existing.type) in \(typedIn): --merge-schema widens \
                                integers to the wider integer and floats to double, and these types do not merge
                                """, file: file.path, column: name)
                        }
                        field!.type = merged
                    }
                    field!.nullable = field!.nullable || descriptor.nullable
                } else {
                    field = Field(name: name, type: type, nullable: descriptor.nullable)
                    typedIn = file.path
                }
                indices[f].append(index)
            }
            guard var resolved = field else {
                throw DatasetError("column '\(name)' is in none of the dataset's \(files.count) files", column: name)
            }
            if missing { resolved.nullable = true }
            fields.append(resolved)
        }
        return (Schema(fields), indices)
    }
}

/// A dataset that cannot be used, with a message naming the file and column.
public struct DatasetError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var file: String?
    public var column: String?

    public init(_ message: String, file: String? = nil, column: String? = nil) {
        self.message = message
        self.file = file
        self.column = column
    }

    public var description: String { message }
}
