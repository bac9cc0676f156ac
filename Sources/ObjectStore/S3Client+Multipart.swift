import Foundation
import HTTP

/// Multipart uploads: how a large object is written in parts that stay invisible until the
/// upload is completed (the basis of a job commit: every part file uploaded, none completed
/// until the job is).
extension S3Client {
    /// An upload begun and not completed: its object key, id, and the ETags of its parts in order.
    public struct PendingUpload: Codable, Sendable, Equatable {
        public var key: String
        public var uploadID: String
        public var partETags: [String]
        /// Bytes uploaded in all.
        public var bytes: Int

        public init(key: String, uploadID: String, partETags: [String], bytes: Int) {
            self.key = key
            self.uploadID = uploadID
            self.partETags = partETags
            self.bytes = bytes
        }
    }

    /// Bytes per part (S3 wants at least 5 MiB for every part but the last).
    public static let partBytes = 16 << 20
    /// Parts uploaded at once per file.
    static let partConcurrency = 4

    /// Uploads the local file `path` as object `key` in parts, without completing the upload.
    /// A failure aborts what was begun.
    public func uploadParts(bucket: String, key: String, file path: String) throws(S3Error) -> PendingUpload {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw S3Error("cannot open \(path) to upload it to s3://\(bucket)/\(key)") }
        defer { try? handle.close() }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let uploadID = try beginUpload(bucket: bucket, key: key)
        let parts = max(1, (size + Self.partBytes - 1) / Self.partBytes)
        let readLock = NSLock()
        let results: [Result<String, S3Error>] = concurrentMap(parts, width: Self.partConcurrency) { index in
            let offset = index * Self.partBytes
            let count = min(Self.partBytes, size - offset)
            let bytes: [UInt8]? = readLock.withLock {
                do {
                    try handle.seek(toOffset: UInt64(offset))
                    return try handle.read(upToCount: count).map { [UInt8]($0) } ?? []
                } catch { return nil }
            }
            guard let bytes, bytes.count == count else { return .failure(S3Error("cannot read \(path) to upload it to s3://\(bucket)/\(key)")) }
            return Result { () throws(S3Error) -> String in try uploadPart(bucket: bucket, key: key, uploadID: uploadID, number: index + 1, bytes: bytes) }
        }
        var etags: [String] = []
        for result in results {
            switch result {
            case .success(let etag): etags.append(etag)
            case .failure(let error):
                try? abortUpload(bucket: bucket, key: key, uploadID: uploadID)
                throw error
            }
        }
        return PendingUpload(key: key, uploadID: uploadID, partETags: etags, bytes: size)
    }

    /// Begins a multipart upload of `key`; returns its id.
    public func beginUpload(bucket: String, key: String) throws(S3Error) -> String {
        let what = "starting the upload of s3://\(bucket)/\(key)"
        let response = try perform("POST", bucket: bucket, key: key, query: [("uploads", "")], body: [], what: what, expectXML: true)
        guard response.status == 200, let id = S3XML.firstText(of: "UploadId", in: response.body) else {
            throw failure(response, what, bucket: bucket, key: key)
        }
        return id
    }

    func uploadPart(bucket: String, key: String, uploadID: String, number: Int, bytes: [UInt8]) throws(S3Error) -> String {
        let what = "uploading part \(number) of s3://\(bucket)/\(key)"
        let response = try perform("PUT", bucket: bucket, key: key, query: [("partNumber", "\(number)"), ("uploadId", uploadID)],
                                   body: bytes, what: what, timeout: 120 + Double(bytes.count) / 1_000_000)
        guard response.status == 200, let etag = response.header("etag") else { throw failure(response, what, bucket: bucket, key: key) }
        addSent(bytes.count)
        return etag
    }

    /// Completes `upload`: its object appears whole, at once.
    public func completeUpload(bucket: String, _ upload: PendingUpload) throws(S3Error) {
        let what = "completing the upload of s3://\(bucket)/\(upload.key)"
        var xml = "<CompleteMultipartUpload>"
        for (i, etag) in upload.partETags.enumerated() {
            xml += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(etag.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;"))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let response = try perform("POST", bucket: bucket, key: upload.key, query: [("uploadId", upload.uploadID)],
                                   headers: [("Content-Type", "application/xml")], body: Array(xml.utf8), what: what, expectXML: true)
        // S3 may answer 200 and put an error in the body.
        guard response.status == 200, S3ErrorBody.parse(response.body).code == nil else {
            throw failure(response, what, bucket: bucket, key: upload.key)
        }
    }

    /// Abandons an upload and frees its parts (an upload already gone is fine).
    public func abortUpload(bucket: String, key: String, uploadID: String) throws(S3Error) {
        let what = "aborting the upload of s3://\(bucket)/\(key)"
        let response = try perform("DELETE", bucket: bucket, key: key, query: [("uploadId", uploadID)], what: what)
        guard response.status == 204 || response.status == 200 || response.status == 404 else {
            throw failure(response, what, bucket: bucket, key: key)
        }
    }

    /// Whether `upload` is still open with the parts it recorded (for `--resume`).
    public func uploadIsIntact(bucket: String, _ upload: PendingUpload) throws(S3Error) -> Bool {
        let what = "listing the parts of the upload of s3://\(bucket)/\(upload.key)"
        let response = try perform("GET", bucket: bucket, key: upload.key, query: [("uploadId", upload.uploadID)], what: what, expectXML: true)
        if response.status == 404 { return false }
        guard response.status == 200 else { throw failure(response, what, bucket: bucket, key: upload.key) }
        return S3XML.texts(of: "ETag", in: response.body) == upload.partETags
    }

    /// The uploads begun and not completed below `prefix`: (key, upload id).
    public func openUploads(bucket: String, prefix: String) throws(S3Error) -> [(key: String, uploadID: String)] {
        let what = "listing the open uploads below s3://\(bucket)/\(prefix)"
        let response = try perform("GET", bucket: bucket, key: "", query: [("uploads", ""), ("prefix", prefix)], what: what, expectXML: true)
        guard response.status == 200 else { throw failure(response, what, bucket: bucket, key: prefix) }
        return zip(S3XML.texts(of: "Key", in: response.body), S3XML.texts(of: "UploadId", in: response.body)).map { ($0, $1) }
    }

    /// The bytes of object `key` (small objects: manifests), or nil if there is none.
    public func get(bucket: String, key: String) throws(S3Error) -> [UInt8]? {
        let what = "reading s3://\(bucket)/\(key)"
        let response = try perform("GET", bucket: bucket, key: key, what: what)
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw failure(response, what, bucket: bucket, key: key) }
        return response.body
    }
}
