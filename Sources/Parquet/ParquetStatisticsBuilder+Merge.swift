import Columnar

extension ParquetStatisticsBuilder {
    /// The min/max of a column written in pieces (`minMax` of each piece), without the pieces'
    /// values: the least of the minimums and the greatest of the maximums, compared in the
    /// order `minMax` uses for `type`.
    struct Running {
        let type: DataType
        /// "a < b" in `type`'s order; nil for a type not merged here (its min/max are omitted).
        private let less: (([UInt8], [UInt8]) -> Bool)?
        private(set) var extremes: (min: [UInt8], max: [UInt8])?
        /// False once a piece had values but no min/max (byte strings over the length limit),
        /// or `type` is not one merged here: the column's min/max are then unknown, and omitted.
        private(set) var known: Bool

        init(type: DataType) {
            self.type = type
            less = Self.order(type)
            known = less != nil
        }

        /// Adds a piece: its `minMax`, and whether it had any non-null value.
        mutating func add(_ piece: (min: [UInt8], max: [UInt8])?, hadValues: Bool) {
            guard known, let less else { return }
            guard let piece else {
                // Floats without min/max held only NaN (ignored); byte strings were too long.
                if hadValues && !type.isFloatingPoint { known = false }
                return
            }
            guard let current = extremes else {
                extremes = piece
                return
            }
            extremes = (less(piece.min, current.min) ? piece.min : current.min,
                        less(current.max, piece.max) ? piece.max : current.max)
        }

        /// The min/max to store, nil when unknown or when no piece had one.
        var result: (min: [UInt8], max: [UInt8])? { known ? extremes : nil }

        /// "a < b" for two PLAIN-encoded values of `type`, as `minMax` orders them.
        private static func order(_ type: DataType) -> (([UInt8], [UInt8]) -> Bool)? {
            func le<T: FixedWidthInteger>(_: T.Type) -> ([UInt8]) -> T {
                { bytes in bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }.littleEndian }
            }
            switch type {
            case .float64:
                let v = le(UInt64.self)
                // A zero minimum is stored as -0 and a zero maximum as +0; -0 < +0 is false, so
                // either zero kept is the right one.
                return { Double(bitPattern: v($0)) < Double(bitPattern: v($1)) }
            case .float32:
                let v = le(UInt32.self)
                return { Float(bitPattern: v($0)) < Float(bitPattern: v($1)) }
            case .bool:
                return { $0.first ?? 0 < $1.first ?? 0 }
            case .int8, .int16, .int32, .uint8, .uint16, .date32, .time(.milliseconds):
                let v = le(Int32.self)
                return { v($0) < v($1) }
            case .uint32:
                let v = le(UInt32.self)
                return { v($0) < v($1) }
            case .int64, .timestamp, .time(.microseconds), .time(.nanoseconds):
                let v = le(Int64.self)
                return { v($0) < v($1) }
            case .uint64:
                let v = le(UInt64.self)
                return { v($0) < v($1) }
            case .string, .binary:
                return { $0.lexicographicallyPrecedes($1) }
            default:
                return nil
            }
        }
    }
}
