import Foundation
import ObjectStore
import Parquet

/// Opens the input files a worker is given (`--workers-read`): a local path, which must be the
/// same on every machine (a shared file system), or an object in a store, read with this
/// machine's AWS configuration. Files are kept open for the next partition of the same file.
public final class PartitionInputs {
    private let verifyChecksums: Bool
    private var open: [String: ParquetFileReader] = [:]
    private var store: S3Client?
    private let cache = S3RangeCache(budget: 128 << 20)

    public init(verifyChecksums: Bool) {
        self.verifyChecksums = verifyChecksums
    }

    /// What was fetched from object storage so far: bytes, requests (retries included), retries.
    public var fetched: (bytes: Int, requests: Int, retries: Int) {
        guard let done = store?.statistics else { return (0, 0, 0) }
        return (done.bytesReceived, done.requests, done.retries)
    }

    /// The file at `path` (of `bytes` bytes, as the coordinator saw it).
    public func file(_ path: String, bytes: Int) throws(PartitionScoringError) -> ParquetFileReader {
        if let reader = open[path] { return reader }
        let reader: ParquetFileReader
        if S3Location.isURI(path) {
            let location: S3Location
            do { location = try S3Location(uri: path) } catch { throw .input("\(path): \(error.message)") }
            let client = try client(for: path)
            do {
                reader = try ParquetFileReader(source: S3ParquetObject(location: location, size: bytes, client: client, cache: cache),
                                               verifyChecksums: verifyChecksums)
            } catch let error as S3Error where error.status == 404 || error.status == 403 {
                throw .inputUnreachable(path: path, message: error.message)
            } catch {
                throw .input("\(error)")
            }
        } else {
            var status = stat()
            guard stat(path, &status) == 0 else {
                throw .inputUnreachable(path: path, message: String(cString: strerror(errno)))
            }
            guard Int(status.st_size) == bytes else {
                throw .input("\(path) has \(status.st_size) bytes on this machine, but \(bytes) where the coordinator planned the job: it is another file, or it changed since")
            }
            do { reader = try ParquetFileReader(path: path, verifyChecksums: verifyChecksums) } catch {
                throw .input("\(error)")
            }
        }
        if open.count >= 64 { open.removeAll() }
        open[path] = reader
        return reader
    }

    /// The store's client (this machine's AWS configuration), made once.
    func client(for path: String) throws(PartitionScoringError) -> S3Client {
        if let store { return store }
        do {
            let environment = ProcessInfo.processInfo.environment
            let client = S3Client(configuration: try S3Configuration.fromEnvironment(environment, home: environment["HOME"]))
            store = client
            return client
        } catch {
            throw .inputUnreachable(path: path, message: "no object store configuration on this machine: \(error.message)")
        }
    }
}
