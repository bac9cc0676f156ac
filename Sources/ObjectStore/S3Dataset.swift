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
    public static func open(_ uri: String, client: S3Client, cache: S3RangeCache, verifyChecksums: Bool) throws(DatasetError) -> ParquetDataset {
        let location: S3Location
        do { location = try S3Location(uri: uri) } catch { throw DatasetError(error.message) }
        let objects: [S3Client.Object]
        do { objects = try find(location, client: client) } catch { throw DatasetError(error.message) }

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
        return ParquetDataset(path: location.description, files: opened.compactMap { try? $0.get() })
    }

    /// The data objects `location` names, in key order.
    static func find(_ location: S3Location, client: S3Client) throws(S3Error) -> [S3Client.Object] {
        func isData(_ key: String, below prefix: String) -> Bool {
            let name = key.dropFirst(prefix.count)
            return !name.isEmpty && !name.hasPrefix("_") && !name.hasPrefix(".") && !name.contains("/")
        }
        if location.hasGlob {
            let fixed = String(location.key.prefix { $0 != "*" && $0 != "?" && $0 != "[" })
            let base = String(fixed[..<(fixed.lastIndex(of: "/").map { fixed.index(after: $0) } ?? fixed.startIndex)])
            let matched = try client.list(bucket: location.bucket, prefix: base).objects.filter { object in
                let name = object.key.split(separator: "/").last.map(String.init) ?? ""
                return !name.hasPrefix("_") && !name.hasPrefix(".") && fnmatch(location.key, object.key, FNM_PATHNAME) == 0
            }
            guard !matched.isEmpty else { throw S3Error("no object matches \(location)") }
            return matched.sorted { $0.key < $1.key }
        }
        if !location.key.isEmpty && !location.key.hasSuffix("/"), let size = try client.size(bucket: location.bucket, key: location.key) {
            return [S3Client.Object(key: location.key, size: size, etag: "")]
        }
        let prefix = location.directoryPrefix
        let listing = try client.list(bucket: location.bucket, prefix: prefix, delimiter: "/")
        let objects = listing.objects.filter { isData($0.key, below: prefix) }.sorted { $0.key < $1.key }
        guard !objects.isEmpty else {
            if listing.objects.isEmpty && listing.prefixes.isEmpty {
                throw S3Error("nothing is stored at \(location): no object and no object below it")
            }
            throw S3Error("\(location) holds no data objects directly below it (names starting with _ or . are skipped\(listing.prefixes.isEmpty ? "" : "; subdirectories such as s3://\(location.bucket)/\(listing.prefixes[0]) are not read"))")
        }
        return objects
    }
}
