import Foundation
import ObjectStore
import Testing

@Suite struct S3ConfigurationTests {
    func home(credentials: String? = nil, config: String? = nil) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aws-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        if let credentials { try credentials.write(to: dir.appendingPathComponent(".aws/credentials"), atomically: true, encoding: .utf8) }
        if let config { try config.write(to: dir.appendingPathComponent(".aws/config"), atomically: true, encoding: .utf8) }
        return dir.path
    }

    @Test func environmentKeysWinOverProfiles() throws {
        let home = try home(credentials: "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n")
        let c = try S3Configuration.fromEnvironment(["AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret",
                                                     "AWS_SESSION_TOKEN": "tok"], home: home)
        #expect(c.credentials.accessKeyID == "ENVKEY")
        #expect(c.credentials.sessionToken == "tok")
        #expect(c.region == "us-east-1")
        #expect(c.endpoint == "https://s3.us-east-1.amazonaws.com")
        #expect(!c.customEndpoint)
        #expect(!c.credentials.description.contains("envsecret"))
    }

    @Test func namedProfileFromBothFiles() throws {
        let home = try home(credentials: """
            [default]
            aws_access_key_id = DEFAULTKEY
            aws_secret_access_key = d
            [dev]
            aws_access_key_id = DEVKEY
            aws_secret_access_key = devsecret
            """, config: """
            [default]
            region = eu-west-1
            [profile dev]
            region = eu-central-1
            endpoint_url = http://minio.internal:9000/
            s3 =
              addressing_style = virtual
            """)
        let c = try S3Configuration.fromEnvironment(["AWS_PROFILE": "dev"], home: home)
        #expect(c.credentials.accessKeyID == "DEVKEY")
        #expect(c.credentials.origin.contains("profile 'dev'"))
        #expect(c.region == "eu-central-1")
        #expect(c.endpoint == "http://minio.internal:9000")
        #expect(c.customEndpoint)
        #expect(c.addressingStyle == "virtual")
        // AWS_REGION and AWS_ENDPOINT_URL_S3 win over the profile.
        let overridden = try S3Configuration.fromEnvironment(["AWS_PROFILE": "dev", "AWS_REGION": "ap-south-1",
                                                              "AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://b:2"], home: home)
        #expect(overridden.region == "ap-south-1")
        #expect(overridden.endpoint == "http://b:2")
    }

    @Test func missingCredentialsSayWhatToSet() throws {
        let home = try home()
        #expect { try S3Configuration.fromEnvironment([:], home: home) } throws: { error in
            "\(error)".contains("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        #expect { try S3Configuration.fromEnvironment(["AWS_ACCESS_KEY_ID": "K"], home: home) } throws: { error in
            "\(error)".contains("AWS_SECRET_ACCESS_KEY is not")
        }
        #expect { try S3Configuration.fromEnvironment(["AWS_PROFILE": "nope"], home: home) } throws: { error in
            "\(error)".contains("profile 'nope'")
        }
        #expect { try S3Configuration.fromEnvironment(["AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S", "AWS_ENDPOINT_URL": "minio:9000"], home: home) } throws: { error in
            "\(error)".contains("must start with http")
        }
    }

    @Test func locations() throws {
        let l = try S3Location(uri: "s3://my-bucket/events/2026/")
        #expect(l.bucket == "my-bucket" && l.key == "events/2026/")
        #expect(l.directoryPrefix == "events/2026/")
        #expect(try S3Location(uri: "s3a://b12/x").description == "s3://b12/x")
        #expect(try S3Location(uri: "s3://b12/e/*.parquet").hasGlob)
        #expect(throws: S3Error.self) { try S3Location(uri: "s3:///key") }
        #expect(throws: S3Error.self) { try S3Location(uri: "s3://Upper/key") }
        #expect(!S3Location.isURI("/data/s3://x"))
    }
}
