import Foundation
import Columnar
import Testing
@testable import MLflowModel
@testable import PyFunc

/// spark_udf's conversion matrix (docs/spark-udf.md §1.4) for the six primitive result types.
@Suite("Result conversion as spark_udf does it", .serialized)
struct ResultConversionTests {
    enum Outcome: Equatable, CustomStringConvertible {
        case doubles([Double?])
        case strings([String])
        case longs([Int64])
        case ints([Int32])
        case bools([Bool])
        /// Arrays, each element shown as text (nil: a null element).
        case lists([[String?]])
        /// "The model did not produce any values compatible with the requested type".
        case noCompatibleValues
        /// The result's row count differs from the batch's.
        case rowMismatch

        var description: String {
            switch self {
            case .doubles(let v): "doubles \(v)"
            case .strings(let v): "strings \(v)"
            case .longs(let v): "longs \(v)"
            case .ints(let v): "ints \(v)"
            case .bools(let v): "bools \(v)"
            case .lists(let v): "lists \(v)"
            case .noCompatibleValues: "ERR-nc"
            case .rowMismatch: "row mismatch"
            }
        }
    }

    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var expression: String
        var expected: [String: Outcome]
        var description: String { name }
    }

    static let halves: Outcome = .doubles([0.5, 1.5, 2.5])
    static let halvesText: Outcome = .strings(["0.5", "1.5", "2.5"])
    static let ones: Outcome = .doubles([1, 2, 3])
    static let nc: Outcome = .noCompatibleValues

    static let cases: [Case] = [
        Case(name: "np float64 1-D", expression: "np.array([0.5, 1.5, 2.5])",
             expected: ["double": halves, "float": halves, "int": nc, "long": nc, "string": halvesText, "boolean": nc, "array<double>": .lists([["0.5"], ["1.5"], ["2.5"]]), "array<long>": nc, "array<string>": .lists([["0.5"], ["1.5"], ["2.5"]])]),
        Case(name: "np int64 1-D", expression: "np.array([1, 2, 3], dtype=np.int64)",
             expected: ["double": ones, "float": ones, "int": nc, "long": .longs([1, 2, 3]),
                        "string": .strings(["1", "2", "3"]), "boolean": nc, "array<double>": .lists([["1.0"], ["2.0"], ["3.0"]]), "array<long>": .lists([["1"], ["2"], ["3"]]), "array<string>": .lists([["1"], ["2"], ["3"]])]),
        Case(name: "np int32 1-D", expression: "np.array([1, 2, 3], dtype=np.int32)",
             expected: ["double": ones, "float": ones, "int": .ints([1, 2, 3]), "long": .longs([1, 2, 3]),
                        "string": .strings(["1", "2", "3"]), "boolean": nc]),
        Case(name: "float64 with NaN", expression: "np.array([0.5, np.nan, 2.5])",
             expected: ["double": .doubles([0.5, nil, 2.5]), "float": .doubles([0.5, nil, 2.5]), "int": nc, "long": nc,
                        "string": .strings(["0.5", "nan", "2.5"]), "boolean": nc, "array<double>": .lists([["0.5"], [nil], ["2.5"]]), "array<string>": .lists([["0.5"], ["nan"], ["2.5"]])]),
        Case(name: "np str 1-D", expression: "np.array(['a', 'b', 'c'])",
             expected: ["double": nc, "float": nc, "int": nc, "long": nc, "string": .strings(["a", "b", "c"]), "boolean": nc, "array<double>": nc, "array<string>": .lists([["a"], ["b"], ["c"]])]),
        Case(name: "np bool 1-D", expression: "np.array([True, False, True])",
             expected: ["double": nc, "float": nc, "int": nc, "long": nc,
                        "string": .strings(["True", "False", "True"]), "boolean": .bools([true, false, true]), "array<double>": nc, "array<string>": .lists([["True"], ["False"], ["True"]])]),
        Case(name: "np 2-D float", expression: "np.array([[0.5, 7.0, 8.0], [1.5, 7.0, 8.0], [2.5, 7.0, 8.0]])",
             expected: ["double": halves, "float": halves, "long": nc, "string": halvesText, "boolean": nc, "array<double>": .lists([["0.5", "7.0", "8.0"], ["1.5", "7.0", "8.0"], ["2.5", "7.0", "8.0"]]), "array<long>": nc]),
        Case(name: "pd.Series float", expression: "pd.Series([0.5, 1.5, 2.5])",
             expected: ["double": halves, "long": nc, "string": halvesText, "boolean": nc]),
        Case(name: "DataFrame[label, cnt, prob, flag]",
             expression: "pd.DataFrame({'label': ['x', 'y', 'z'], 'cnt': np.array([1, 2, 3], dtype=np.int64), 'prob': [0.1, 0.2, 0.3], 'flag': [True, False, True]})",
             expected: ["double": ones, "float": ones, "int": nc, "long": .longs([1, 2, 3]),
                        "string": .strings(["x", "y", "z"]), "boolean": .bools([true, false, true]), "array<double>": .lists([["1.0", "0.1"], ["2.0", "0.2"], ["3.0", "0.3"]]), "array<long>": .lists([["1"], ["2"], ["3"]]), "array<string>": .lists([["x", "1", "0.1", "True"], ["y", "2", "0.2", "False"], ["z", "3", "0.3", "True"]])]),
        Case(name: "list[float]", expression: "[0.5, 1.5, 2.5]",
             expected: ["double": halves, "long": nc, "string": halvesText, "boolean": nc]),
        Case(name: "list[list[float]]", expression: "[[0.5, 9.0], [1.5, 9.0], [2.5, 9.0]]",
             expected: ["double": halves, "long": nc, "string": halvesText, "array<double>": .lists([["0.5", "9.0"], ["1.5", "9.0"], ["2.5", "9.0"]]), "array<long>": nc]),
        Case(name: "dict{a: ints, b: floats}", expression: "{'a': [1, 2, 3], 'b': [0.5, 1.5, 2.5]}",
             expected: ["double": ones, "long": .longs([1, 2, 3]), "string": .strings(["1", "2", "3"]), "boolean": nc, "array<double>": .lists([["1.0", "0.5"], ["2.0", "1.5"], ["3.0", "2.5"]]), "array<long>": .lists([["1"], ["2"], ["3"]])]),
        Case(name: "list[dict]", expression: "[{'a': 1, 'b': 0.5}, {'a': 2, 'b': 1.5}, {'a': 3, 'b': 2.5}]",
             expected: ["double": ones, "long": .longs([1, 2, 3]), "string": .strings(["1", "2", "3"]), "boolean": nc]),
        Case(name: "scalar 3.0", expression: "3.0",
             expected: ["double": .rowMismatch, "long": nc, "string": .rowMismatch]),
        Case(name: "n+1 rows", expression: "np.arange(n + 1, dtype=np.float64)",
             expected: ["double": .rowMismatch]),
    ]

    /// Scores a 3-row batch with a model returning `expression`, as `resultType`.
    static func outcome(_ expression: String, _ resultType: ResultType) throws -> Outcome {
        let dir = try makeExpressionModel(expression)
        return try PythonHost.shared.run { runtime -> Outcome in
            let model = try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path), columnNames: ["0"],
                                        resultType: resultType)
            let column: Column
            do throws(PyFuncModel.PredictError) {
                column = try model.predict([.fixed(.float64, [1.0, 2.0, 3.0])], rowCount: 3)
            } catch {
                let message = error.description
                if message.contains("did not produce any values compatible with the requested type") { return .noCompatibleValues }
                if message.contains("RESULT_ROWS_MISMATCH") || message.contains("OUTPUT_EXCEEDS_INPUT_ROWS") { return .rowMismatch }
                throw TestFailureMessage(message)
            }
            #expect(column.type == resultType.dataType)
            switch resultType {
            case .double:
                return .doubles((0..<3).map { column.isValid($0) ? column.values.typed(Double.self)[$0] : nil })
            case .float:
                return .doubles((0..<3).map { column.isValid($0) ? Double(column.values.typed(Float.self)[$0]) : nil })
            case .int: return .ints(column.array(of: Int32.self))
            case .long: return .longs(column.array(of: Int64.self))
            case .string: return .strings((0..<3).map { column.string(at: $0) ?? "<null>" })
            case .boolean: return .bools(column.array(of: UInt8.self).map { $0 != 0 })
            case .array:
                let offsets = column.offsets!.typed(Int64.self)
                let child = column.children[0]
                return .lists((0..<3).map { row in
                    (Int(offsets[row])..<Int(offsets[row + 1])).map { i -> String? in
                        guard child.isValid(i) else { return nil }
                        switch child.type {
                        case .float64: return "\(child.values.typed(Double.self)[i])"
                        case .int64: return "\(child.values.typed(Int64.self)[i])"
                        default: return child.string(at: i)
                        }
                    }
                })
            default:
                throw TestFailureMessage("no outcome for \(resultType)")
            }
        }
    }

    @Test("conversion matrix", arguments: cases)
    func matrix(_ testCase: Case) throws {
        for (typeName, expected) in testCase.expected.sorted(by: { $0.key < $1.key }) {
            let outcome = try Self.outcome(testCase.expression, ResultType(parsing: typeName))
            #expect(outcome == expected, "\(testCase.name) as \(typeName)")
        }
    }

    @Test("the no-compatible-values message is spark_udf's")
    func noCompatibleMessage() throws {
        let dir = try makeExpressionModel("np.array([0.5, 1.5, 2.5])")
        let message: String? = try PythonHost.shared.run { runtime in
            let model = try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path), columnNames: ["0"], resultType: .int)
            do throws(PyFuncModel.PredictError) { _ = try model.predict([.fixed(.float64, [1.0, 2.0, 3.0])], rowCount: 3) } catch { return error.description }
            return nil
        }
        #expect(message == "The model did not produce any values compatible with the requested type 'IntegerType()'. Consider requesting udf with StringType or Arraytype(StringType).")
    }

    @Test("result type names and Spark's aliases parse; others are refused")
    func parsing() throws {
        #expect(try ResultType(parsing: "DOUBLE") == .double)
        #expect(try ResultType(parsing: "integer") == .int)
        #expect(try ResultType(parsing: "bigint") == .long)
        #expect(try ResultType(parsing: "bool") == .boolean)
        #expect(try ResultType(parsing: "real") == .float)
        #expect(throws: PyFuncError.self) { try ResultType(parsing: "decimal(10,2)") }
    }
}

struct TestFailureMessage: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
