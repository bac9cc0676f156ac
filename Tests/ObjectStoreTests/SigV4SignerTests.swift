import ObjectStore
import Testing

/// The signer against the examples of AWS's "Signature Calculations for the Authorization
/// Header" (S3 API reference, "Examples"): same keys, date, requests, published signatures.
@Suite struct SigV4SignerTests {
    let signer = SigV4Signer(credentials: AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                         secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", origin: "test"),
                             region: "us-east-1")
    let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    func authorization(_ headers: [(String, String)]) -> String? { headers.first { $0.0 == "Authorization" }?.1 }

    @Test func getObjectWithRange() {
        let headers = signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: [],
                                  headers: [("Range", "bytes=0-9")], payloadHash: emptyHash, date: "20130524T000000Z")
        #expect(authorization(headers) == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func listObjectsQuerySortedAndEncoded() {
        // Given out of order: the canonical query sorts by name.
        let headers = signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/",
                                  query: [("prefix", "J"), ("max-keys", "2")], headers: [], payloadHash: emptyHash,
                                  date: "20130524T000000Z")
        #expect(authorization(headers)?.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
        #expect(SigV4Signer.canonicalQuery([("prefix", "J"), ("max-keys", "2")]) == "max-keys=2&prefix=J")
    }

    @Test func putObjectWithSignedPayload() {
        let headers = signer.sign(method: "PUT", host: "examplebucket.s3.amazonaws.com", path: "/test%24file.text", query: [],
                                  headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                                  payloadHash: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", date: "20130524T000000Z")
        #expect(authorization(headers)?.hasSuffix("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") == true)
        #expect(SigV4Signer.encodePath("/test$file.text") == "/test%24file.text")
    }

    @Test func sessionTokenIsSignedAndSent() {
        var temporary = signer
        temporary.credentials.sessionToken = "token/with+chars"
        let headers = temporary.sign(method: "GET", host: "h", path: "/k", query: [], headers: [], date: "20130524T000000Z")
        #expect(headers.contains { $0.0 == "x-amz-security-token" && $0.1 == "token/with+chars" })
        #expect(authorization(headers)?.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token") == true)
    }

    @Test func encodingKeepsOnlyUnreservedBytes() {
        #expect(SigV4Signer.encodePath("/a b/é+~_.-/x=1") == "/a%20b/%C3%A9%2B~_.-/x%3D1")
        #expect(SigV4Signer.canonicalQuery([("prefix", "a/b c"), ("continuation-token", "x=y")]) == "continuation-token=x%3Dy&prefix=a%2Fb%20c")
        #expect(SigV4Signer.amzDate(1_369_353_600) == "20130524T000000Z")
    }
}
