import CPython
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MLflowModel

typealias PyObjectPointer = UnsafeMutablePointer<PyObject>

/// The embedded CPython interpreter of a worker process.
///
/// There is one per process, started on the thread that will run every Python call (the
/// worker's Python thread). That thread keeps a persistent thread state: the GIL is taken
/// for each piece of work and released between them, which costs tens of nanoseconds and
/// lets threads the model starts make progress while the worker waits for batches.
/// Nothing Python-typed leaves this module; callers get Swift values.
public final class PythonRuntime: @unchecked Sendable {
    /// "3.11": the libpython this binary links.
    public static let linkedMajorMinor = "\(PY_MAJOR_VERSION).\(PY_MINOR_VERSION)"

    /// The full version of the libpython this binary links, e.g. "3.11.2" (safe before the interpreter starts).
    public static var libraryVersion: String {
        String(cString: Py_GetVersion()).split(separator: " ").first.map(String.init) ?? linkedMajorMinor
    }

    public let environment: PythonEnvironment
    /// The running interpreter's version, e.g. "3.11.2".
    public let version: String
    /// The bridge module (`_score_cluster_bridge`), kept for the life of the process.
    let bridge: PythonObject
    private var threadState: UnsafeMutablePointer<PyThreadState>?
    /// The thread that runs every Python call (`adoptCallingThread()` moves it once, in a forked worker).
    private var owner = pthread_self()
    nonisolated(unsafe) private static var started = false

    /// Starts the interpreter on the calling thread with `environment`'s site-packages.
    ///
    /// - Parameter nativeThreads: BLAS/OpenMP threads per worker (default 1, since workers are
    ///   processes); an explicit `OMP_NUM_THREADS` etc. in the environment wins.
    public static func start(environment: PythonEnvironment, nativeThreads: Int = 1) throws(PyFuncError) -> PythonRuntime {
        precondition(!started, "the embedded Python interpreter can be started once per process")
        guard linkedMajorMinor == EmbeddedPython.majorMinor else {
            throw PyFuncError("""
                this score-cluster was compiled against Python \(linkedMajorMinor) headers but is built for Python \
                \(EmbeddedPython.majorMinor) (EmbeddedPython.majorMinor); rebuild against libpython\(EmbeddedPython.majorMinor)
                """)
        }
        started = true
        for name in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"] {
            setenv(name, String(nativeThreads), 0)
        }
        // The jemalloc that pyarrow and polars bundle purge freed pages from a background thread
        // of their own, started at import. A worker that forks its siblings must be down to one
        // thread, and jemalloc's fork handling has missed locks of that purge path (jemalloc
        // issue 2019): without the thread, pages are purged as memory is freed instead.
        for name in ["JE_ARROW_MALLOC_CONF", "_RJEM_MALLOC_CONF"] {
            setenv(name, "background_thread:false", 0)
        }
        let config = UnsafeMutablePointer<PyConfig>.allocate(capacity: 1)
        defer { config.deallocate() }
        // Isolated: a stray PYTHONHOME/PYTHONPATH in the deployment cannot redirect the worker.
        PyConfig_InitIsolatedConfig(config)
        config.pointee.install_signal_handlers = 0
        config.pointee.parse_argv = 0
        config.pointee.buffered_stdio = 0
        // The program path makes Python find the venv's pyvenv.cfg and site-packages.
        var status = PyConfig_SetBytesString(config, config.pointer(to: \.program_name)!, environment.programPath)
        if PyStatus_Exception(status) == 0 {
            status = Py_InitializeFromConfig(config)
        }
        PyConfig_Clear(config)
        if PyStatus_Exception(status) != 0 {
            let why = status.err_msg.map { String(cString: $0) } ?? "unknown error"
            throw PyFuncError("cannot start the embedded Python \(linkedMajorMinor) with environment \(environment.root): \(why)")
        }
        let version = String(cString: Py_GetVersion()).split(separator: " ").first.map(String.init) ?? "?"

        let prefix = PySys_GetObject("prefix").flatMap { PyUnicode_AsUTF8($0) }.map { String(cString: $0) } ?? "?"
        guard URL(fileURLWithPath: prefix).standardizedFileURL.path == environment.root else {
            throw PyFuncError("the embedded Python did not pick up the environment \(environment.root) (sys.prefix is \(prefix))")
        }

