import Columnar

/// What a worker needs, once per job, to read and write partitions itself (`--workers-read`):
/// the columns to decode, which of them the model takes and which the output keeps, and how
/// the output files are cut and compressed. Each partition then comes as a `PartitionTask`.
public struct WorkersReadSpec: Codable, Sendable, Equatable {
    /// The columns decoded from the input, model inputs first, then kept columns not among them,
    /// typed as the whole dataset types them (under `--merge-schema`, widened).
    public var decodeFields: [WireField]
    /// Positions in `decodeFields` of the model's inputs, in the model's order.
    public var modelColumns: [Int]
    /// Positions in `decodeFields` of the columns the output keeps, in the output's order.
    public var keptColumns: [Int]
    /// The Hive-style partition keys, typed as the dataset types them (empty: none). A decode
    /// field named like a key is made from the file's directory, not read.
    public var partitionKeys: [WireField]
    /// The prediction column's name.
    public var outputColumn: String
    public var batchSize: Int
    /// Rows decoded at once; the output's row groups follow from it (as the coordinator writes them).
    public var blockRows: Int
    /// The output codec (`ParquetCompression`'s raw value).
    public var compression: String
    /// Whether every page's checksum is checked when read.
    public var verifyChecksums: Bool
    /// The footer's `created_by`, so that both modes write identical files.
    public var createdBy: String

    public init(decodeFields: [WireField], modelColumns: [Int], keptColumns: [Int], partitionKeys: [WireField], outputColumn: String,
                batchSize: Int, blockRows: Int, compression: String, verifyChecksums: Bool, createdBy: String) {
        self.decodeFields = decodeFields
        self.modelColumns = modelColumns
        self.keptColumns = keptColumns
        self.partitionKeys = partitionKeys
        self.outputColumn = outputColumn
        self.batchSize = batchSize
        self.blockRows = blockRows
        self.compression = compression
        self.verifyChecksums = verifyChecksums
        self.createdBy = createdBy
    }
}

/// A flat column's name, type and nullability as JSON (input columns are never nested).
public struct WireField: Codable, Sendable, Equatable {
    public var name: String
    public var nullable: Bool
    /// `DataType.kind` and its four parameter bytes, as column batches carry them.
    public var kind: UInt8
    public var parameters: [UInt8]

    public init(_ field: Field) {
        name = field.name
        nullable = field.nullable
        kind = field.type.kind
        let p = field.type.parameters
        parameters = [p.0, p.1, p.2, p.3]
    }

    /// The field; nil when the kind names no flat type.
    public var field: Field? {
        guard parameters.count == 4,
              let type = DataType(kind: kind, parameters: (parameters[0], parameters[1], parameters[2], parameters[3])) else { return nil }
        return Field(name: name, type: type, nullable: nullable)
    }
}

/// coordinator → worker (`--workers-read`): read these rows, score them, write one part file.
public struct PartitionTask: Codable, Sendable, Equatable {
    /// Rows of one input file that belong to the partition.
    public struct Input: Codable, Sendable, Equatable {
        /// A local path (the same on every machine: a shared file system) or an `s3://` URI.
        public var path: String
        /// The file's size in bytes (an object in a store is read without asking for it).
        public var bytes: Int
        /// Rows of the file, `[first, end)`.
        public var rows: [Int]
        /// The file's Hive-style partition directory relative to the dataset (`date=2026-12-01`), or empty.
        public var directory: String

        public init(path: String, bytes: Int, rows: Range<Int>, directory: String) {
            self.path = path
            self.bytes = bytes
            self.rows = [rows.lowerBound, rows.upperBound]
            self.directory = directory
        }

        /// The rows as a range; empty when the message's pair is not one.
        public var rowRange: Range<Int> { rows.count == 2 && 0 <= rows[0] && rows[0] <= rows[1] ? rows[0]..<rows[1] : 0..<0 }
    }

