// MARK: - HMAC-SHA256

/// HMAC-SHA256 (RFC 2104, tested against RFC 4231): a keyed proof that the sender knows a
/// secret, used by the cluster handshake so that the secret itself never travels.
///
/// ```swift
/// let tag = HMAC.sha256(key: Array(token.utf8), message: Array("score-cluster v1\(nonce)".utf8))
///
/// var mac = HMAC(key: key)      // streaming
/// mac.update(part1)
/// mac.update(part2)
/// let same = mac.finalize()
/// ```
///
/// Compare tags with `ConstantTime.equals(_:_:)`, never with `==`.
public struct HMAC: Sendable {
    /// Length of a tag in bytes.
    public static let byteCount = SHA256.byteCount

    private var inner = SHA256()
    private var outer = SHA256()

    /// Starts a tag under `key`. Keys longer than a block (64 bytes) are hashed first, as the
    /// RFC says; shorter ones are zero-padded.
    public init<Key: Sequence<UInt8>>(key: Key) {
        var block = Array(key)
        if block.count > SHA256.blockByteCount { block = SHA256.hash(block) }
        block += [UInt8](repeating: 0, count: SHA256.blockByteCount - block.count)
        inner.update(block.map { $0 ^ 0x36 })
        outer.update(block.map { $0 ^ 0x5c })
        // Do not leave the padded key lying around longer than needed.
        for i in block.indices { block[i] = 0 }
    }

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { inner.update(bytes) }

    /// Adds `bytes` to the message.
    public mutating func update<Bytes: Sequence<UInt8>>(_ bytes: Bytes) { inner.update(bytes) }

    /// The 32-byte tag of the message so far.
    public func finalize() -> [UInt8] {
        var outer = self.outer
        outer.update(inner.finalize())
        return outer.finalize()
    }

    /// The HMAC-SHA256 tag of `message` under `key` (32 bytes).
    public static func sha256<Key: Sequence<UInt8>, Message: Sequence<UInt8>>(key: Key, message: Message) -> [UInt8] {
        var mac = HMAC(key: key)
        mac.update(message)
        return mac.finalize()
    }
}
