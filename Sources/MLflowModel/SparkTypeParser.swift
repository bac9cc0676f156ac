/// Parses spark_udf result types in Spark's DDL spelling: the primitives (`double`, `int`,
/// `bigint`, ...), `array<T>`, `struct<a:int,b:string>` or the bare field list
/// `a int, b string`, and `map<string,T>` (docs/spark-udf.md §1.2).
struct SparkTypeParser {
    /// A parsed type, before it is checked against what spark_udf allows.
    indirect enum Node: Equatable {
        case primitive(String)
        case array(Node)
        case structure([(name: String, type: Node)])
        case map(key: Node, value: Node)

        static func == (a: Node, b: Node) -> Bool {
            switch (a, b) {
            case (.primitive(let x), .primitive(let y)): x == y
            case (.array(let x), .array(let y)): x == y
            case (.map(let k1, let v1), .map(let k2, let v2)): k1 == k2 && v1 == v2
            case (.structure(let x), .structure(let y)):
                x.count == y.count && zip(x, y).allSatisfy { $0.name == $1.name && $0.type == $1.type }
            default: false
            }
        }
    }

    private let text: [Character]
    private var at = 0

    init(_ text: String) { self.text = Array(text) }

    /// The type `text` spells, or a message saying where it stops making sense.
    static func parse(_ text: String) throws(PyFuncError) -> Node {
        var parser = SparkTypeParser(text)
        let node = try parser.parseTop()
        return node
    }

    private mutating func parseTop() throws(PyFuncError) -> Node {
        skipSpaces()
        // A bare field list ("a int, b string") is a struct, as Spark's DDL parser reads it.
        let save = at
        if identifier() != nil {
            let afterName = at
            skipSpaces()
            if !isEnd && (peek(":") || (at > afterName && peekIdentifierStart())) {
                at = save
                let fields = try fieldList(terminator: nil)
                skipSpaces()
                guard isEnd else { throw error("unexpected '\(text[at])'") }
                return .structure(fields)
            }
        }
        at = save
        let node = try type()
        skipSpaces()
        guard isEnd else { throw error("unexpected '\(text[at])'") }
        return node
    }

    private mutating func type() throws(PyFuncError) -> Node {
        skipSpaces()
        guard let word = identifier()?.lowercased() else { throw error("a type name was expected") }
        skipSpaces()
        switch word {
        case "array":
            try expect("<")
            let element = try type()
            try expect(">")
            return .array(element)
        case "map":
            try expect("<")
            let key = try type()
            try expect(",")
            let value = try type()
            try expect(">")
            return .map(key: key, value: value)
        case "struct":
            try expect("<")
            let fields = try fieldList(terminator: ">")
            try expect(">")
            return .structure(fields)
        default:
            // Parenthesised arguments (decimal(10,2), varchar(10)) are read so that the error names them.
            if peek("(") {
                var depth = 0
                var full = word
                repeat {
                    let c = text[at]
                    if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
                    full.append(c)
                    at += 1
                } while at < text.count && depth > 0
                return .primitive(full)
            }
            return .primitive(word)
        }
    }

    private mutating func fieldList(terminator: Character?) throws(PyFuncError) -> [(name: String, type: Node)] {
        var fields: [(name: String, type: Node)] = []
        repeat {
            skipSpaces()
            guard let name = identifier() else { throw error("a field name was expected") }
            skipSpaces()
            if peek(":") { at += 1 }
            fields.append((name, try type()))
            skipSpaces()
            if peek(",") { at += 1; continue }
            break
        } while true
        if let terminator, !peek(terminator) { throw error("'\(terminator)' was expected") }
        return fields
    }

    private var isEnd: Bool { at >= text.count }
    private func peek(_ c: Character) -> Bool { at < text.count && text[at] == c }
    private func peekIdentifierStart() -> Bool { at < text.count && (text[at].isLetter || text[at] == "_" || text[at] == "`") }

    private mutating func skipSpaces() {
        while at < text.count && text[at].isWhitespace { at += 1 }
    }

    private mutating func expect(_ c: Character) throws(PyFuncError) {
        skipSpaces()
        guard peek(c) else { throw error("'\(c)' was expected") }
        at += 1
        skipSpaces()
    }

    private mutating func identifier() -> String? {
        if peek("`") {
            var name = ""
            at += 1
            while at < text.count && text[at] != "`" { name.append(text[at]); at += 1 }
            at = min(at + 1, text.count)
            return name
        }
        var name = ""
        while at < text.count && (text[at].isLetter || text[at].isNumber || text[at] == "_") {
            name.append(text[at])
            at += 1
        }
        return name.isEmpty ? nil : name
    }

    private func error(_ what: String) -> PyFuncError {
        PyFuncError("cannot parse the result type '\(String(text))': \(what) at position \(at + 1)")
    }
}
