import CPython
import Columnar

/// Copies the bridge's converted result `(values, validity, offsets)` into a `Column`.
enum ResultColumnBuilder {
    static func empty(_ resultType: ResultType) -> Column {
        if resultType == .string {
            return Column(type: .string, count: 0, values: ColumnBuffer(zeroedCount: 0), offsets: ColumnBuffer(zeroedCount: 8))
        }
        return Column(type: resultType.dataType, count: 0, values: ColumnBuffer(zeroedCount: 0))
    }

    /// `converted` is the bridge's tuple; its arrays are C-contiguous and of the result type's dtype.
    static func build(from converted: PyObjectPointer, resultType: ResultType, rowCount: Int) -> Column {
        let values = PyTuple_GetItem(converted, 0)!
        let validity = PyTuple_GetItem(converted, 1)!
        let offsets = PyTuple_GetItem(converted, 2)!
        let validityBuffer = cpy_is_none(validity) != 0 ? nil : copy(validity, expected: rowCount)
        if resultType == .string {
            var size = 0
            var pointer: UnsafeMutablePointer<CChar>?
            PyBytes_AsStringAndSize(values, &pointer, &size)
            let data = ColumnBuffer(copying: UnsafeRawBufferPointer(start: pointer, count: size))
            return Column(type: .string, count: rowCount, values: data,
                          offsets: copy(offsets, expected: (rowCount + 1) * 8), validity: validityBuffer)
        }
        let width = resultType.dataType.byteWidth!
        return Column(type: resultType.dataType, count: rowCount, values: copy(values, expected: rowCount * width),
                      validity: validityBuffer)
    }

    /// Copies a contiguous buffer-protocol object (a numpy array) of exactly `expected` bytes.
    private static func copy(_ object: PyObjectPointer, expected: Int) -> ColumnBuffer {
        var view = Py_buffer()
        guard PyObject_GetBuffer(object, &view, PyBUF_C_CONTIGUOUS) == 0 else {
            PyErr_Clear()
            preconditionFailure("bridge returned a non-contiguous result")
        }
        defer { PyBuffer_Release(&view) }
        precondition(view.len == expected, "bridge returned \(view.len) bytes, expected \(expected)")
        return ColumnBuffer(copying: UnsafeRawBufferPointer(start: view.buf, count: view.len))
    }
}
