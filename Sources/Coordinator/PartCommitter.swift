#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Parquet
import Wire

/// Commits the part files workers wrote themselves (`--workers-read`), on its own thread, in
/// partition order: each is checked (there, of the size the worker reported, its footer
/// holding the partition's rows), renamed from its attempt's name to the partition's and
/// committed through the job's output, as `OutputWriter` commits what it writes. A part from an
/// attempt that was not accepted is never given here; it stays in the temporary area, which
/// the output removes when the job ends.
final class PartCommitter: @unchecked Sendable {
    enum Output: Sendable {
        /// A partition is committed (or its failure recorded under `_failed/`).
        case committed(partition: Int, seconds: Double)
        /// Everything submitted is committed.
        case finished
        case failed(String)
    }

    enum Item: Sendable {
        /// A part file a worker wrote for `entry`'s partition, at `path`, of `bytes` bytes.
        case written(entry: JobManifest.Entry, path: String, bytes: Int)
        /// A part a worker uploaded to the output's object store, its upload left open (`entry.upload`).
        case uploaded(entry: JobManifest.Entry)
        /// A quarantined partition's description.
        case failed(partition: Int, name: String, contents: Data)
        case finish
    }

    private let output: any JobOutput
    private let queue = BlockingQueue<Item?>()
    private let deliver: @Sendable (Output) -> Void
    private let exited = DispatchSemaphore(value: 0)

    init(output: any JobOutput, deliver: @escaping @Sendable (Output) -> Void) {
        self.output = output
        self.deliver = deliver
    }

    func start() {
        let thread = Thread { [self] in
            run()
            exited.signal()
        }
        thread.name = "part-commit"
        thread.start()
    }

    func submit(_ item: Item) { queue.push(item) }

    /// Stops after what is queued and waits, so that nothing is committed after the job is wound down.
    func stop() {
        queue.push(nil)
        exited.wait()
    }

    private func run() {
        while let next = queue.pop(), let item = next {
            let started = Date()
            do throws(JobError) {
                switch item {
                case .written(let entry, let path, let bytes):
                    try check(path, bytes: bytes, rows: entry.rows, partition: entry.partition)
                    let target = output.temporaryPath(for: entry.file)
                    if path != target {
                        guard rename(path, target) == 0 else {
                            throw JobError("cannot move \(path) to \(target): \(String(cString: strerror(errno)))", resumable: true)
                        }
                    }
                    var sized = entry
                    sized.bytes = bytes
                    try output.commit(sized)
                    deliver(.committed(partition: entry.partition, seconds: Date().timeIntervalSince(started)))
                case .uploaded(let entry):
                    guard let store = output as? S3OutputCommitter else {
                        throw JobError("partition \(entry.partition) was uploaded, but the output \(output.directory) is not in object storage")
                    }
                    try store.record(uploaded: entry)
                    deliver(.committed(partition: entry.partition, seconds: Date().timeIntervalSince(started)))
                case .failed(let partition, let name, let contents):
                    try output.recordFailure(named: name, contents: contents)
                    deliver(.committed(partition: partition, seconds: Date().timeIntervalSince(started)))
                case .finish:
                    deliver(.finished)
                    return
                }
            } catch {
                deliver(.failed(error.message))
                return
            }
        }
    }

    /// The worker's part file as it reported it: present here, of its size, with the partition's rows.
    private func check(_ path: String, bytes: Int, rows: Int, partition: Int) throws(JobError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw JobError("partition \(partition): the worker wrote \(path), which the coordinator cannot see (\(String(cString: strerror(errno)))): with --workers-read the output must be a directory every worker and the coordinator see at the same path (a shared file system); run without --workers-read otherwise")
        }
        guard Int(status.st_size) == bytes else {
            throw JobError("partition \(partition): \(path) has \(status.st_size) bytes here, the worker wrote \(bytes): the shared file system does not show the worker's file whole")
        }
        let found: Int
        do { found = try ParquetFileReader(path: path).rowCount } catch {
            throw JobError("partition \(partition): the part file a worker wrote, \(path), cannot be read: \(error)")
        }
        guard found == rows else { throw JobError("partition \(partition): \(path) holds \(found) rows, the partition has \(rows)") }
    }
}
