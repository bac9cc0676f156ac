import Columnar
import Foundation

/// Hive-style partition directories, as Spark's `partitionBy` and pyarrow's
/// `partitioning="hive"` write them: `date=2026-12-01/country=FR/part-0.parquet`. Each
/// `key=value` directory level is a column of the dataset whose value is constant within it.
///
/// Types are inferred from every value of a key as Spark infers them
/// (`spark.sql.sources.partitionColumnTypeInference.enabled`): integers (int32, else int64;
/// larger ones, Spark's decimal(n, 0), are kept exactly as strings), then doubles, dates (`yyyy-MM-dd`), timestamps (`yyyy-MM-dd HH:mm:ss[.ffffff]`, read as UTC),
/// else strings; values of different kinds widen (int32 to int64 to double) or fall back to
/// string. `__HIVE_DEFAULT_PARTITION__` (and an empty value) is null. Names and values are
/// unescaped from `%XX`, as Spark escapes them.
public struct HivePartitioning: Sendable, Equatable {
    /// A partition column: its key as the name, its inferred type, and whether some directory
    /// holds its null value.
    public typealias Key = Field

    /// A partition value, typed as its key.
    public enum Value: Sendable, Equatable, Hashable {
        case null
        case int(Int64)
        case double(Double)
        /// Days since 1970-01-01.
        case date(Int32)
        /// Microseconds since 1970-01-01 00:00:00 UTC.
        case timestamp(Int64)
        case string(String)
    }

    public static let defaultPartitionName = "__HIVE_DEFAULT_PARTITION__"

    public let keys: [Key]
    /// Per file, its partition directory relative to the dataset (`date=2026-12-01/country=FR`, as written).
    public let directories: [String]
    /// Per file, its value of each key.
    public let values: [[Value]]

    /// The partitioning of files at `relativePaths` (relative to the dataset's root; the last
    /// component is the file). Nil when no file is below a `key=value` directory.
    /// - Throws: `DatasetError` when the files' directories do not hold the same keys in the same
    ///   order (or some files lie outside any partition directory), naming two such files.
    public init?(relativePaths: [String], root: String) throws(DatasetError) {
        var parsed: [(directory: String, pairs: [(String, String)])] = []
        for path in relativePaths {
            let components = path.split(separator: "/").dropLast().map(String.init)
            var pairs: [(String, String)] = []
            for component in components {
                guard let split = Self.split(component) else {
                    throw DatasetError("\(root)/\(path) lies in '\(component)', which is not a key=value partition directory")
                }
                pairs.append(split)
            }
            parsed.append((components.joined(separator: "/"), pairs))
        }
        guard let first = parsed.first, parsed.contains(where: { !$0.pairs.isEmpty }) else { return nil }
        let names = first.pairs.map(\.0)
        for (i, file) in parsed.enumerated() where file.pairs.map(\.0) != names {
            throw DatasetError("""
                the partition directories differ: \(root)/\(relativePaths[0]) is under \(names.isEmpty ? "no partition directory" : names.joined(separator: "/")), \
                \(root)/\(relativePaths[i]) under \(file.pairs.isEmpty ? "no partition directory" : file.pairs.map(\.0).joined(separator: "/")); \
                every file must lie at the same depth of key=value directories
                """)
        }
        guard Set(names).count == names.count else {
            throw DatasetError("the partition directories of \(root) repeat a key (\(names.joined(separator: "/")))")
        }
        var keys: [Key] = []
        var columns: [[Value]] = []
        for (k, name) in names.enumerated() {
            let raw = parsed.map { $0.pairs[k].1 }
            let (type, typed) = Self.infer(raw)
            keys.append(Key(name: name, type: type, nullable: typed.contains(.null)))
            columns.append(typed)
        }
        self.keys = keys
        self.directories = parsed.map(\.directory)
        self.values = parsed.indices.map { f in columns.map { $0[f] } }
    }

    private init(keys: [Key], directories: [String], values: [[Value]]) {
        self.keys = keys
        self.directories = directories
        self.values = values
    }

    /// The partitioning of one file in partition directory `directory` (`date=2026-12-01/country=FR`,
    /// as written), its values typed as `keys` say (as the whole dataset typed them): a worker
    /// reading a partition of the dataset (`--workers-read`).
    /// - Throws: `DatasetError` when the directory does not hold those keys in that order, or a
    ///   value cannot be read as its key's type.
    public init(keys: [Key], directory: String) throws(DatasetError) {
        let pairs = directory.split(separator: "/").map(String.init).compactMap(Self.split)
        guard pairs.map(\.0) == keys.map(\.name) else {
            throw DatasetError("the partition directory '\(directory)' does not hold the keys \(keys.map(\.name).joined(separator: "/"))")
        }
        var values: [Value] = []
        for (key, (_, text)) in zip(keys, pairs) {
            guard !Self.isNull(text) else { values.append(.null); continue }
            let value: Value? = switch key.type {
            case .int32, .int64: Int64(text).map { .int($0) }
            case .float64: Double(text).map { .double($0) }
            case .date32: Self.parseDate(text).map { .date($0) }
            case .timestamp: Self.parseTimestamp(text).map { .timestamp($0) }
            default: .string(text)
            }
            guard let value else { throw DatasetError("the partition directory '\(directory)': '\(text)' is not a \(key.type) value of \(key.name)") }
            values.append(value)
        }
        self.init(keys: keys, directories: [directory], values: [values])
    }