        guard let code = Py_CompileString(BridgeSource.code, BridgeSource.fileName, Py_file_input),
              let module = PyImport_ExecCodeModule(BridgeSource.moduleName, code) else {
            let error = PythonRuntime.fetchError(bridge: nil)
            var message = "cannot prepare the embedded Python: \(error)"
            if error.kind == .environment {
                message += ". The environment \(environment.root) must have numpy and pandas installed (pip install numpy pandas)"
            }
            throw PyFuncError(message, traceback: error.traceback)
        }
        Py_DECREF(code)
        let runtime = PythonRuntime(environment: environment, version: version, bridge: PythonObject(owning: module))
        try runtime.callBridgeIgnoringResult("restore_signals")
        // Release the GIL that initialisation left with this thread.
        runtime.threadState = PyEval_SaveThread()
        return runtime
    }

    private init(environment: PythonEnvironment, version: String, bridge: PythonObject) {
        self.environment = environment
        self.version = version
        self.bridge = bridge
    }

    /// Runs `body` holding the GIL. Must be called on the thread that started the runtime.
    func withGIL<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        precondition(pthread_equal(pthread_self(), owner) != 0, "Python used from a thread other than its own")
        PyEval_RestoreThread(threadState)
        defer { threadState = PyEval_SaveThread() }
        return try body()
    }

    /// Forks this process, telling the interpreter before and after (`PyOS_BeforeFork`,
    /// `PyOS_AfterFork_Parent`/`_Child`, which run the hooks modules registered with
    /// `os.register_at_fork`), as `os.fork()` does. Returns 0 in the child, the child's process id
    /// in the parent, -1 when the fork failed (`errno` says why).
    ///
    /// Only safe when this is the process's one thread: a lock another thread held at the fork
    /// stays held for ever in the child. The caller checks (`ForkSafety`).
    public func fork() -> pid_t {
        withGIL {
            PyOS_BeforeFork()
            let pid = Glibc.fork()
            if pid == 0 {
                PyOS_AfterFork_Child()
            } else {
                let saved = errno
                PyOS_AfterFork_Parent()
                errno = saved
            }
            return pid
        }
    }

    /// Makes the calling thread this runtime's Python thread, with a thread state of its own; the
    /// thread that was it must not call Python again. For a forked worker, which runs its life on
    /// a thread started after the fork (see `WorkerProcess+Siblings`).
    public func adoptCallingThread() {
        guard let interpreter = threadState?.pointee.interp, let state = PyThreadState_New(interpreter) else {
            preconditionFailure("the Python runtime has no thread state to adopt from")
        }
        PyEval_RestoreThread(state)
        threadState = PyEval_SaveThread()
        owner = pthread_self()
    }

    /// Readies the interpreter for forks that share its memory (once before a round of `fork()`):
    /// the objects alive now are frozen out of the garbage collector's reach, so that collections
    /// in the children do not copy their pages.
    public func prepareForks() throws(PyFuncError) {
        try withGIL { () throws(PyFuncError) in try callBridgeIgnoringResult("prepare_forks") }
    }

    /// Restores the worker's signal dispositions after a model's imports may have changed them.
    public func restoreSignals() throws(PyFuncError) {
        try withGIL { () throws(PyFuncError) in try callBridgeIgnoringResult("restore_signals") }
    }

    private func callBridgeIgnoringResult(_ name: String) throws(PyFuncError) {
        _ = try callBridge(name, [])
    }

    // MARK: Calling Python (GIL held)

    /// The bridge's attribute `name` (a function or class).
    func bridgeAttribute(_ name: String) throws(PyFuncError) -> PythonObject {
        guard let attribute = bridge.attribute(name) else {
            let error = PythonRuntime.fetchError(bridge: bridge.pointer)
            throw PyFuncError("internal: bridge has no \(name): \(error)")
        }
        return attribute
    }

    /// Calls the bridge function `name` with `arguments` and `keywords` (a dict).
    func callBridge(_ name: String, _ arguments: [PythonObject], keywords: PythonObject? = nil) throws(PyFuncError) -> PythonObject {
        let function = try bridgeAttribute(name)
        do throws(PythonError) {
            return try call(function, arguments, keywords: keywords)
        } catch {
            throw PyFuncError("\(error)", traceback: error.traceback)
        }
    }

    /// Calls `function(*arguments, **keywords)`, keeping all of them alive until it returns.
    func call(_ function: PythonObject, _ arguments: [PythonObject], keywords: PythonObject? = nil) throws(PythonError) -> PythonObject {
        let tuple = PythonObject(owning: PyTuple_New(arguments.count)!)
        for (i, argument) in arguments.enumerated() {
            PyTuple_SetItem(tuple.pointer, i, argument.newReference())
        }
        let result = withExtendedLifetime((function, tuple, keywords)) {
            PyObject_Call(function.pointer, tuple.pointer, keywords?.pointer)
        }
        guard let result else { throw PythonRuntime.fetchError(bridge: bridge.pointer) }
        return PythonObject(owning: result)
    }

    /// Takes the pending Python exception as a `PythonError` (and clears it).
    static func fetchError(bridge: PyObjectPointer?) -> PythonError {
        var type: PyObjectPointer?, value: PyObjectPointer?, traceback: PyObjectPointer?
        PyErr_Fetch(&type, &value, &traceback)
        PyErr_NormalizeException(&type, &value, &traceback)
        defer {
            if let type { Py_DECREF(type) }
            if let value { Py_DECREF(value) }
            if let traceback { Py_DECREF(traceback) }
            PyErr_Clear()
        }
        guard let type else { return PythonError(typeName: "SystemError", message: "error return without exception set") }
        let typeName = describe(PyObject_GetAttrString(type, "__name__"), owned: true) ?? "Exception"
        let message = value.flatMap { describe(PyObject_Str($0), owned: true) } ?? ""
        // The bridge's mark, on the exception or its class; absent on others.
        let kind = value.flatMap { describe(PyObject_GetAttrString($0, "_score_cluster_kind"), owned: true) }
            .flatMap(PythonError.Kind.init(rawValue:))
        var formatted: String?
        if let bridge, let formatter = PyObject_GetAttrString(bridge, "format_exception") {
            let tuple = PyTuple_New(3)!
            for (i, item) in [type, value ?? cpy_none()!, traceback ?? cpy_none()!].enumerated() {
                Py_INCREF(item)
                PyTuple_SetItem(tuple, i, item)
            }
            formatted = describe(PyObject_Call(formatter, tuple, nil), owned: true)
            Py_DECREF(tuple)
            Py_DECREF(formatter)
            PyErr_Clear()
        }
        return PythonError(typeName: typeName, message: message, traceback: formatted, kind: kind)
    }

    /// `str` of a Python string object; releases it when `owned`.
    static func describe(_ object: PyObjectPointer?, owned: Bool) -> String? {
        guard let object else { PyErr_Clear(); return nil }
        defer { if owned { Py_DECREF(object) } }
        guard let utf8 = PyUnicode_AsUTF8(object) else { PyErr_Clear(); return nil }
        return String(cString: utf8)
    }
}