    /// The partition's id (the part number of its output file).
    public var partition: Int
    /// Which attempt this is (1, 2, ...): part of the file name, so that a lost attempt that
    /// still finishes never overwrites the one that is committed.
    public var attempt: Int
    public var inputs: [Input]
    /// The id of the partition's first batch in the job's batch order (errors name batches so).
    public var firstBatch: UInt64
    /// Copy the kept columns' chunks from the input row groups (whole row groups, copyable
    /// chunks) instead of decoding and writing them again.
    public var copiesKeptColumns: Bool
    /// The job's temporary area in the output: it must exist where the worker runs (a shared
    /// file system), and the worker creates nothing above it.
    public var temporaryDirectory: String
    /// The part file's name within `temporaryDirectory` (`date=2026-12-01/part-00003.attempt-2.parquet`).
    public var outputName: String
    /// For an output in object storage: the object the part becomes. The worker writes the file
    /// on its own disk and uploads it as a multipart upload it leaves open; the coordinator
    /// records the upload and completes it at job commit. nil: a shared directory.
    public var upload: UploadTarget?
    /// The start of the part file, written by the coordinator while the workers started (its
    /// head start): the magic and the first row group's kept chunks, copied. nil: none.
    public var head: Head?

    /// A part file's start that the coordinator wrote ahead of the worker.
    public struct Head: Codable, Sendable, Equatable {
        /// The file's name within `temporaryDirectory`; the worker takes it by renaming it to its part file.
        public var name: String
        /// Its length: the bytes the worker's writer skips.
        public var bytes: Int
        public init(name: String, bytes: Int) {
            self.name = name
            self.bytes = bytes
        }
    }

    /// Where a part uploaded by the worker goes.
    public struct UploadTarget: Codable, Sendable, Equatable {
        public var bucket: String
        public var key: String
        public init(bucket: String, key: String) {
            self.bucket = bucket
            self.key = key
        }
    }

    public init(partition: Int, attempt: Int, inputs: [Input], firstBatch: UInt64, copiesKeptColumns: Bool,
                temporaryDirectory: String, outputName: String) {
        self.partition = partition
        self.attempt = attempt
        self.inputs = inputs
        self.firstBatch = firstBatch
        self.copiesKeptColumns = copiesKeptColumns
        self.temporaryDirectory = temporaryDirectory
        self.outputName = outputName
    }

    /// Where the part file is written (for an upload, on the worker's disk before it goes).
    public var outputPath: String { temporaryDirectory + "/" + outputName }

    public var rowCount: Int { inputs.reduce(0) { $0 + $1.rowRange.count } }
}

/// worker → coordinator (`--workers-read`): a partition's part file is written and synced.
public struct PartitionWritten: Codable, Sendable, Equatable {
    public var partition: Int
    public var attempt: Int
    /// The part file, as the task named it.
    public var path: String
    public var rows: Int
    public var bytes: Int
    /// Where the worker's time went: reading and decoding, the Python side, writing.
    public var readSeconds: Double
    public var predictSeconds: Double
    public var writeSeconds: Double
    /// Bytes the worker fetched from an object store for this partition (0 for local files).
    public var bytesRead: Int
    /// Requests it sent to the store, retries included; and retries alone.
    public var storeRequests: Int = 0
    public var storeRetries: Int = 0
    /// For an output in object storage: the open multipart upload that holds the part.
    public var upload: OpenUpload?
    /// Whether the part continues the head the task named (false: there was none, or the
    /// worker wrote the file from its start).
    public var continuedHead = false

    /// A multipart upload begun and not completed: its parts' ETags, in order.
    public struct OpenUpload: Codable, Sendable, Equatable {
        public var key: String
        public var uploadID: String
        public var partETags: [String]
        public var bytes: Int
        public init(key: String, uploadID: String, partETags: [String], bytes: Int) {
            self.key = key
            self.uploadID = uploadID
            self.partETags = partETags
            self.bytes = bytes
        }
    }

    public init(partition: Int, attempt: Int, path: String, rows: Int, bytes: Int, readSeconds: Double, predictSeconds: Double,
                writeSeconds: Double, bytesRead: Int, storeRequests: Int = 0, storeRetries: Int = 0) {
        self.partition = partition
        self.attempt = attempt
        self.path = path
        self.rows = rows
        self.bytes = bytes
        self.readSeconds = readSeconds
        self.predictSeconds = predictSeconds
        self.writeSeconds = writeSeconds
        self.bytesRead = bytesRead
        self.storeRequests = storeRequests
        self.storeRetries = storeRetries
    }
}
