import Foundation
import FoundationXML

/// A page of a ListObjectsV2 answer.
struct S3ListingPage {
    var objects: [S3Client.Object] = []
    var prefixes: [String] = []
    var truncated = false
    var nextToken: String?
    /// Whether the root element was `ListBucketResult`.
    var valid = false
}

/// Reads ListObjectsV2 XML (Foundation's XMLParser over libxml2).
enum S3ListingParser {
    static func parse(_ body: [UInt8]) -> S3ListingPage {
        let delegate = Delegate()
        let parser = XMLParser(data: Data(body))
        parser.delegate = delegate
        _ = parser.parse()
        return delegate.page
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        var page = S3ListingPage()
        private var path: [String] = []
        private var text = ""
        private var object = S3Client.Object(key: "", size: -1, etag: "")

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            if path.isEmpty && name == "ListBucketResult" { page.valid = true }
            path.append(name)
            text = ""
            if name == "Contents" { object = S3Client.Object(key: "", size: -1, etag: "") }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            let parent = path.count >= 2 ? path[path.count - 2] : ""
            switch (parent, name) {
            case ("Contents", "Key"): object.key = text
            case ("Contents", "Size"): object.size = Int(text) ?? -1
            case ("Contents", "ETag"): object.etag = text
            case ("ListBucketResult", "Contents"): page.objects.append(object)
            case ("CommonPrefixes", "Prefix"): page.prefixes.append(text)
            case ("ListBucketResult", "IsTruncated"): page.truncated = text == "true"
            case ("ListBucketResult", "NextContinuationToken"): page.nextToken = text
            default: break
            }
            path.removeLast()
            text = ""
        }
    }
}

/// The `<Error><Code>…</Code><Message>…</Message></Error>` body of a failed S3 request.
struct S3ErrorBody {
    var code: String?
    var message: String?

    static func parse(_ body: [UInt8]) -> S3ErrorBody {
        guard !body.isEmpty else { return S3ErrorBody() }
        let delegate = Delegate()
        let parser = XMLParser(data: Data(body.prefix(64 << 10)))
        parser.delegate = delegate
        _ = parser.parse()
        return delegate.result
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        var result = S3ErrorBody()
        private var text = ""
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) { text = "" }
        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "Code", result.code == nil { result.code = text }
            if name == "Message", result.message == nil { result.message = String(text.prefix(300)) }
        }
    }
}

/// The text of elements of a small XML answer, by element name wherever they are.
enum S3XML {
    static func texts(of element: String, in body: [UInt8]) -> [String] {
        let delegate = Delegate(element)
        let parser = XMLParser(data: Data(body))
        parser.delegate = delegate
        _ = parser.parse()
        return delegate.found
    }

    static func firstText(of element: String, in body: [UInt8]) -> String? { texts(of: element, in: body).first }

    /// Whether `body` is a whole XML document (one cut short is not).
    static func isWellFormed(_ body: [UInt8]) -> Bool {
        guard !body.isEmpty else { return false }
        return XMLParser(data: Data(body)).parse()
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        let element: String
        var found: [String] = []
        private var text: String?
        init(_ element: String) { self.element = element }
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) { if name == element { text = "" } }
        func parser(_ parser: XMLParser, foundCharacters string: String) { text? += string }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == element, let text { found.append(text) }
            if name == element { text = nil }
        }
    }
}
