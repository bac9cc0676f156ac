import Testing
@testable import ModelRegistry

/// Model URIs are read as MLflow reads them (mlflow/store/artifact/utils/models.py).
@Suite struct ModelURITests {
    @Test func registeredModelForms() throws {
        #expect(try ModelURI(parsing: "models:/fraud/3") == .registered(name: "fraud", selector: .number("3")))
        #expect(try ModelURI(parsing: "models:/fraud@champion") == .registered(name: "fraud", selector: .alias("champion")))
        #expect(try ModelURI(parsing: "models:/fraud/latest") == .registered(name: "fraud", selector: .latest))
        #expect(try ModelURI(parsing: "models:/fraud/LATEST") == .registered(name: "fraud", selector: .latest))
        #expect(try ModelURI(parsing: "models:/fraud/Production") == .registered(name: "fraud", selector: .stage("Production")))
        #expect(try ModelURI(parsing: "models:/m-0123abcd") == .loggedModel(id: "m-0123abcd"))
        // The alias is what follows the last '@'; a name may hold '@'.
        #expect(try ModelURI(parsing: "models:/team@x@prod") == .registered(name: "team@x", selector: .alias("prod")))
    }

    @Test func runsAndArtifactsAndFiles() throws {
        #expect(try ModelURI(parsing: "runs:/0123abcd/model") == .run(id: "0123abcd", path: "model"))
        #expect(try ModelURI(parsing: "runs:/0123abcd/nested/model/") == .run(id: "0123abcd", path: "nested/model"))
        #expect(try ModelURI(parsing: "mlflow-artifacts:/0/models/m-1/artifacts") == .artifact("mlflow-artifacts:/0/models/m-1/artifacts"))
        #expect(try ModelURI(parsing: "file:///srv/models/fraud") == .localDirectory("/srv/models/fraud"))
        #expect(try ModelURI(parsing: "/srv/models/fraud") == .localDirectory("/srv/models/fraud"))
        #expect(try ModelURI(parsing: "models/fraud") == .localDirectory("models/fraud"))
        #expect(try ModelURI(parsing: "./a:b") == .localDirectory("./a:b"))
        // Not a scheme MLflow stores artifacts under: a path with a colon.
        #expect(try ModelURI(parsing: "data:v1/model") == .localDirectory("data:v1/model"))
        #expect(try ModelURI(parsing: "s3://bucket/models/fraud") == .artifact("s3://bucket/models/fraud"))
    }

    @Test func artifactURLsWithCredentialsAreRefusedWithoutRepeatingThem() {
        let error = #expect(throws: RegistryError.self) { try ModelURI(parsing: "https://bob:hunter2@host/api/2.0/mlflow-artifacts/artifacts/0/m") }
        #expect(error?.description.contains("hunter2") == false)
        #expect(error?.message.contains("MLFLOW_TRACKING_USERNAME") == true)
    }

    @Test(arguments: ["models:/", "models:/fraud/", "models:/a/b/c", "models:/fraud@", "models://profile@databricks/fraud/1",
                      "runs:/0123abcd", "runs:/", "runs:0123/model"])
    func malformedURIsAreRefusedWithTheForms(_ text: String) {
        let error = #expect(throws: RegistryError.self) { try ModelURI(parsing: text) }
        #expect(error?.uri == text)
        #expect(error?.message.contains("write") == true)
    }
}
