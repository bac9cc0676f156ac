import Foundation
import Columnar
import Testing
@testable import MLflowModel
@testable import PyFunc

/// `--output-field` and `--strict-types`: where score-cluster does better than spark_udf's silent choices.
@Suite("Strict result types and output fields", .serialized)
struct StrictResultTests {
    /// Scores a 3-row batch with a model returning `expression`.
    func score(_ expression: String, _ type: ResultType, field: String? = nil, strict: Bool = false) throws -> Result<Column, PyFuncModel.PredictError> {
        let dir = try makeExpressionModel(expression)
        return try PythonHost.shared.run { runtime in
            let model = try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path),
                                        invocation: .init(labels: ["0"], resultType: type, outputField: field, strictTypes: strict))
            do throws(PyFuncModel.PredictError) {
                return .success(try model.predict([.fixed(.float64, [1.0, 2.0, 3.0])], rowCount: 3))
            } catch { return .failure(error) }
        }
    }

    func message(_ result: Result<Column, PyFuncModel.PredictError>) -> String {
        if case .failure(let error) = result { return error.description }
        return "<no error>"
    }

    @Test("int64 predictions convert exactly to int, where spark_udf refuses them")
    func int64ToInt() throws {
        let column = try score("np.array([1, 2, 3], dtype=np.int64)", .int, strict: true).get()
        #expect(column.array(of: Int32.self) == [1, 2, 3])
        #expect(message(try score("np.array([1, 2, 3], dtype=np.int64)", .int)).contains("IntegerType()"))
    }

    @Test("values that do not convert exactly are an error showing them")
    func inexact() throws {
        let text = message(try score("np.array([1.0, 2.5, 3.0])", .long, strict: true))
        #expect(text.contains("not longs") && text.contains("2.5"))
        #expect(message(try score("np.array([1, 5_000_000_000, 3])", .int, strict: true)).contains("5000000000"))
        #expect(message(try score("np.array(['a', 'b', 'c'])", .double, strict: true)).contains("'a'"))
    }

    @Test("nulls stay null: NaN and None in strings, NaN in integers")
    func nullsKept() throws {
        let strings = try score("np.array(['x', None, np.nan], dtype=object)", .string, strict: true).get()
        #expect(strings.string(at: 0) == "x" && !strings.isValid(1) && !strings.isValid(2))
        let ints = try score("np.array([1.0, np.nan, 3.0])", .long, strict: true).get()
        #expect(ints.isValid(0) && !ints.isValid(1) && ints.values.typed(Int64.self)[2] == 3)
        // spark_udf's way, the default: NaN becomes the string 'nan'.
        #expect(try score("np.array([0.5, np.nan, 1.0])", .string).get().string(at: 1) == "nan")
    }

    @Test("--output-field picks the named column instead of the leftmost compatible one")
    func outputField() throws {
        let frame = "pd.DataFrame({'label': ['a', 'b', 'c'], 'cnt': [1, 2, 3], 'prob': [0.1, 0.2, 0.3]})"
        #expect(try score(frame, .double).get().array(of: Double.self) == [1, 2, 3])
        #expect(try score(frame, .double, field: "prob").get().array(of: Double.self) == [0.1, 0.2, 0.3])
        #expect(message(try score(frame, .double, field: "nope")).contains("['label', 'cnt', 'prob']"))
        #expect(message(try score(frame, .double, strict: true)).contains("choose one with --output-field"))
        #expect(try score(frame, .string, field: "label", strict: true).get().string(at: 2) == "c")
    }

    @Test("the result type is inferred from the output signature as spark_udf infers it")
    func inference() throws {
        func spec(_ type: String) -> ModelSignature.Spec { .init(name: nil, type: type, required: true) }
        #expect(try ResultType.inferred(from: nil).type == .double)
        #expect(try ResultType.inferred(from: nil).note?.contains("'result_type' is set to 'double'") == true)
        #expect(try ResultType.inferred(from: [spec("long")]).type == .long)
        #expect(try ResultType.inferred(from: [spec("boolean")]).type == .boolean)
        // Several outputs make a struct with fields named by position; a 1-D tensor an array.
        #expect(try ResultType.inferred(from: [spec("double"), spec("string")]).type.description == "struct<0:double,1:string>")
        let tensor = ModelSignature.Spec(name: nil, type: "tensor", required: true, tensorDType: "int64", tensorShape: [-1])
        #expect(try ResultType.inferred(from: [tensor]).type == .array(.long))
        #expect(try ResultType(parsing: "label string, score double").description == "struct<label:string,score:double>")
        #expect(try ResultType(parsing: "array<array<bigint>>") == .array(.array(.long)))
        #expect(try ResultType(parsing: "map<string, double>") == .map(.double))
        #expect(throws: PyFuncError.self) { try ResultType(parsing: "map<int,double>") }
        #expect(throws: PyFuncError.self) { try ResultType(parsing: "array<decimal(10,2)>") }
    }
}
