import CPython
import Foundation
import MLflowModel
import Testing
@testable import PyFunc

/// The Swift configuration and the bridge's `Scorer` agree on every keyword.
@Suite("Scorer's configuration", .serialized)
struct ScorerConfigurationTests {
    /// `str(eval(expression))` with `names` in scope, on the Python thread.
    private func evaluate(_ runtime: PythonRuntime, _ expression: String, _ names: [String: PythonObject]) -> String? {
        runtime.withGIL {
            let globals = PythonObject(owning: PyDict_New()!)
            PyDict_SetItemString(globals.pointer, "__builtins__", PyEval_GetBuiltins())
            for (name, value) in names { PyDict_SetItemString(globals.pointer, name, value.pointer) }
            let result = withExtendedLifetime(globals) {
                PythonObject.owning(PyRun_String(expression, Py_eval_input, globals.pointer, globals.pointer))
            }
            guard let result else { return "raised: \(PythonRuntime.fetchError(bridge: nil))" }
            return withExtendedLifetime(result) { PythonRuntime.describe(PyObject_Str(result.pointer), owned: true) }
        }
    }

    private let configuration = ScorerConfiguration(
        flavor: try! MLModel(directory: makeExpressionModel("df['0']").path).pyfunc,
        invocation: .init(labels: ["a", "b"], integerLabels: true, enforcedTypes: ["double", nil],
                          modelConfigJSON: #"{"k": 1}"#, resultType: .float, outputField: "out", strictTypes: true))

    @Test("its keywords are exactly the parameters of Scorer.__init__, all keyword-only")
    func keywordsMatchTheBridge() throws {
        let parameters = try PythonHost.shared.run { runtime in
            let scorer = try runtime.withGIL { () throws(PyFuncError) in try runtime.bridgeAttribute("Scorer") }
            return evaluate(runtime, "','.join(sorted(n for n, p in __import__('inspect').signature(scorer).parameters.items() if p.kind == p.KEYWORD_ONLY))",
                            ["scorer": scorer])
        }
        #expect(parameters == ScorerConfiguration.Key.allCases.map(\.rawValue).sorted().joined(separator: ","))
    }

    @Test("it renders to a dict of Python values once")
    func rendersValues() throws {
        let rendered = try PythonHost.shared.run { runtime in
            let keywords = runtime.withGIL { configuration.keywordArguments() }
            return evaluate(runtime, "[(k, v) for k, v in sorted(kwargs.items()) if k not in ('code_dir', 'data_path', 'loader_module')]",
                            ["kwargs": keywords])
        }
        #expect(rendered == """
            [('enforced_types', ['double', None]), ('labels', [0, 1]), ('model_config_json', '{"k": 1}'), \
            ('output_field', 'out'), ('params_json', None), ('predict_fn', 'predict'), ('result_type', 'float'), ('strict_types', True)]
            """)
    }
}
