import Foundation
import ObjectStore
import Parquet

/// The job's `--input`, opened: a local file or directory, or a dataset in object storage
/// (`s3://bucket/prefix`, one object, or a glob) read through the S3 API with the AWS
/// tools' configuration (`S3Configuration`).
struct JobInput {
    var dataset: ParquetDataset
    /// The store's client when the input is remote (its counters go into the report).
    var store: S3Client?

    /// Bytes of object data fetched ahead and held at once, over all objects of the job.
    static let remoteCacheBudget = 256 << 20

    init(options: JobOptions) throws(JobError) {
        if S3Location.isURI(options.inputPath) {
            let configuration: S3Configuration
            do {
                configuration = try S3Configuration.fromEnvironment(ProcessInfo.processInfo.environment,
                                                                     home: ProcessInfo.processInfo.environment["HOME"])
            } catch {
                throw JobError("cannot read the input \(options.inputPath): \(error.message)")
            }
            let client = S3Client(configuration: configuration)
            do {
                dataset = try S3Dataset.open(options.inputPath, client: client, cache: S3RangeCache(budget: Self.remoteCacheBudget),
                                             verifyChecksums: options.verifyChecksums, filter: options.inputFilter)
            } catch {
                throw JobError(error.message)
            }
            store = client
        } else {
            do { dataset = try ParquetDataset(path: options.inputPath, verifyChecksums: options.verifyChecksums, filter: options.inputFilter) } catch {
                throw JobError(error.message)
            }
        }
    }

    /// The report's account of a remote input, from what `store` did so far.
    static func report(dataset: ParquetDataset, store: S3Client) -> JobReport.InputStorage {
        let done = store.statistics
        return JobReport.InputStorage(location: dataset.path, objects: dataset.files.count,
                                      bytes: dataset.files.reduce(0) { $0 + $1.byteCount },
                                      bytesFetched: done.bytesReceived, requests: done.requests, retries: done.retries)
    }
}
