import CSSL

// MARK: - HMAC-SHA256

/// HMAC-SHA256 (RFC 2104, tested against RFC 4231), computed by OpenSSL's libcrypto (the "HMAC"
/// `EVP_MAC` over SHA-256): a keyed proof that the sender knows a secret, used by the cluster
/// handshake so that the secret itself never travels.
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
/// A value type, like `SHA256`: copies go on independently. Compare tags with
/// `ConstantTime.equals(_:_:)`, never with `==`.
public struct HMAC: Sendable {
    /// Length of a tag in bytes.
    public static let byteCount = SHA256.byteCount

    private var context: HMACContext

    /// Starts a tag under `key`, of any length (keys longer than a block, 64 bytes, are hashed
    /// first, as the RFC says).
    public init<Key: Sequence<UInt8>>(key: Key) {
        let context: HMACContext? = key.withContiguousStorageIfAvailable { HMACContext(key: UnsafeRawBufferPointer($0)) }
        if let context {
            self.context = context
        } else {
            var copy = Array(key)
            self.context = copy.withUnsafeBytes { HMACContext(key: $0) }
            // Do not leave the key lying around longer than needed (OpenSSL keeps its own copy).
            for i in copy.indices { copy[i] = 0 }
        }
    }

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if !isKnownUniquelyReferenced(&context) { context = HMACContext(copying: context) }
        context.update(bytes)
    }

    /// Adds `bytes` to the message.
    public mutating func update<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { update($0) }
        }
    }

    /// The 32-byte tag of the message so far. The value itself is left as it was, so it may go
    /// on being updated.
    public func finalize() -> [UInt8] {
        HMACContext(copying: context).finish()
    }

    /// The HMAC-SHA256 tag of `message` under `key` (32 bytes).
    public static func sha256<Key: Sequence<UInt8>, Message: Sequence<UInt8>>(key: Key, message: Message) -> [UInt8] {
        var mac = HMAC(key: key)
        mac.update(message)
        return mac.finalizeConsuming()
    }

    /// The tag, ending this value's own context rather than a copy of it when no other copy
    /// shares it (the value is used up).
    consuming func finalizeConsuming() -> [UInt8] {
        guard isKnownUniquelyReferenced(&context) else { return finalize() }
        return context.finish()
    }
}
