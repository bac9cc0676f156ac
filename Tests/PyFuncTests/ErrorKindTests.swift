import Columnar
import Foundation
import MLflowModel
import Testing
@testable import PyFunc

/// Errors are told apart by the kind the bridge marks them with, not by class names.
@Suite("Kinds of Python errors", .serialized)
struct ErrorKindTests {
    /// The error scoring one row with a model returning `expression`.
    private func predictError(_ expression: String) throws -> PyFuncModel.PredictError? {
        let dir = try makeExpressionModel(expression)
        return try PythonHost.shared.run { runtime in
            let model = try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path), columnNames: ["0"], resultType: .double)
            do throws(PyFuncModel.PredictError) { _ = try model.predict([.fixed(.float64, [1.0])], rowCount: 1) } catch { return error }
            return nil
        }
    }

    @Test("an exception from the model's predict is marked predict")
    func predictKind() throws {
        guard case .modelRaised(let python) = try #require(try predictError("1 / 0")) else { Issue.record("not a model error"); return }
        #expect(python.kind == .predict)
        #expect(python.typeName == "ZeroDivisionError")
    }

    @Test("the bridge's own conversion errors are marked result and keep spark_udf's message")
    func resultKind() throws {
        guard case .conversion(let message) = try #require(try predictError("np.zeros(n + 1)")) else { Issue.record("not a conversion error"); return }
        #expect(message.hasPrefix("[OUTPUT_EXCEEDS_INPUT_ROWS] the model returned 2 rows for a batch of 1 rows"), "\(message)")
    }

    @Test("an exception of the model's that is only named like the bridge's is not taken for one")
    func classNameIsNotTheKind() throws {
        // A result whose iteration raises the model's own class called ResultTypeError.
        let impostor = """
            type('Bad', (), {'__iter__': lambda self: (_ for _ in ()).throw(type('ResultTypeError', (Exception,), {})('raised by the model'))})()
            """
        guard case .conversion(let message) = try #require(try predictError(impostor)) else { Issue.record("not a conversion error"); return }
        #expect(message == "cannot convert the prediction to double: ResultTypeError: raised by the model")
    }
}
