/// One HTTP request: what `HTTPSession` sends.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable {
        case get = "GET", head = "HEAD", post = "POST", put = "PUT", delete = "DELETE"
    }

    public var method: Method
    public var url: String
    /// Header lines sent as given (an `Authorization` header among them is never logged: nothing
    /// in this module logs headers).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?

    public init(_ method: Method = .get, _ url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// What came back: the status, the headers and (for `send`) the body.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lower-cased, in the order received (of the final response after redirects).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    /// The first header called `name` (any case).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name == wanted }?.value
    }

    /// The body as text (for error messages).
    public var text: String { String(decoding: body, as: UTF8.self) }

    public var isSuccess: Bool { (200..<300).contains(status) }
}
