import CPython
import Columnar
import MLflowModel

/// Copies the bridge's converted result into a `Column`: `(values, validity, offsets)` for the
/// primitives, a tree of `(values, validity, offsets, children)` for arrays, structs and maps.
enum ResultColumnBuilder {
    static func empty(_ resultType: ResultType) -> Column { empty(resultType.dataType) }

    private static func empty(_ type: DataType) -> Column {
        Column(type: type, count: 0, values: ColumnBuffer(zeroedCount: 0),
               offsets: type.isVariableWidth || type.isNested && !isStruct(type) ? ColumnBuffer(zeroedCount: 8) : nil,
               children: type.childTypes.map(empty))
    }

    /// `converted` is the bridge's tuple; its arrays are C-contiguous and of the result type's dtype.
    static func build(from converted: PyObjectPointer, resultType: ResultType, rowCount: Int) -> Column {
        build(node: converted, type: resultType.dataType, rowCount: rowCount)
    }

    private static func build(node: PyObjectPointer, type: DataType, rowCount: Int) -> Column {
        let values = PyTuple_GetItem(node, 0)!
        let validity = PyTuple_GetItem(node, 1)!
        let offsets = PyTuple_GetItem(node, 2)!
        let validityBuffer = cpy_is_none(validity) != 0 ? nil : copy(validity, expected: rowCount)
        if type.isNested {
            let children = PyTuple_GetItem(node, 3)!
            let offsetsBuffer = cpy_is_none(offsets) != 0 ? nil : copy(offsets, expected: (rowCount + 1) * 8)
            // A list's or map's children have as many rows as its last offset; a struct's, as it.
            let childRows = offsetsBuffer.map { Int($0.typed(Int64.self)[rowCount]) } ?? rowCount
            let columns = type.childTypes.enumerated().map { k, childType in
                build(node: PyList_GetItem(children, k)!, type: childType, rowCount: childRows)
            }
            return Column(type: type, count: rowCount, values: ColumnBuffer(zeroedCount: 0), offsets: offsetsBuffer,
                          validity: validityBuffer, children: columns)
        }
        if type == .string {
            var size = 0
            var pointer: UnsafeMutablePointer<CChar>?
            PyBytes_AsStringAndSize(values, &pointer, &size)
            let data = ColumnBuffer(copying: UnsafeRawBufferPointer(start: pointer, count: size))
            return Column(type: .string, count: rowCount, values: data,
                          offsets: copy(offsets, expected: (rowCount + 1) * 8), validity: validityBuffer)
        }
        let width = type.byteWidth!
        return Column(type: type, count: rowCount, values: copy(values, expected: rowCount * width), validity: validityBuffer)
    }

    private static func isStruct(_ type: DataType) -> Bool {
        if case .structure = type { return true }
        return false
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
