import Columnar

/// A condition on partition columns (`--input-filter "date >= '2026-12-01' AND country IN ('FR', 'DE')"`),
/// evaluated per partition directory before any file is opened, as Spark prunes partitions.
///
/// Grammar (SQL's, case-insensitive keywords): comparisons `=`, `==`, `!=`, `<>`, `<`, `<=`,
/// `>`, `>=` between a partition column and a literal (a quoted string or a number);
/// `column IN (literal, ...)`, `column NOT IN (...)`, `column IS NULL`, `column IS NOT NULL`;
/// `AND`, `OR`, `NOT` and parentheses. A literal is read as the column's type (a date column
/// compares with `'2026-12-01'`, an integer one with `7` or `'7'`). As in SQL, a comparison with
/// a null value is not true, so `NOT (x = 1)` leaves out the null partitions too.
public indirect enum PartitionFilter: Sendable, Equatable {
    case compare(key: Int, op: Comparison, literal: HivePartitioning.Value)
    case isIn(key: Int, literals: [HivePartitioning.Value])
    case isNull(key: Int)
    case not(PartitionFilter)
    case and(PartitionFilter, PartitionFilter)
    case or(PartitionFilter, PartitionFilter)

    public enum Comparison: String, Sendable { case eq = "=", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=" }

    /// Parses `text` against the dataset's partition keys.
    /// - Throws: `DatasetError` naming what is wrong: a column that is not a partition column
    ///   (listing those that are), a literal that is not of the column's type, a syntax error
    ///   with its position.
    public static func parse(_ text: String, keys: [HivePartitioning.Key]) throws(DatasetError) -> PartitionFilter {
        var parser = Parser(tokens: try tokenize(text), keys: keys, text: text)
        let filter = try parser.expression()
        guard parser.position == parser.tokens.count else {
            throw parser.error("unexpected \(parser.tokens[parser.position].text)")
        }
        return filter
    }

    /// Whether a directory with `values` (one per key) passes: nil (SQL's unknown) does not.
    public func matches(_ values: [HivePartitioning.Value]) -> Bool { evaluate(values) == true }

    private func evaluate(_ values: [HivePartitioning.Value]) -> Bool? {
        switch self {
        case .compare(let key, let op, let literal):
            guard let order = Self.order(values[key], literal) else { return nil }
            switch op {
            case .eq: return order == 0
            case .ne: return order != 0
            case .lt: return order < 0
            case .le: return order <= 0
            case .gt: return order > 0
            case .ge: return order >= 0
            }
        case .isIn(let key, let literals):
            if values[key] == .null { return nil }
            return literals.contains { Self.order(values[key], $0) == 0 }
        case .isNull(let key):
            return values[key] == .null
        case .not(let inner):
            return inner.evaluate(values).map { !$0 }
        case .and(let a, let b):
            let x = a.evaluate(values), y = b.evaluate(values)
            if x == false || y == false { return false }
            return x == true && y == true ? true : nil
        case .or(let a, let b):
            let x = a.evaluate(values), y = b.evaluate(values)
            if x == true || y == true { return true }
            return x == false && y == false ? false : nil
        }
    }

    /// -1, 0, 1; nil when either side is null.
    private static func order(_ a: HivePartitioning.Value, _ b: HivePartitioning.Value) -> Int? {
        func cmp<T: Comparable>(_ x: T, _ y: T) -> Int { x < y ? -1 : x > y ? 1 : 0 }
        switch (a, b) {
        case (.int(let x), .int(let y)): return cmp(x, y)
        case (.int(let x), .double(let y)): return cmp(Double(x), y)
        case (.double(let x), .int(let y)): return cmp(x, Double(y))
        case (.double(let x), .double(let y)): return cmp(x, y)
        case (.date(let x), .date(let y)): return cmp(x, y)
        case (.timestamp(let x), .timestamp(let y)): return cmp(x, y)
        case (.string(let x), .string(let y)): return cmp(x, y)
        default: return nil
        }
    }

    // MARK: Parsing

    struct Token {
        enum Kind { case word, string, number, symbol }
        var kind: Kind
        var text: String
        var offset: Int
    }

    static func tokenize(_ text: String) throws(DatasetError) -> [Token] {
        var tokens: [Token] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace { i += 1; continue }
            let start = i
            if c == "'" || c == "\"" {
                var value = ""
                i += 1
                while true {
                    guard i < chars.count else { throw DatasetError("--input-filter: the quote at position \(start + 1) is not closed") }
                    if chars[i] == c {
                        if i + 1 < chars.count && chars[i + 1] == c { value.append(c); i += 2; continue }  // '' inside ''
                        i += 1
                        break
                    }
                    value.append(chars[i])
                    i += 1
                }
                tokens.append(Token(kind: .string, text: value, offset: start))
            } else if c.isNumber || ((c == "-" || c == "+" || c == ".") && i + 1 < chars.count && (chars[i + 1].isNumber || chars[i + 1] == ".")) {
                i += 1
                while i < chars.count && (chars[i].isNumber || chars[i] == "." || chars[i] == "e" || chars[i] == "E"
                                          || ((chars[i] == "-" || chars[i] == "+") && (chars[i - 1] == "e" || chars[i - 1] == "E"))) { i += 1 }
                tokens.append(Token(kind: .number, text: String(chars[start..<i]), offset: start))
            } else if c.isLetter || c == "_" || c == "`" {
                if c == "`" {
                    i += 1
                    while i < chars.count && chars[i] != "`" { i += 1 }
                    guard i < chars.count else { throw DatasetError("--input-filter: the backquote at position \(start + 1) is not closed") }
                    tokens.append(Token(kind: .word, text: String(chars[(start + 1)..<i]), offset: start))
                    i += 1
                } else {
                    while i < chars.count && (chars[i].isLetter || chars[i].isNumber || chars[i] == "_") { i += 1 }
                    tokens.append(Token(kind: .word, text: String(chars[start..<i]), offset: start))
                }
            } else {
                let two = i + 1 < chars.count ? String(chars[i...(i + 1)]) : ""
                if ["<=", ">=", "<>", "!=", "=="].contains(two) {
                    tokens.append(Token(kind: .symbol, text: two, offset: start))
                    i += 2
                } else if "=<>(),".contains(c) {
                    tokens.append(Token(kind: .symbol, text: String(c), offset: start))
                    i += 1
                } else {
                    throw DatasetError("--input-filter: unexpected '\(c)' at position \(start + 1)")
                }
            }
        }
        return tokens
    }

    struct Parser {
        let tokens: [Token]
        let keys: [HivePartitioning.Key]
        let text: String
        var position = 0

        func error(_ message: String) -> DatasetError {
            let at = position < tokens.count ? " at position \(tokens[position].offset + 1)" : " at the end"
            return DatasetError("--input-filter \"\(text)\": \(message)\(at)")
        }

        func peekWord(_ word: String) -> Bool {
            position < tokens.count && tokens[position].kind == .word && tokens[position].text.uppercased() == word
        }

        func peekSymbol(_ symbol: String) -> Bool {
            position < tokens.count && tokens[position].kind == .symbol && tokens[position].text == symbol
        }

        mutating func expression() throws(DatasetError) -> PartitionFilter {
            var left = try conjunction()
            while peekWord("OR") {
                position += 1
                left = .or(left, try conjunction())
            }
            return left
        }

        mutating func conjunction() throws(DatasetError) -> PartitionFilter {
            var left = try negation()
            while peekWord("AND") {
                position += 1
                left = .and(left, try negation())
            }
            return left
        }

        mutating func negation() throws(DatasetError) -> PartitionFilter {
            if peekWord("NOT") {
                position += 1
                return .not(try negation())
            }
            if peekSymbol("(") {
                position += 1
                let inner = try expression()
                guard peekSymbol(")") else { throw error("expected ')'") }
                position += 1
                return inner
            }
            return try comparison()
        }

        mutating func comparison() throws(DatasetError) -> PartitionFilter {
            guard position < tokens.count, tokens[position].kind == .word else { throw error("expected a partition column") }
            let name = tokens[position].text
            guard let key = keys.firstIndex(where: { $0.name == name }) ?? keys.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw DatasetError("--input-filter names '\(name)', which is not a partition column (the dataset's partition directories hold: \(keys.map(\.name).joined(separator: ", "))); the filter chooses partition directories only")
            }
            position += 1
            if peekWord("IS") {
                position += 1
                let negated = peekWord("NOT")
                if negated { position += 1 }
                guard peekWord("NULL") else { throw error("expected NULL") }
                position += 1
                return negated ? .not(.isNull(key: key)) : .isNull(key: key)
            }
            let negated = peekWord("NOT")
            if negated { position += 1 }
            if peekWord("IN") {
                position += 1
                guard peekSymbol("(") else { throw error("expected '(' after IN") }
                position += 1
                var literals: [HivePartitioning.Value] = []
                while true {
                    literals.append(try literal(for: key))
                    if peekSymbol(",") { position += 1; continue }
                    guard peekSymbol(")") else { throw error("expected ',' or ')'") }
                    position += 1
                    break
                }
                return negated ? .and(.not(.isIn(key: key, literals: literals)), .not(.isNull(key: key))) : .isIn(key: key, literals: literals)
            }
            guard !negated else { throw error("expected IN after NOT") }
            guard position < tokens.count, tokens[position].kind == .symbol,
                  let op: Comparison = ["=": .eq, "==": .eq, "!=": .ne, "<>": .ne, "<": .lt, "<=": .le, ">": .gt, ">=": .ge][tokens[position].text] else {
                throw error("expected a comparison (=, !=, <, <=, >, >=, IN, IS NULL) after '\(name)'")
            }
            position += 1
            return .compare(key: key, op: op, literal: try literal(for: key))
        }

        /// A literal read as key `key`'s type.
        mutating func literal(for key: Int) throws(DatasetError) -> HivePartitioning.Value {
            guard position < tokens.count, tokens[position].kind == .string || tokens[position].kind == .number else {
                throw error("expected a literal (a quoted string or a number)")
            }
            let text = tokens[position].text
            let type = keys[key].type
            let value: HivePartitioning.Value?
            switch type {
            case .int32, .int64: value = Int64(text).map { .int($0) } ?? Double(text).map { .double($0) }
            case .float64: value = Double(text).map { .double($0) }
            case .date32: value = HivePartitioning.parseDate(text).map { .date($0) }
            case .timestamp: value = HivePartitioning.parseTimestamp(text).map { .timestamp($0) } ?? HivePartitioning.parseDate(text).map { .timestamp(Int64($0) * 86_400_000_000) }
            default: value = .string(text)
            }
            guard let value else {
                throw error("'\(text)' is not a value of '\(keys[key].name)', whose partition values are \(type)")
            }
            position += 1
            return value
        }
    }
}
