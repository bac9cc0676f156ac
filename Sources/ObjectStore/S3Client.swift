import Foundation
import HTTP

/// A client of the S3 API (AWS S3 and the stores that speak it: MinIO, Cloudflare R2, GCS's
/// interoperability API, moto): list, ranged reads, and the calls of a multipart upload.
///
/// Every request is signed (`SigV4Signer`), and retried with exponential backoff and full
/// jitter (`RetryPolicy`) when the store answers 5xx or 429 (`SlowDown`), or the connection
/// is refused, reset or stalls; after the last attempt the error names the operation, the
/// object (and byte range) and the last answer. Connections are kept per session and
/// sessions pooled, so concurrent calls each reuse a connection. Thread-safe.
public final class S3Client: @unchecked Sendable {
    public let configuration: S3Configuration
    public let retry: RetryPolicy
    private let signer: SigV4Signer
    private let lock = NSLock()
    private var idleSessions: [HTTPSession] = []
    private var counters = Statistics()

    /// What a client has done, for reports and the bench.
    public struct Statistics: Sendable, Codable, Equatable {
        /// Requests sent, retries included.
        public var requests = 0
        /// Requests sent again after a transient failure.
        public var retries = 0
        /// Body bytes received by successful reads.
        public var bytesReceived = 0
        /// Body bytes sent by successful uploads.
        public var bytesSent = 0

        public init() {}
    }

    public init(configuration: S3Configuration, retry: RetryPolicy = RetryPolicy(attempts: 6, baseDelay: 0.2, maxDelay: 5)) {
        self.configuration = configuration
        self.retry = retry
        self.signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
    }

    public var statistics: Statistics { lock.withLock { counters } }

    func addSent(_ bytes: Int) { lock.withLock { counters.bytesSent += bytes } }

    // MARK: Operations

    /// An object found by `list`.
    public struct Object: Sendable, Equatable {
        public var key: String
        public var size: Int
        public var etag: String
    }

