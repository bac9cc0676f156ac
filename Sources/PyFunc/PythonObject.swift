import CPython

/// One strong reference to a Python object, released when the last Swift reference to this
/// value goes away.
///
/// Every `PyObject` the Swift side keeps beyond one call (a loaded model's `Scorer` and its
/// bound methods, the bridge module) is held by one of these, so that dropping the Swift owner
/// drops the Python object too.
///
/// `deinit` may run on any thread and with or without the GIL: ARC releases the last
/// reference wherever the owner happens to be dropped (a test thread, the worker's Python
/// thread between two `withGIL` calls, or inside one). It therefore takes the GIL with
/// `PyGILState_Ensure`, which is correct in all three cases: inside `withGIL` it only counts
/// (the thread already holds the GIL), on the Python thread between calls it restores that
/// thread's own thread state, and on any other thread it makes a temporary one and waits for
/// the GIL. This is safe here because the interpreter is never finalised (workers exit without
/// `Py_FinalizeEx`) and no Swift code holds the GIL while waiting for another Swift thread, so
/// the wait cannot deadlock. Handing the decref to the Python thread instead (PyO3's
/// pending-decref pool) would keep a replaced model in memory until that thread next runs
/// Python, which for a kept-alive worker may be minutes later.
///
/// Not `Sendable`: a Python object is used on the Python thread only; only its release may
/// happen elsewhere.
///
/// Swift may release an object right after its last use, even before the end of its scope
/// (optimised builds do): reading `pointer` is such a use, so a caller that hands `pointer` to
/// C must keep the owner alive until that call returns (`withExtendedLifetime`). The methods
/// here and `PythonRuntime.call` do this themselves; prefer them.
final class PythonObject {
    /// The object, borrowed: valid while this value lives; do not release it.
    let pointer: PyObjectPointer

    /// Takes over `newReference` (a reference the caller owns, e.g. the result of a call).
    init(owning newReference: PyObjectPointer) {
        pointer = newReference
    }

    /// Takes a reference of its own to `borrowed`. The GIL must be held.
    init(borrowing borrowed: PyObjectPointer) {
        Py_IncRef(borrowed)
        pointer = borrowed
    }

    /// Takes over `newReference`, or returns nil when it is NULL (the call raised; the error is pending).
    static func owning(_ newReference: PyObjectPointer?) -> PythonObject? {
        newReference.map { PythonObject(owning: $0) }
    }

    /// A new reference to the object, for a C function that steals one (`PyTuple_SetItem`,
    /// `PyList_SetItem`). The GIL must be held.
    func newReference() -> PyObjectPointer {
        Py_IncRef(pointer)
        return pointer
    }

    /// The attribute `name`, or nil with the Python error pending. The GIL must be held.
    func attribute(_ name: String) -> PythonObject? {
        PythonObject.owning(PyObject_GetAttrString(pointer, name))
    }

    deinit {
        let state = PyGILState_Ensure()
        Py_DecRef(pointer)
        PyGILState_Release(state)
    }
}

@available(*, unavailable)
extension PythonObject: Sendable {}
