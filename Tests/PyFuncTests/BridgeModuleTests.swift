import Foundation
import TestSupport
import Testing
@testable import PyFunc

/// The bridge's Python as a Python file: it compiles, imports with the project's environment
/// alone, and is what the binary embeds.
///
/// One Python process for both checks: Foundation's pipe reads in `TestEnvironment.run` can fail
/// with EINTR (a crash) when another child's SIGCHLD lands on their thread, so the fewer at once the better.
@Suite("The bridge module as Python", .serialized)
struct BridgeModuleTests {
    static let path = TestEnvironment.repoRoot.appendingPathComponent("Sources/PyFunc/Python/_score_cluster_bridge.py").path

    @Test("the binary embeds the file as it is on disk")
    func embeddedIsTheFile() throws {
        #expect(BridgeSource.code == (try String(contentsOfFile: Self.path, encoding: .utf8)))
    }

    @Test("it compiles with the environment's python, and imported as a plain module it converts a prediction as spark_udf does")
    func compilesAndConverts() throws {
        let output = try TestEnvironment.runPython("""
            import importlib.util, sys
            import numpy as np
            sys.dont_write_bytecode = True  # no __pycache__ in the target's sources
            with open(sys.argv[1], encoding="utf-8") as f:
                compile(f.read(), sys.argv[1], "exec")
            spec = importlib.util.spec_from_file_location("_score_cluster_bridge", sys.argv[1])
            bridge = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(bridge)
            values, validity, offsets = bridge.convert(np.array([1, 2, 3]), "double", 3)
            print(values.dtype, values.tolist(), validity, offsets)
            values, validity, offsets = bridge.convert(np.array([1.5, np.nan]), "float", 2)
            print(values.dtype, validity.tolist())
            """, [Self.path])
        #expect(output == "float64 [1.0, 2.0, 3.0] None None\nfloat32 [True, False]\n")
    }
}
