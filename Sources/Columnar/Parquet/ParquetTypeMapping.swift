/// Maps Parquet leaf types to score-cluster's in-memory `DataType` and back.
///
/// Reading: one function decides, from a leaf's physical type and its LogicalType (which wins)
/// or legacy ConvertedType, which `DataType` the decoded column has, or why it cannot be read
/// yet. Widening support means adding a case here and, if the bytes need converting, a
/// conversion in `ColumnChunkDecoder`.
enum ParquetTypeMapping {
    /// The outcome of mapping one leaf.
    struct ReadMapping {
        var dataType: DataType?
        var unsupportedReason: String?
    }

    /// A human-readable annotation of `element` (LogicalType, else ConvertedType), if any.
    static func annotationDescription(_ element: ParquetSchemaElement) -> String? {
        if let lt = element.logicalType { return lt.description }
        if let ct = element.convertedType {
            if ct == .decimal { return "DECIMAL(\(element.precision ?? 0),\(element.scale ?? 0))" }
            return ct.name
        }
        if let raw = element.unknownConvertedType { return "converted type \(raw)" }
        return nil
    }

    /// The `DataType` a flat leaf decodes to, or the reason it cannot be decoded.
    static func readMapping(_ element: ParquetSchemaElement) -> ReadMapping {
        guard let physical = element.type else { return unsupported("group node has no physical type") }
        let annotation = annotationDescription(element)
        func notYet() -> ReadMapping {
            unsupported("\(physical.name)\(annotation.map { " \($0)" } ?? "") is not supported yet")
        }
        switch physical {
        case .boolean:
            return supported(.bool)
        case .int32:
            if let lt = element.logicalType {
                guard case let .integer(bits, signed) = lt else { return notYet() }
                switch (bits, signed) {
                case (8, true): return supported(.int8)
                case (16, true): return supported(.int16)
                case (32, true): return supported(.int32)
                case (8, false): return supported(.uint8)
                case (16, false): return supported(.uint16)
                case (32, false): return supported(.uint32)
                default: return unsupported("INT32 with \(lt.description) is invalid")
                }
            }
            switch element.convertedType {
            case nil where element.unknownConvertedType == nil: return supported(.int32)
            case .int8?: return supported(.int8)
            case .int16?: return supported(.int16)
            case .int32?: return supported(.int32)
            case .uint8?: return supported(.uint8)
            case .uint16?: return supported(.uint16)
            case .uint32?: return supported(.uint32)
            default: return notYet()
            }
        case .int64:
            if let lt = element.logicalType {
                guard case let .integer(bits, signed) = lt else { return notYet() }
                guard bits == 64 else { return unsupported("INT64 with \(lt.description) is invalid") }
                return supported(signed ? .int64 : .uint64)
            }
            switch element.convertedType {
            case nil where element.unknownConvertedType == nil: return supported(.int64)
            case .int64?: return supported(.int64)
            case .uint64?: return supported(.uint64)
            default: return notYet()
            }
        case .float:
            return element.logicalType == nil && element.convertedType == nil ? supported(.float32) : notYet()
        case .double:
            return element.logicalType == nil && element.convertedType == nil ? supported(.float64) : notYet()
        case .byteArray:
            if let lt = element.logicalType {
                switch lt {
                case .string, .enumType, .json: return supported(.string)
                // Raw bytes are the faithful reading of these; unknown future ids are skipped
                // annotations on plain BYTE_ARRAY (spec: readers must not fail on them).
                case .bson, .geometry, .geography, .other: return supported(.binary)
                default: return notYet()
                }
            }
            switch element.convertedType {
            case nil: return supported(.binary)
            case .utf8?, .enumType?, .json?: return supported(.string)
            case .bson?: return supported(.binary)
            default: return notYet()
            }
        case .int96, .fixedLenByteArray:
            return notYet()
        }
    }

    private static func supported(_ t: DataType) -> ReadMapping { ReadMapping(dataType: t, unsupportedReason: nil) }
    private static func unsupported(_ reason: String) -> ReadMapping { ReadMapping(dataType: nil, unsupportedReason: reason) }

    // MARK: Writing

    /// Whether `writeElement` and the encoder handle `type`.
    static func canWrite(_ type: DataType) -> Bool {
        switch type {
        case .bool, .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64, .float32, .float64, .string, .binary: true
        default: false
        }
    }

    /// The schema element a writer emits for a column of `type`: physical type plus LogicalType
    /// and the matching ConvertedType (both, for readers that know only one of them).
    static func writeElement(name: String, type: DataType, nullable: Bool) -> ParquetSchemaElement {
        var e = ParquetSchemaElement()
        e.name = name
        e.repetition = nullable ? .optional : .required
        switch type {
        case .bool: e.type = .boolean
        case .int8: e.type = .int32; e.logicalType = .integer(bitWidth: 8, isSigned: true); e.convertedType = .int8
        case .int16: e.type = .int32; e.logicalType = .integer(bitWidth: 16, isSigned: true); e.convertedType = .int16
        case .int32: e.type = .int32
        case .int64: e.type = .int64
        case .uint8: e.type = .int32; e.logicalType = .integer(bitWidth: 8, isSigned: false); e.convertedType = .uint8
        case .uint16: e.type = .int32; e.logicalType = .integer(bitWidth: 16, isSigned: false); e.convertedType = .uint16
        case .uint32: e.type = .int32; e.logicalType = .integer(bitWidth: 32, isSigned: false); e.convertedType = .uint32
        case .uint64: e.type = .int64; e.logicalType = .integer(bitWidth: 64, isSigned: false); e.convertedType = .uint64
        case .float32: e.type = .float
        case .float64: e.type = .double
        case .string: e.type = .byteArray; e.logicalType = .string; e.convertedType = .utf8
        case .binary: e.type = .byteArray
        default: preconditionFailure("\(type) is not writable; check canWrite first")
        }
        return e
    }
}
