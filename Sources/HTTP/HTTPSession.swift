#if canImport(Glibc)
import Glibc
#endif
import CCurl

/// A blocking HTTP client over libcurl (Debian's libcurl4-openssl: HTTP/1.1 and HTTP/2, TLS
/// with the system's CA store, proxies from `https_proxy`/`no_proxy`, gzip), one transfer at a
/// time on the calling thread. The connection is kept and reused by the next request to the
/// same host.
///
/// libcurl and not a Swift client: it is the most used HTTP library there is, already on every
/// Debian machine, builds in no time, and signs AWS requests itself (`CURLOPT_AWS_SIGV4`);
/// async-http-client would bring swift-nio-ssl's BoringSSL and minutes of build for blocking
/// calls made one at a time.
///
/// Not thread-safe: one session per thread.
public final class HTTPSession {
    /// How the session connects and how long it waits.
    public struct Options: Sendable {
        /// A CA bundle to trust instead of the system's (`MLFLOW_TRACKING_SERVER_CERT_PATH`).
        public var caFile: String?
        /// false skips certificate checks (`MLFLOW_TRACKING_INSECURE_TLS=true`).
        public var verifyTLS: Bool = true
        /// Seconds to connect.
        public var connectTimeout: Double = 10
        /// A transfer with no byte for this many seconds is abandoned as timed out.
        public var stallTimeout: Int = 30

        public init(caFile: String? = nil, verifyTLS: Bool = true) {
            self.caFile = caFile
            self.verifyTLS = verifyTLS
        }
    }

    private let handle: UnsafeMutableRawPointer
    private let options: Options
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

    public init(options: Options = Options()) throws(HTTPError) {
        LibCurl.start()
        guard let handle = curl_easy_init() else {
            throw HTTPError(.other, url: "", message: "libcurl could not start a transfer handle")
        }
        self.handle = handle
        self.options = options
    }

    deinit { curl_easy_cleanup(handle) }

    /// Sends `request` and returns the answer with its body (at most `maxBodyBytes`, else
    /// `HTTPError.tooLarge`).
    /// A request that takes longer than `timeout` seconds in all fails as timed out.
    public func send(_ request: HTTPRequest, maxBodyBytes: Int = 64 << 20, timeout: Double = 120) throws(HTTPError) -> HTTPResponse {
        let state = TransferState(handle: handle, maxBody: maxBodyBytes, file: nil)
        try perform(request, state: state, timeout: timeout)
        return HTTPResponse(status: state.status, headers: state.headers, body: state.body)
    }

    /// Sends `request` and, when the answer is a success, writes its body to the open file
    /// `fd` (from its current offset). The returned response's body is empty for a success and
    /// holds the server's explanation (at most 64 KiB) otherwise.
    public func download(_ request: HTTPRequest, into fd: Int32) throws(HTTPError) -> (response: HTTPResponse, bytes: Int) {
        let state = TransferState(handle: handle, maxBody: 64 << 10, file: fd)
        // No total limit (a model may be gigabytes): a stalled transfer fails by `stallTimeout`.
        try perform(request, state: state, timeout: nil)
        return (HTTPResponse(status: state.status, headers: state.headers, body: state.body), state.bytesWritten)
    }

    private func perform(_ request: HTTPRequest, state: TransferState, timeout: Double?) throws(HTTPError) {
        curl_easy_reset(handle)
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        // Without this libcurl sends "Expect: 100-continue" before larger bodies and waits for it.
        headerList = curl_slist_append(headerList, "Expect:")
        // Without this libcurl labels a body form data, which servers then parse as a form (moto
        // read uploaded parts as empty forms).
        if request.body != nil && !request.headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            headerList = curl_slist_append(headerList, "Content-Type: application/octet-stream")
        }

