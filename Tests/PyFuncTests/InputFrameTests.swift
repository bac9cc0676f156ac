import Columnar
import Foundation
import Testing
@testable import MLflowModel
@testable import PyFunc

/// What predict receives: names, dtypes, nulls, and memory shared with the Swift buffers.
@Suite("The DataFrame handed to predict", .serialized)
struct InputFrameTests {
    /// Scores `columns` with a model returning `expression` as strings (one per row).
    func strings(_ expression: String, _ columns: [Column], names: [String]? = nil) throws -> [String] {
        let dir = try makeExpressionModel(expression)
        let rows = columns[0].count
        return try PythonHost.shared.run { runtime in
            let model = try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path),
                                        columnNames: names ?? columns.indices.map(String.init), resultType: .string)
            let out = try model.predict(columns, rowCount: rows)
            return (0..<rows).map { out.string(at: $0) ?? "<null>" }
        }
    }

    /// Scores with a model returning `expression` as longs.
    func longs(_ expression: String, _ columns: [Column]) throws -> [Int64] {
        let dir = try makeExpressionModel(expression)
        let rows = columns[0].count
        return try PythonHost.shared.run { runtime in
            let model = try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path),
                                        columnNames: columns.indices.map(String.init), resultType: .long)
            return try model.predict(columns, rowCount: rows).array(of: Int64.self)
        }
    }

    @Test("columns are named by ordinals, as spark_udf names them")
    func ordinalNames() throws {
        let columns: [Column] = [.fixed(.float64, [1.0, 2.0]), .fixed(.int64, [Int64(3), 4])]
        let names = try strings("['|'.join(df.columns)] * n", columns)
        #expect(names == ["0|1", "0|1"])
    }

    @Test("dtypes and nulls are what pyarrow's to_pandas() gives")
    func dtypesLikePyarrow() throws {
        let columns: [Column] = [
            .fixed(.float64, [1.0, .nan], validity: [true, false]),
            .fixed(.int64, [Int64(1), 0], validity: [true, false]),
            .fixed(.int32, [Int32(1), 2]),
            .fixed(.bool, [UInt8(1), 0], validity: [true, false]),
            .fixed(.bool, [UInt8(1), 0]),
            .strings(["a", nil]),
            .fixed(.float32, [Float(1), 2]),
        ]
        let dtypes = try strings("[','.join(str(t) for t in df.dtypes)] * n", columns)
        #expect(dtypes[0] == "float64,float64,int32,object,bool,str,float32")
        let nulls = try strings("[','.join(str(v) for v in df.iloc[1])] * n", columns)
        #expect(nulls[0] == "nan,nan,2,None,False,nan,2.0")
    }

    @Test("float64 features reach pandas without a copy, as one block")
    func zeroCopyBlock() throws {
        let a = Column.fixed(.float64, [1.0, 2.0, 3.0])
        let b = Column.fixed(.float64, [4.0, 5.0, 6.0])
        // Lay the two columns out back to back as the wire does.
        let block = ColumnBuffer(uninitializedCount: 48)
        block.mutableBase.copyMemory(from: a.values.base, byteCount: 24)
        (block.mutableBase + 24).copyMemory(from: b.values.base, byteCount: 24)
        let columns = [Column(type: .float64, count: 3, values: block.slice(0..<24)),
                       Column(type: .float64, count: 3, values: block.slice(24..<48))]
        let address = Int64(Int(bitPattern: block.base))
        let seen = try longs("np.array([df['0'].to_numpy().__array_interface__['data'][0], df['1'].to_numpy().__array_interface__['data'][0], df._mgr.nblocks])", columns)
        #expect(seen == [address, address + 24, 1])
    }

    @Test("mixed dtypes reach pandas without copying the numeric columns")
    func zeroCopyMixed() throws {
        let ints = Column.fixed(.int64, [Int64(7), 8, 9])
        let floats = Column.fixed(.float64, [1.0, 2.0, 3.0])
        let seen = try longs("np.array([df['0'].to_numpy().__array_interface__['data'][0], df['1'].to_numpy().__array_interface__['data'][0], 0])", [ints, floats])
        #expect(seen[0] == Int64(Int(bitPattern: ints.values.base)))
        #expect(seen[1] == Int64(Int(bitPattern: floats.values.base)))
    }

    @Test("an empty batch does not call predict")
    func emptyBatch() throws {
        let dir = try makeExpressionModel("1/0")
        let count = try PythonHost.shared.run { runtime in
            try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path), columnNames: ["0"], resultType: .double)
                .predict([.fixed(.float64, [Double]())], rowCount: 0).count
        }
        #expect(count == 0)
    }

    @Test("a model that raises gives its exception and traceback")
    func modelRaises() throws {
        let dir = try makeExpressionModel("np.log(df['missing'])")
        let error: PyFuncModel.PredictError? = try PythonHost.shared.run { runtime in
            let model = try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path), columnNames: ["0"], resultType: .double)
            do throws(PyFuncModel.PredictError) { _ = try model.predict([.fixed(.float64, [1.0])], rowCount: 1) } catch { return error }
            return nil
        }
        guard case .modelRaised(let python) = try #require(error) else { Issue.record("not a model error"); return }
        #expect(python.typeName == "KeyError")
        #expect(python.traceback?.contains("expression_model_") == true)
        #expect(python.traceback?.contains("in predict") == true)
    }

    @Test("a model that keeps its input keeps the batch alive instead of reading freed memory")
    func modelKeepsInput() throws {
        let dir = try makeExpressionModel("(pd.__dict__.setdefault('_test_kept', []).append(df), df['0'].to_numpy() + sum(float(k['0'].sum()) for k in pd._test_kept))[1]")
        let values = try PythonHost.shared.run { runtime in
            let model = try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path), columnNames: ["0"], resultType: .double)
            var last: [Double] = []
            for i in 0..<3 {
                // Each batch's buffer is released by Swift after predict; the model still reads all of them.
                last = try model.predict([.fixed(.float64, [Double(i), 1.0])], rowCount: 2).array(of: Double.self)
            }
            return last
        }
        // kept sums: (0+1) + (1+1) + (2+1) = 6
        #expect(values == [8.0, 7.0])
    }
}
