import Foundation
import Testing
import TestSupport
@testable import MLflowModel

/// The one MLmodel reader: what MLflow writes, decoded into types.
@Suite("MLmodel document")
struct MLmodelDocumentTests {
    static let mlflowWritten = #"""
        artifact_path: model
        flavors:
          python_function:
            env:
              conda: conda.yaml
              virtualenv: python_env.yaml
            loader_module: mlflow.sklearn
            model_path: model.pkl
            predict_fn: predict_proba
            python_version: 3.10
            config:
              threshold: 0.5
              labels: [a, b]
          sklearn:
            pickled_model: model.pkl
            sklearn_version: 1.5.0
        mlflow_version: 2.16.2
        signature:
          inputs: '[{"type": "double", "name": "x", "required": true}, {"type": "array", "items": {"type": "string"}, "name": "tags", "required": false}, {"type": "object", "properties": {"b": {"type": "long", "required": false}, "a": {"type": "double", "required": true}}, "name": "o", "required": true}]'
          outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}]'
          params: '[{"name": "k", "type": "long", "default": 3, "shape": null}, {"name": "tags", "type": "string", "default": ["x"], "shape": [-1]}, {"name": "n", "type": "string", "default": null, "shape": null}]'
        """#

    static func model(_ mlmodel: String) throws -> ScratchDirectory {
        let directory = try ScratchDirectory()
        try directory.write("MLmodel", mlmodel)
        return directory
    }

    @Test("an MLmodel as MLflow writes it decodes into typed flavor and signature")
    func decodesMLflowOutput() throws {
        let directory = try Self.model(Self.mlflowWritten)
        let document = try MLmodelDocument(directory: directory.path)
        #expect(document.flavors == ["python_function", "sklearn"])
        #expect(document.mlflowVersion == "2.16.2")
        let flavor = try #require(document.pyfunc)
        #expect(flavor.loaderModule == "mlflow.sklearn")
        #expect(flavor.pythonVersion == "3.10", "an unquoted 3.10 is a version, not the number 3.1")
        #expect(flavor.predictFn == "predict_proba")
        #expect(flavor.env == ["conda": "conda.yaml", "virtualenv": "python_env.yaml"])
        #expect(flavor.config == ["threshold": .double(0.5), "labels": .array([.string("a"), .string("b")])])

        let signature = try #require(document.signature)
        let inputs = try #require(signature.inputs)
        #expect(inputs.map(\.name) == ["x", "tags", "o"])
        #expect(inputs.map(\.schemaType.description) == ["double", "array<string>", "object<a: double, b?: long>"])
        #expect(inputs[1].required == false && inputs[1].itemType == "string")
        let output = try #require(signature.outputs?.first)
        #expect(output.isTensor && output.tensorDType == "float64" && output.tensorShape == [-1, 2])
        let params = try #require(signature.params)
        #expect(params.map(\.defaultJSON) == ["3", #"["x"]"#, nil])
        #expect(params.map(\.isList) == [false, true, false])
    }

    @Test("the old string form of env names the conda file; a signature may be inline YAML")
    func looseForms() throws {
        let directory = try Self.model("""
            flavors:
              python_function: {loader_module: my_loader, env: conda.yaml, artifacts: {weights: {path: artifacts/w.bin, uri: /x}}}
            signature:
              inputs:
                - {type: long, name: y}
            """)
        let document = try MLmodelDocument(directory: directory.path)
        #expect(document.pyfunc?.env == ["conda": "conda.yaml"])
        #expect(document.pyfunc?.artifacts == ["weights": "artifacts/w.bin"])
        #expect(document.signature?.inputs?.first?.schemaType == .column("long"))
    }

    @Test("a malformed signature is an error naming the part and the reason, for scoring and for inspection alike")
    func malformedSignature() throws {
        let directory = try Self.model("""
            flavors:
              python_function: {loader_module: my_loader}
            signature:
              inputs: '[{"type": "tensor", "name": "t"}]'
            """)
        #expect(throws: MLmodelDocument.Failure.self) { try MLmodelDocument(directory: directory.path) }
        do {
            _ = try MLmodelDocument(directory: directory.path)
        } catch {
            let message = error.message(directory: directory.path)
            #expect(message.contains("signature") && message.contains("inputs") && message.contains("tensor-spec"), "\(message)")
        }
        #expect(throws: PyFuncError.self) { try MLModel(directory: directory.path) }
        let report = ModelInspection(directory: directory.path, environment: nil)
        #expect(report.blockers.map(\.code) == ["invalid_mlmodel"])
    }

    @Test("not YAML, no flavors, no directory: each its own failure")
    func failures() throws {
        let notYAML = try Self.model("flavors: [unclosed")
        #expect(performing: { try MLmodelDocument(directory: notYAML.path) }, throws: { error in
            guard case .notYAML(let why)? = error as? MLmodelDocument.Failure else { return false }
            return why.contains("line 1")
        })
        let noFlavors = try Self.model("mlflow_version: 2.1.0\n")
        #expect(throws: MLmodelDocument.Failure.noFlavors) { try MLmodelDocument(directory: noFlavors.path) }
        #expect(throws: MLmodelDocument.Failure.noDirectory) { try MLmodelDocument(directory: noFlavors.path + "/nothing") }
        #expect(throws: MLmodelDocument.Failure.notADirectory) { try MLmodelDocument(directory: noFlavors.path + "/MLmodel") }
    }
}
