import CPython
import Columnar
import Foundation
import MLflowModel
import TestSupport
import Testing
@testable import PyFunc

/// A `PyFuncModel` that goes away takes its Python model with it, whichever thread drops it.
@Suite("Releasing loaded models", .serialized)
struct ModelReleaseTests {
    /// A seed-format model whose loader records a weak reference to each model it makes under
    /// `key` (in `builtins`), and, with `cycle`, makes each model refer to itself.
    private func makeTrackedModel(key: String, cycle: Bool) throws -> URL {
        let dir = try TestEnvironment.makeTemporaryDirectory("tracked-model")
        let module = "tracked_model_" + dir.lastPathComponent.replacingOccurrences(of: "-", with: "_")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("code"), withIntermediateDirectories: true)
        try "flavors:\n  python_function:\n    loader_module: \(module)\n    code: code\n"
            .write(to: dir.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
        try """
            import builtins, weakref

            class Tracked:
                def predict(self, df):
                    return df['0']

            def load_pyfunc(path):
                model = Tracked()
                \(cycle ? "model.me = model" : "")
                builtins.__dict__.setdefault('\(key)', []).append(weakref.ref(model))
                return model
            """.write(to: dir.appendingPathComponent("code/\(module).py"), atomically: true, encoding: .utf8)
        return dir
    }

    /// How many models recorded under `key` are still alive. Runs on the Python thread.
    private func alive(_ runtime: PythonRuntime, _ key: String) -> Int {
        runtime.withGIL {
            let builtins = PythonObject(owning: PyImport_ImportModule("builtins")!)
            guard PyRun_SimpleString("import builtins\nbuiltins._tracked_alive = sum(r() is not None for r in builtins.\(key))\n") == 0,
                  let count = builtins.attribute("_tracked_alive") else { return -1 }
            return withExtendedLifetime(count) { PyLong_AsLong(count.pointer) }
        }
    }

    @Test("a model dropped on the Python thread, outside any Python call, is released at once")
    func releasedOnPythonThread() throws {
        let dir = try makeTrackedModel(key: "_tracked_python_thread", cycle: false)
        let counts = try PythonHost.shared.run { runtime in
            var model: PyFuncModel? = try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path),
                                                      columnNames: ["0"], resultType: .double)
            _ = try model!.predict([.fixed(.float64, [1.0, 2.0])], rowCount: 2)
            let loaded = alive(runtime, "_tracked_python_thread")
            model = nil
            return [loaded, alive(runtime, "_tracked_python_thread")]
        }
        #expect(counts == [1, 0])
    }

    @Test("a model dropped on another thread takes the GIL to release itself")
    func releasedOnAnotherThread() throws {
        let dir = try makeTrackedModel(key: "_tracked_other_thread", cycle: false)
        var model: PyFuncModel? = try PythonHost.shared.run { runtime in
            try PyFuncModel(runtime: runtime, model: MLModel(directory: dir.path), columnNames: ["0"], resultType: .double)
        }
        #expect(try PythonHost.shared.run { alive($0, "_tracked_other_thread") } == 1)
        model = nil  // on this test thread, which has no Python thread state
        #expect(model == nil)
        #expect(try PythonHost.shared.run { alive($0, "_tracked_other_thread") } == 0)
    }

    @Test("a model in a reference cycle is collected when the next model is loaded")
    func cycleCollectedOnReplace() throws {
        let first = try makeTrackedModel(key: "_tracked_cycle", cycle: true)
        let second = try makeTrackedModel(key: "_tracked_cycle_next", cycle: false)
        let counts = try PythonHost.shared.run { runtime in
            var model: PyFuncModel? = try PyFuncModel(runtime: runtime, model: MLModel(directory: first.path),
                                                      columnNames: ["0"], resultType: .double)
            model = nil
            model = try PyFuncModel(runtime: runtime, model: MLModel(directory: second.path), columnNames: ["0"], resultType: .double)
            return withExtendedLifetime(model) { [alive(runtime, "_tracked_cycle"), alive(runtime, "_tracked_cycle_next")] }
        }
        #expect(counts == [0, 1])
    }
}