    /// The objects whose keys start with `prefix`, in key order (ListObjectsV2, page by page).
    /// With `delimiter` `/`, keys below a further `/` are left out and their common prefixes
    /// returned instead.
    public func list(bucket: String, prefix: String, delimiter: String? = nil) throws(S3Error) -> (objects: [Object], prefixes: [String]) {
        var objects: [Object] = []
        var prefixes: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let delimiter { query.append(("delimiter", delimiter)) }
            if let token { query.append(("continuation-token", token)) }
            let what = "listing s3://\(bucket)/\(prefix)"
            let response = try perform("GET", bucket: bucket, key: "", query: query, what: what, expectXML: true)
            guard response.status == 200 else { throw failure(response, what, bucket: bucket, key: prefix) }
            let page = S3ListingParser.parse(response.body)
            guard page.valid else { throw S3Error("\(what): the store's answer is not a ListObjectsV2 result: \(response.text.prefix(300))") }
            objects += page.objects
            prefixes += page.prefixes
            token = page.truncated ? page.nextToken : nil
            if page.truncated && token == nil { throw S3Error("\(what): the store said the listing goes on but gave no continuation token") }
        } while token != nil
        return (objects, prefixes)
    }

    /// The size of object `key`, or nil if there is none (HEAD).
    public func size(bucket: String, key: String) throws(S3Error) -> Int? {
        let what = "reading the size of s3://\(bucket)/\(key)"
        let response = try perform("HEAD", bucket: bucket, key: key, what: what)
        if response.status == 404 { return nil }
        guard response.status == 200, let length = response.header("content-length").flatMap(Int.init) else {
            throw failure(response, what, bucket: bucket, key: key)
        }
        return length
    }

    /// Bytes `range` of object `key` into `buffer` (whose size is `range.count`).
    /// - Throws: `S3Error` naming the object and range, when it is missing, shorter than the
    ///   range, or every attempt failed.
    public func read(bucket: String, key: String, range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws(S3Error) {
        precondition(buffer.count == range.count)
        if range.isEmpty { return }
        let what = "reading bytes \(range.lowerBound)-\(range.upperBound - 1) of s3://\(bucket)/\(key)"
        var attempt = 0
        while true {
            attempt += 1
            let response = try perform("GET", bucket: bucket, key: key, headers: [("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")],
                                       what: what, maxBody: max(range.count + 1, 64 << 10), timeout: 60 + Double(range.count) / 1_000_000)
            guard response.status == 206 || response.status == 200 else { throw failure(response, what, bucket: bucket, key: key) }
            // A 200 carries the whole object: the range is then a slice of it.
            let skip = response.status == 200 ? range.lowerBound : 0
            if response.body.count >= skip + range.count {
                response.body.withUnsafeBytes { body in
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: body[skip..<(skip + range.count)]))
                }
                lock.withLock { counters.bytesReceived += range.count }
                return
            }
            // Fewer bytes than asked: the object changed or shrank, or the answer was cut.
            guard attempt < retry.attempts else {
                throw S3Error("\(what): the store sent \(response.body.count - skip) bytes \(retry.attempts) times; the object is shorter than the dataset's listing said (was it replaced while the job ran?)")
            }
            lock.withLock { counters.retries += 1 }
            retry.pause(beforeRetry: attempt)
        }
    }

    /// Uploads `body` as object `key` (PUT), for small objects (markers, manifests).
    public func put(bucket: String, key: String, body: [UInt8], contentType: String = "application/octet-stream") throws(S3Error) {
        let what = "writing s3://\(bucket)/\(key)"
        let response = try perform("PUT", bucket: bucket, key: key, headers: [("Content-Type", contentType)], body: body, what: what)
        guard response.status == 200 else { throw failure(response, what, bucket: bucket, key: key) }
        lock.withLock { counters.bytesSent += body.count }
    }

    /// Deletes object `key` (absent is fine).
    public func delete(bucket: String, key: String) throws(S3Error) {
        let what = "deleting s3://\(bucket)/\(key)"
        let response = try perform("DELETE", bucket: bucket, key: key, what: what)
        guard response.status == 204 || response.status == 200 || response.status == 404 else { throw failure(response, what, bucket: bucket, key: key) }
    }

    // MARK: Requests

    /// Sends a signed request, retrying transient failures; returns the last answer (which the
    /// caller checks), or throws when no answer came or every answer was a transient error.
    func perform(_ method: String, bucket: String, key: String, query: [(String, String)] = [], headers: [(String, String)] = [],
                 body: [UInt8]? = nil, what: String, maxBody: Int = 64 << 20, timeout: Double = 120,
                 expectXML: Bool = false) throws(S3Error) -> HTTPResponse {
        let session: HTTPSession
        do { session = try takeSession() } catch { throw S3Error("\(what): \(error.message)") }
        defer { returnSession(session) }
        var attempt = 0
        while true {
            attempt += 1
            let request = signedRequest(method, bucket: bucket, key: key, query: query, headers: headers, body: body)
            lock.withLock { counters.requests += 1 }
            do {
                let response = try session.send(request, maxBodyBytes: maxBody, timeout: timeout)
                // An XML answer cut short (a connection closed mid-body, without a length to
                // tell libcurl) is a failure to retry, not an answer.
                let cut = expectXML && response.status == 200 && !S3XML.isWellFormed(response.body)
                let transient = response.status >= 500 || response.status == 429 || cut
                if !transient { return response }
                let code = S3ErrorBody.parse(response.body).code
                let reason = cut ? "the store's answer was cut short" : "the store answered \(response.status)\(code.map { " \($0)" } ?? "")"
                if attempt >= retry.attempts {
                    throw S3Error("\(what) failed \(attempt) times; the last time \(reason)", isTransient: true, status: response.status, code: code)
                }
            } catch let error as HTTPError {
                guard error.isTransient, attempt < retry.attempts else {
                    throw S3Error("\(what) failed\(attempt > 1 ? " \(attempt) times; the last time" : ":") \(error.message)\(error.kind == .cannotConnect ? " (is \(configuration.endpoint) the store? set AWS_ENDPOINT_URL for another)" : "")",
                                  isTransient: error.isTransient)
                }
            } catch let error as S3Error {
                throw error
            } catch {
                throw S3Error("\(what): \(error)")
            }
            lock.withLock { counters.retries += 1 }
            retry.pause(beforeRetry: attempt)
        }
    }

    func signedRequest(_ method: String, bucket: String, key: String, query: [(String, String)], headers: [(String, String)],
                       body: [UInt8]?) -> HTTPRequest {
        let endpoint = configuration.endpoint
        let schemeEnd = endpoint.range(of: "://")!.upperBound
        let scheme = String(endpoint[..<schemeEnd])
        var authority = String(endpoint[schemeEnd...])
        var basePath = ""
        if let slash = authority.firstIndex(of: "/") {
            basePath = String(authority[slash...])
            authority = String(authority[..<slash])
        }
        let path: String
        if configuration.usesPathStyle(for: bucket) {
            path = SigV4Signer.encodePath("\(basePath)/\(bucket)/\(key)")
        } else {
            authority = "\(bucket).\(authority)"
            path = SigV4Signer.encodePath("\(basePath)/\(key)")
        }
        let date = SigV4Signer.amzDate(Int(Date().timeIntervalSince1970))
        var signedHeaders = headers
        signedHeaders.removeAll { $0.0.lowercased() == "content-type" }
        let auth = signer.sign(method: method, host: authority, path: path, query: query, headers: signedHeaders, date: date)
        // Sent as signed, except that a parameter without a value has no '=' (`?uploads`), as AWS's SDKs send it.
        let queryText = SigV4Signer.canonicalQuery(query).split(separator: "&").map { $0.hasSuffix("=") ? String($0.dropLast()) : String($0) }
            .joined(separator: "&")
        let url = "\(scheme)\(authority)\(path)\(queryText.isEmpty ? "" : "?" + queryText)"
        return HTTPRequest(HTTPRequest.Method(rawValue: method)!, url, headers: (headers + auth).map { (name: $0.0, value: $0.1) }, body: body)
    }

    func failure(_ response: HTTPResponse, _ what: String, bucket: String, key: String) -> S3Error {
        let body = S3ErrorBody.parse(response.body)
        let detail = [body.code, body.message].compactMap { $0 }.joined(separator: ": ")
        var advice = ""
        switch (response.status, body.code) {
        case (_, "NoSuchBucket"?): advice = "; the bucket '\(bucket)' does not exist at \(configuration.endpoint)"
        case (_, "NoSuchKey"?), (404, nil): advice = "; no such object"
        case (403, _), (_, "InvalidAccessKeyId"?), (_, "SignatureDoesNotMatch"?):
            advice = "; check the credentials (\(configuration.credentials)) and that they may access s3://\(bucket)/\(key)"
        case (301, _), (_, "PermanentRedirect"?), (_, "AuthorizationHeaderMalformed"?):
            advice = "; the bucket is in another region than \(configuration.region): set AWS_REGION"
        default: break
        }
        return S3Error("\(what): the store answered \(response.status)\(detail.isEmpty ? "" : " (\(detail))")\(advice)",
                       status: response.status, code: body.code)
    }

    private func takeSession() throws(HTTPError) -> HTTPSession {
        if let session = lock.withLock({ idleSessions.popLast() }) { return session }
        var options = HTTPSession.Options(caFile: configuration.caFile)
        options.stallTimeout = 20
        return try HTTPSession(options: options)
    }

    private func returnSession(_ session: HTTPSession) {
        lock.withLock { if idleSessions.count < 32 { idleSessions.append(session) } }
    }
}
