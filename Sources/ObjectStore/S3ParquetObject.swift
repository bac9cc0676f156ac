import Foundation
import Parquet

/// A Parquet file in object storage, read by ranged GETs: the footer by one request for the
/// object's tail, then only the column chunks (or pages) a read needs.
///
/// `willRead` (called by `ParquetFileReader` with the chunks a row group's read needs) fetches
/// those ranges concurrently, in pieces of at most `pieceBytes`, into the dataset's shared
/// `S3RangeCache`, and `prefetch` does the same in the background for a row group read later;
/// reads are served from the cache, wait for a piece being fetched, and fetch directly what
/// neither holds.
public final class S3ParquetObject: ParquetByteSource, @unchecked Sendable {
    public let name: String
    public let size: Int
    public let location: S3Location
    private let client: S3Client
    private let cache: S3RangeCache
    /// First offsets of the pieces being fetched now (by any thread), and their waiters.
    private let fetching = NSCondition()
    private var inFlight: Set<Int> = []

    /// Ranges closer than this are fetched as one (the bytes between cost less than a request).
    static let gapBytes = 256 << 10
    /// The largest piece fetched by one request; a larger range is fetched in pieces at once.
    static let pieceBytes = 8 << 20
    /// Requests in flight at once for one `willRead`.
    static let concurrency = 8
    /// Read-aheads running at once, over all objects (each fetching its pieces concurrently).
    private static let readAheads = DispatchSemaphore(value: 2)

    public init(location: S3Location, size: Int, client: S3Client, cache: S3RangeCache) {
        self.name = location.description
        self.location = location
        self.size = size
        self.client = client
        self.cache = cache
    }

    deinit { cache.remove(ObjectIdentifier(self)) }

    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let at = offset + done
            if let (start, bytes) = cache.piece(of: ObjectIdentifier(self), containing: at) {
                let n = min(buffer.count - done, start + bytes.count - at)
                bytes.withUnsafeBytes { piece in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + n)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: piece[(at - start)..<(at - start + n)]))
                }
                done += n
                continue
            }
            guard at + (buffer.count - done) <= size else {
                throw ParquetError(path: name, message: "unexpected end of object: bytes \(at)..<\(offset + buffer.count) asked of \(size)")
            }
            do {
                try client.read(bucket: location.bucket, key: location.key, range: at..<(offset + buffer.count),
                                into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            } catch {
                throw ParquetError(path: name, message: error.message)
            }
            done = buffer.count
        }
    }

    public func willRead(_ ranges: [Range<Int>]) {
        fetch(pieces(of: ranges))
    }

    public func prefetch(_ ranges: [Range<Int>]) {
        let pieces = pieces(of: ranges)
        guard !pieces.isEmpty else { return }
        // A thread of its own, not libdispatch's pool (see `concurrentMap`).
        let thread = Thread { [self] in
            Self.readAheads.wait()
            defer { Self.readAheads.signal() }
            fetch(pieces)
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// The pieces `ranges` are fetched in that the cache does not hold: near ranges coalesced,
    /// long ones cut at `pieceBytes` (the same ranges always give the same pieces, so that a
    /// read finds the pieces a read-ahead is fetching).
    private func pieces(of ranges: [Range<Int>]) -> [Range<Int>] {
        let wanted = ranges.map { $0.clamped(to: 0..<size) }.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = []
        for range in wanted {
            if let last = merged.last, range.lowerBound <= last.upperBound + Self.gapBytes {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        var pieces: [Range<Int>] = []
        for range in merged {
            var start = range.lowerBound
            while start < range.upperBound {
                let end = min(range.upperBound, start + Self.pieceBytes)
                pieces.append(start..<end)
                start = end
            }
        }
        let me = ObjectIdentifier(self)
        let missing = pieces.filter { !cache.holds(me, $0) }
        // More than the cache can hold would only push out what was just fetched.
        return missing.reduce(0, { $0 + $1.count }) <= cache.budget ? missing : []
    }

    /// Fetches `pieces` into the cache (those another thread is fetching are waited for).
    private func fetch(_ pieces: [Range<Int>]) {
        guard !pieces.isEmpty else { return }
        let (mine, others) = fetching.withLock { () -> ([Range<Int>], [Range<Int>]) in
            let mine = pieces.filter { !inFlight.contains($0.lowerBound) }
            let others = pieces.filter { inFlight.contains($0.lowerBound) }
            for piece in mine { inFlight.insert(piece.lowerBound) }
            return (mine, others)
        }
        let me = ObjectIdentifier(self)
        _ = concurrentMap(mine.count, width: Self.concurrency) { i in
            let piece = mine[i]
            var bytes = [UInt8](repeating: 0, count: piece.count)
            // A failure is left to the read that needs these bytes, which retries and reports it.
            let fetched = bytes.withUnsafeMutableBytes { buffer in
                (try? client.read(bucket: location.bucket, key: location.key, range: piece, into: buffer)) != nil
            }
            if fetched { cache.insert(bytes, of: me, at: piece.lowerBound) }
            fetching.withLock {
                inFlight.remove(piece.lowerBound)
                fetching.broadcast()
            }
        }
        fetching.withLock {
            while others.contains(where: { inFlight.contains($0.lowerBound) }) { fetching.wait() }
        }
    }
}
