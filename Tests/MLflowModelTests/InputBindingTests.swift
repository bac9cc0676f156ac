import Columnar
import Foundation
import Testing
@testable import MLflowModel

@Suite("Input binding and schema enforcement")
struct InputBindingTests {
    static let dataset: [InputBinding.DatasetColumn] = [
        .init(name: "id", type: .int64, nullable: false),
        .init(name: "z", type: .float64, nullable: true),
        .init(name: "x", type: .float64, nullable: true),
        .init(name: "y", type: .int32, nullable: false),
        .init(name: "name", type: .string, nullable: true),
    ]

    func signature(_ inputs: String) throws -> ModelSignature {
        try #require(try signatureFromJSON(inputs))
    }

    @Test("no signature: all columns or --columns, named \"0\", \"1\", ... or by the dataset")
    func noSignature() throws {
        let all = try InputBinding.resolve(signature: nil, dataset: Self.dataset, requested: nil, naming: .ordinal)
        #expect(all.columns == ["id", "z", "x", "y", "name"])
        #expect(all.labels == ["0", "1", "2", "3", "4"])
        let some = try InputBinding.resolve(signature: nil, dataset: Self.dataset, requested: ["x", "y"], naming: .dataset)
        #expect(some.columns == ["x", "y"] && some.labels == ["x", "y"])
        #expect(some.enforcedTypes == [nil, nil])
    }

    @Test("a named signature takes columns by name: order and extra columns do not matter")
    func byName() throws {
        let sig = try signature(#"[{"type": "double", "name": "x"}, {"type": "long", "name": "y"}, {"type": "double", "name": "w", "required": false}]"#)
        let binding = try InputBinding.resolve(signature: sig, dataset: Self.dataset, requested: nil, naming: .ordinal)
        #expect(binding.columns == ["x", "y"])
        #expect(binding.labels == ["x", "y"])
        #expect(binding.enforcedTypes == ["double", "long"])
    }

    @Test("a missing required column stops the job, listing what is missing and what exists")
    func missingRequired() throws {
        let sig = try signature(#"[{"type": "double", "name": "x"}, {"type": "double", "name": "q"}]"#)
        do {
            _ = try InputBinding.resolve(signature: sig, dataset: Self.dataset, requested: nil, naming: .ordinal)
            Issue.record("accepted a missing column")
        } catch {
            #expect(error.message.contains("q") && error.message.contains("id, z, x, y, name"))
        }
    }

    @Test("--columns with a named signature maps by position, as spark_udf does")
    func positional() throws {
        let sig = try signature(#"[{"type": "double", "name": "a"}, {"type": "double", "name": "b"}]"#)
        let binding = try InputBinding.resolve(signature: sig, dataset: Self.dataset, requested: ["z", "x"], naming: .ordinal)
        #expect(binding.columns == ["z", "x"] && binding.labels == ["a", "b"])
        #expect(throws: PyFuncError.self) { try InputBinding.resolve(signature: sig, dataset: Self.dataset, requested: ["z"], naming: .ordinal) }
    }

    @Test("an unnamed signature labels columns 0, 1, ... as integers")
    func unnamed() throws {
        let sig = try signature(#"[{"type": "double"}, {"type": "double"}]"#)
        let binding = try InputBinding.resolve(signature: sig, dataset: Self.dataset, requested: ["z", "x", "y"], naming: .ordinal)
        #expect(binding.columns == ["z", "x"] && binding.integerLabels)
    }

    @Test("unsafe casts are refused up front, naming the column, its type and the signature's")
    func unsafeCasts() throws {
        let cases: [(String, String, Bool)] = [
            ("double", "y", true),     // int32 -> float64: safe
            ("long", "y", true),       // int32 -> int64: safe
            ("double", "id", false),   // int64 -> float64: MLflow refuses
            ("long", "x", false),      // float64 -> int64
            ("string", "x", false),
            ("integer", "id", false),
            ("string", "name", true),
        ]
        for (type, column, ok) in cases {
            let sig = try signature(#"[{"type": "\#(type)", "name": "\#(column)"}]"#)
            do {
                _ = try InputBinding.resolve(signature: sig, dataset: Self.dataset, requested: nil, naming: .ordinal)
                #expect(ok, "\(column) as \(type) was accepted")
            } catch {
                #expect(!ok, "\(column) as \(type) was refused: \(error.message)")
                #expect(error.message.contains("'\(column)'") && error.message.contains("Can not safely convert") && error.message.contains(type))
            }
        }
    }
}

/// A signature with `inputs` (a JSON list), parsed the way MLmodel files are.
func signatureFromJSON(_ inputs: String) throws -> ModelSignature? {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sig-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let quoted = inputs.replacingOccurrences(of: "'", with: "''")
    try "flavors:\n  python_function: {loader_module: m}\nsignature:\n  inputs: '\(quoted)'\n"
        .write(to: dir.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
    return try MLModel(directory: dir.path).signature
}
