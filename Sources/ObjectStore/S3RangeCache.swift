import Foundation

/// Bytes of objects fetched ahead of their reads (`S3ParquetObject.willRead`), shared by every
/// object of a dataset under one byte budget: the least recently used pieces go first, so
/// memory stays bounded however many objects a job reads.
public final class S3RangeCache: @unchecked Sendable {
    /// The most bytes held.
    public let budget: Int
    private let lock = NSLock()
    /// Per object, its pieces by first offset (a few dozen at most: the chunks of a row group).
    private var pieces: [ObjectIdentifier: [Int: Piece]] = [:]
    private var held = 0
    private var clock = 0

    final class Piece {
        let bytes: [UInt8]
        var lastUse: Int
        init(bytes: [UInt8], lastUse: Int) {
            self.bytes = bytes
            self.lastUse = lastUse
        }
    }

    public init(budget: Int = 256 << 20) {
        self.budget = budget
    }

    /// The piece of `object` that holds byte `offset`, with its first offset.
    func piece(of object: ObjectIdentifier, containing offset: Int) -> (start: Int, bytes: [UInt8])? {
        lock.withLock {
            guard let held = pieces[object] else { return nil }
            for (start, piece) in held where start <= offset && offset < start + piece.bytes.count {
                clock += 1
                piece.lastUse = clock
                return (start, piece.bytes)
            }
            return nil
        }
    }

    /// Whether `object`'s bytes `range` are all held.
    func holds(_ object: ObjectIdentifier, _ range: Range<Int>) -> Bool {
        lock.withLock {
            guard let held = pieces[object] else { return false }
            var at = range.lowerBound
            while at < range.upperBound {
                guard let (start, piece) = held.first(where: { $0.key <= at && at < $0.key + $0.value.bytes.count }) else { return false }
                at = start + piece.bytes.count
            }
            return true
        }
    }

    /// Keeps `bytes` as `object`'s piece starting at `start`, dropping the least recently
    /// used pieces (of any object) while over the budget.
    func insert(_ bytes: [UInt8], of object: ObjectIdentifier, at start: Int) {
        lock.withLock {
            clock += 1
            if let old = pieces[object]?[start] { held -= old.bytes.count }
            pieces[object, default: [:]][start] = Piece(bytes: bytes, lastUse: clock)
            held += bytes.count
            guard held > budget else { return }
            let byAge = pieces.flatMap { object, held in held.map { (object, $0.key, $0.value) } }.sorted { $0.2.lastUse < $1.2.lastUse }
            for (owner, first, piece) in byAge where held > budget && !(owner == object && first == start) {
                pieces[owner]![first] = nil
                held -= piece.bytes.count
            }
        }
    }

    /// Forgets every piece of `object`.
    func remove(_ object: ObjectIdentifier) {
        lock.withLock {
            for piece in pieces[object]?.values ?? [:].values { held -= piece.bytes.count }
            pieces[object] = nil
        }
    }

    /// Bytes held now.
    public var heldBytes: Int { lock.withLock { held } }
}