    /// The partitioning of the files `kept` (indices, in order), types unchanged.
    public func selecting(_ kept: [Int]) -> HivePartitioning {
        HivePartitioning(keys: keys, directories: kept.map { directories[$0] }, values: kept.map { values[$0] })
    }

    /// `key=value` unescaped, or nil for a name that is not one.
    static func split(_ component: String) -> (String, String)? {
        guard let equals = component.firstIndex(of: "="), equals != component.startIndex else { return nil }
        let key = unescape(String(component[..<equals]))
        let value = unescape(String(component[component.index(after: equals)...]))
        return (key, value)
    }

    /// `%XX` sequences decoded (Spark escapes `/`, `=`, `:`, `%` and others so); anything else kept.
    static func unescape(_ text: String) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "%"), i + 2 < utf8.count, let byte = UInt8(String(decoding: utf8[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                bytes.append(byte)
                i += 3
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The type Spark infers for these values, and the values as that type.
    static func infer(_ raw: [String]) -> (DataType, [Value]) {
        let present = raw.filter { !isNull($0) }
        let type: DataType
        if present.isEmpty {
            type = .string
        } else if present.allSatisfy({ Int32($0) != nil }) {
            type = .int32
        } else if present.allSatisfy({ Int64($0) != nil }) {
            type = .int64
        } else if present.allSatisfy(isIntegerText) {
            // Spark makes these decimal(n, 0); kept exact as text rather than rounded to a double.
            type = .string
        } else if present.allSatisfy({ Double($0) != nil && $0.rangeOfCharacter(from: .letters.subtracting(CharacterSet(charactersIn: "eE"))) == nil }) {
            type = .float64
        } else if present.allSatisfy({ parseDate($0) != nil }) {
            type = .date32
        } else if present.allSatisfy({ parseTimestamp($0) != nil }) {
            type = .timestamp(.microseconds, utc: true)
        } else {
            type = .string
        }
        let values: [Value] = raw.map { text in
            if isNull(text) { return .null }
            switch type {
            case .int32, .int64: return .int(Int64(text)!)
            case .float64: return .double(Double(text)!)
            case .date32: return .date(parseDate(text)!)
            case .timestamp: return .timestamp(parseTimestamp(text)!)
            default: return .string(text)
            }
        }
        return (type, values)
    }

    /// Digits with an optional sign.
    static func isIntegerText(_ text: String) -> Bool {
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    static func isNull(_ text: String) -> Bool { text.isEmpty || text == defaultPartitionName }

    /// `yyyy-MM-dd` as days since the epoch.
    static func parseDate(_ text: String) -> Int32? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), d >= 1,
              d <= daysInMonth(y, m) else { return nil }
        return Int32(daysFromCivil(y, m, d))
    }

    /// `yyyy-MM-dd HH:mm:ss[.f{1,9}]` (or with `T`) as microseconds since the epoch, UTC.
    static func parseTimestamp(_ text: String) -> Int64? {
        let separator = text.firstIndex { $0 == " " || $0 == "T" }
        guard let separator, let days = parseDate(String(text[..<separator])) else { return nil }
        let time = text[text.index(after: separator)...]
        let (clock, fraction) = time.firstIndex(of: ".").map { (time[..<$0], String(time[time.index(after: $0)...])) } ?? (time, "")
        let hms = clock.split(separator: ":", omittingEmptySubsequences: false)
        guard hms.count == 3, hms.allSatisfy({ $0.count == 2 }), let h = Int(hms[0]), let mi = Int(hms[1]), let s = Int(hms[2]),
              h < 24, mi < 60, s < 60, fraction.count <= 9, fraction.allSatisfy(\.isASCII), fraction.allSatisfy(\.isNumber) else { return nil }
        let micros = fraction.isEmpty ? 0 : Int64((fraction + String(repeating: "0", count: 9 - fraction.count)).prefix(6))!
        return (Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + s)) * 1_000_000 + micros
    }

    private static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        [31, (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
    }

    /// Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Key `key`'s value for file `file` as a column of `rows` rows.
    public func column(key: Int, file: Int, rows: Int) -> Column {
        let type = keys[key].type
        let value = values[file][key]
        let valid = value == .null ? [Bool](repeating: false, count: rows) : nil
        switch (type, value) {
        case (.int32, .int(let v)): return .fixed(.int32, [Int32](repeating: Int32(v), count: rows))
        case (.int64, .int(let v)): return .fixed(.int64, [Int64](repeating: v, count: rows))
        case (.float64, .double(let v)): return .fixed(.float64, [Double](repeating: v, count: rows))
        case (.date32, .date(let v)): return .fixed(.date32, [Int32](repeating: v, count: rows))
        case (.timestamp, .timestamp(let v)): return .fixed(type, [Int64](repeating: v, count: rows))
        case (.string, .string(let v)): return .strings([String?](repeating: v, count: rows))
        case (.string, _): return .strings([String?](repeating: nil, count: rows))
        default:
            // A null value: zeros under an all-null validity.
            let width = type.byteWidth ?? 8
            switch width {
            case 4: return .fixed(type, [Int32](repeating: 0, count: rows), validity: valid)
            default: return .fixed(type, [Int64](repeating: 0, count: rows), validity: valid)
            }
        }
    }
}
