/// The most resident memory a worker may use (Spark's `spark.executor.pyspark.memory`): set by
/// the job (`--worker-memory`, sent to every worker in its `JobSpec`) and by the worker itself
/// (`worker --memory-limit`); when both are given the smaller applies.
///
/// Megabytes are binary (1 MB = 1,048,576 bytes), as in Spark's sizes.
public struct MemoryLimit: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var megabytes: Int

    public init(megabytes: Int) {
        precondition(megabytes > 0, "a memory limit is positive")
        self.megabytes = megabytes
    }

    public var bytes: Int { megabytes << 20 }

    /// Parses an option's value: a number of megabytes (`300`), or a size with a unit, as Spark
    /// writes them (`300m`, `300mb`, `2g`, `2gb`, `1t`; any case). Nil when it is not one, or
    /// not positive. (`none`, no limit, is the caller's to accept.)
    public init?(parsing text: String) {
        let lowered = text.lowercased().filter { !$0.isWhitespace }
        let digits = lowered.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let number = Int(digits) else { return nil }
        let shift: Int
        switch lowered.dropFirst(digits.count) {
        case "", "m", "mb", "mib": shift = 0
        case "g", "gb", "gib": shift = 10
        case "t", "tb", "tib": shift = 20
        default: return nil
        }
        guard number > 0, number <= (Int.max >> 20) >> shift else { return nil }
        self.init(megabytes: number << shift)
    }

    /// The limit that applies when a worker has one of its own and the job sets one: the smaller.
    public static func effective(_ a: MemoryLimit?, _ b: MemoryLimit?) -> MemoryLimit? {
        switch (a, b) {
        case (let a?, let b?): min(a, b)
        case (let a?, nil): a
        case (nil, let b): b
        }
    }

    public static func < (lhs: MemoryLimit, rhs: MemoryLimit) -> Bool { lhs.megabytes < rhs.megabytes }

    public var description: String { "\(megabytes) MB" }
}