        let context = Unmanaged.passRetained(state)
        defer { context.release() }
        errorBuffer[0] = 0
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errorBytes in
            ccurl_setopt_string(handle, CURLOPT_URL, request.url)
            ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBytes.baseAddress)
            ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1)
            ccurl_setopt_long(handle, CURLOPT_MAXREDIRS, 5)
            ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout * 1000))
            ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
            ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, options.stallTimeout)
            if let timeout { ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(timeout * 1000)) }
            ccurl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "")
            ccurl_setopt_string(handle, CURLOPT_USERAGENT, "score-cluster")
            if let caFile = options.caFile { ccurl_setopt_string(handle, CURLOPT_CAINFO, caFile) }
            if !options.verifyTLS {
                ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 0)
                ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 0)
            }
            ccurl_setopt_list(handle, CURLOPT_HTTPHEADER, headerList)
            switch request.method {
            case .get: ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1)
            case .head: ccurl_setopt_long(handle, CURLOPT_NOBODY, 1)
            case .post, .put, .delete:
                if request.method != .post { ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method.rawValue) }
                let body = request.body ?? []
                ccurl_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                if body.isEmpty {
                    ccurl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, "")
                } else {
                    body.withUnsafeBytes { bytes in
                        // COPYPOSTFIELDS copies: the body need not outlive this call.
                        _ = ccurl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress!))
                    }
                }
            }
            ccurl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, { data, size, count, context in
                Unmanaged<TransferState>.fromOpaque(context!).takeUnretainedValue().receive(UnsafeRawBufferPointer(start: data, count: size * count))
            })
            ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context.toOpaque())
            ccurl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, { data, size, count, context in
                Unmanaged<TransferState>.fromOpaque(context!).takeUnretainedValue().header(UnsafeRawBufferPointer(start: data, count: size * count))
            })
            ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context.toOpaque())
            return curl_easy_perform(handle)
        }
        if code != CURLE_OK {
            let detail = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            throw HTTPError(state.failure ?? Self.kind(of: code), url: request.url, message: state.failureMessage ?? message)
        }
        var status = 0
        ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        state.status = status
    }

    private static func kind(of code: CURLcode) -> HTTPError.Kind {
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return .cannotConnect
        case CURLE_OPERATION_TIMEDOUT: return .timedOut
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE,
             CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR: return .tls
        case CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_HTTP2, CURLE_HTTP2_STREAM: return .cutOff
        case CURLE_WRITE_ERROR: return .localWrite
        default: return .other
        }
    }
}

/// One transfer's answer as it arrives, reached from libcurl's callbacks.
private final class TransferState {
    let handle: UnsafeMutableRawPointer
    let maxBody: Int
    let file: Int32?
    var status = 0
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var bytesWritten = 0
    var failure: HTTPError.Kind?
    var failureMessage: String?

    init(handle: UnsafeMutableRawPointer, maxBody: Int, file: Int32?) {
        self.handle = handle
        self.maxBody = maxBody
        self.file = file
    }

    /// Body bytes: to the file for a successful download, else kept (up to `maxBody`).
    /// Returning less than given makes libcurl stop with CURLE_WRITE_ERROR.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        var code = 0
        ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        if let file, (200..<300).contains(code) {
            var offset = 0
            while offset < bytes.count {
                let written = write(file, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = .localWrite
                    failureMessage = "cannot write the download: \(String(cString: strerror(errno)))"
                    return 0
                }
                offset += written
            }
            bytesWritten += bytes.count
            return bytes.count
        }
        guard body.count + bytes.count <= maxBody else {
            if file != nil { return bytes.count }  // an error page: its start is enough
            failure = .tooLarge
            failureMessage = "the answer is larger than \(maxBody) bytes"
            return 0
        }
        body.append(contentsOf: bytes)
        return bytes.count
    }

    /// One header line; a status line starts a new response (after a redirect or a 100).
    func header(_ bytes: UnsafeRawBufferPointer) -> Int {
        let line = String(decoding: bytes, as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            headers = []
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            headers.append((name, value))
        }
        return bytes.count
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        var s = self
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}

/// libcurl's process-wide start, done once before the first handle.
enum LibCurl {
    private static let started: Bool = {
        // CURL_GLOBAL_ALL (SSL and, on Windows, Win32 sockets); a C macro Swift does not import.
        curl_global_init(3) == CURLE_OK
    }()

    static func start() { _ = started }
}
