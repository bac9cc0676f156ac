#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Parquet

/// A Parquet dataset in object storage: `s3://bucket/prefix` (the objects directly below it,
/// as a local directory's files), one object, or a glob (`s3://bucket/events/*.parquet`,
/// `*` and `?` not crossing `/`).
///
/// As for local datasets, objects are taken in key order, names starting with `_` or `.` are
/// skipped, and every footer is read before any work (several at once: one request each
/// when the footer fits in the object's last 64 KiB).
public enum S3Dataset {
    /// Objects whose footers are read at once.
    static let footerConcurrency = 16

    /// Lists and opens the dataset at `uri`.
    /// - Throws: `DatasetError` naming the URI or object: nothing there, an unreadable or
    ///   malformed object, or the store's refusal.
    public static func open(_ uri: String, client: S3Client, cache: S3RangeCache, verifyChecksums: Bool,
                            filter: String? = nil) throws(DatasetError) -> ParquetDataset {
        let location: S3Location
        do { location = try S3Location(uri: uri) } catch { throw DatasetError(error.message) }
        let found: [S3Client.Object]
        do { found = try find(location, client: client) } catch { throw DatasetError(error.message) }
        // Partition directories and --input-filter, before any footer is fetched, over the paths
        // below what every object shares: the prefix, the glob's fixed directory, or one object's.
        let base = root(of: location, found: found)
        let relative = found.map { String($0.key.dropFirst(base.count)) }
        let (kept, partitioning) = try ParquetDataset.select(relativePaths: relative, root: "s3://\(location.bucket)/\(base.hasSuffix("/") ? String(base.dropLast()) : base)",
                                                           filter: filter)
        let objects = kept.map { found[$0] }

        let opened: [Result<ParquetFileReader, any Error>] = concurrentMap(objects.count, width: footerConcurrency) { i in
            let object = S3ParquetObject(location: S3Location(bucket: location.bucket, key: objects[i].key), size: objects[i].size,
                                         client: client, cache: cache)
            return Result { try ParquetFileReader(source: object, verifyChecksums: verifyChecksums) }
        }
        let failures = opened.map { result -> String? in if case .failure(let error) = result { return "\(error)" } else { return nil } }
        if let i = failures.firstIndex(where: { $0 != nil }) {
            let name = S3Location(bucket: location.bucket, key: objects[i].key).description
            throw DatasetError(failures[i]!, file: name)
        }
        return ParquetDataset(path: location.description, files: opened.compactMap { try? $0.get() }, partitioning: partitioning)
    }

    /// The "directory" every found object lies below, ending in `/` (or empty).
    static func root(of location: S3Location, found: [S3Client.Object]) -> String {
        func directory(_ key: Substring) -> String {
            String(key[..<(key.lastIndex(of: "/").map { key.index(after: $0) } ?? key.startIndex)])
        }
        if location.hasGlob { return directory(location.key.prefix { $0 != "*" && $0 != "?" && $0 != "[" }) }
        if found.count == 1 && found[0].key == location.key { return directory(Substring(location.key)) }
        return location.directoryPrefix
    }

    /// The data objects `location` names, in key order.
    static func find(_ location: S3Location, client: S3Client) throws(S3Error) -> [S3Client.Object] {
        func isData(_ key: String, below prefix: String) -> Bool {
            let name = key.dropFirst(prefix.count)
            return !name.isEmpty && !name.hasPrefix("_") && !name.hasPrefix(".") && !name.contains("/")
        }
        if location.hasGlob {
            let matched = try client.list(bucket: location.bucket, prefix: root(of: location, found: [])).objects.filter { object in
                let name = object.key.split(separator: "/").last.map(String.init) ?? ""
                return !name.hasPrefix("_") && !name.hasPrefix(".") && fnmatch(location.key, object.key, FNM_PATHNAME) == 0
            }
            guard !matched.isEmpty else { throw S3Error("no object matches \(location)") }
            return matched.sorted { $0.key < $1.key }
        }
        if !location.key.isEmpty && !location.key.hasSuffix("/"), let size = try client.size(bucket: location.bucket, key: location.key) {
            return [S3Client.Object(key: location.key, size: size, etag: "")]
        }
        // Recursively: objects directly below the prefix, and those below key=value "directories"
        // (names starting with _ or . skipped at every level, other directories left out).
        let prefix = location.directoryPrefix
        let listing = try client.list(bucket: location.bucket, prefix: prefix)
        let objects = listing.objects.filter { object in
            let parts = object.key.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
            guard let name = parts.last, !name.isEmpty, !name.hasPrefix("_"), !name.hasPrefix(".") else { return false }
            return parts.dropLast().allSatisfy { !$0.hasPrefix("_") && !$0.hasPrefix(".") && $0.contains("=") && !$0.hasPrefix("=") }
        }.sorted { a, b in
            // Level by level, as a directory walk sorts each directory's names (so that the order is
            // a local copy's: "k=a/x" before "k=a-b/x").
            a.key.split(separator: "/", omittingEmptySubsequences: false).lexicographicallyPrecedes(b.key.split(separator: "/", omittingEmptySubsequences: false))
        }
        guard !objects.isEmpty else {
            if listing.objects.isEmpty {
                throw S3Error("nothing is stored at \(location): no object and no object below it")
            }
            throw S3Error("\(location) holds no data objects (names starting with _ or . are skipped, and directories other than key=value partition directories)")
        }
        return objects
    }
}
