import CSSL

// MARK: - SHA-256

/// SHA-256 (FIPS 180-4), streaming, computed by OpenSSL's libcrypto (`EVP_sha256` on an
/// `EVP_MD_CTX`): content addresses for models and environments.
///
/// A value type: copies hash on independently (the OpenSSL context is shared until one of them
/// is updated, then copied). Input is read straight from the caller's memory.
///
/// ```swift
/// var h = SHA256()
/// h.update(firstChunk)
/// h.update(secondChunk)
/// let digest = h.finalize()      // 32 bytes
/// let text = SHA256.hex(bytes)   // one shot, 64 lowercase hex digits
/// ```
public struct SHA256: Sendable {
    /// Length of a digest in bytes.
    public static let byteCount = 32
    /// Length of the blocks the compression function consumes.
    public static let blockByteCount = 64

    private var context = SHA256Context()

    /// A hasher with nothing hashed yet.
    public init() {}

    // MARK: Feeding bytes

    /// Hashes `bytes` (the memory is only read during the call).
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if !isKnownUniquelyReferenced(&context) { context = SHA256Context(copying: context) }
        context.update(bytes)
    }

    /// Hashes a sequence of bytes: `[UInt8]`, `ArraySlice<UInt8>`, `"text".utf8`, ...
    public mutating func update<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { update($0) }
        }
    }

    // MARK: Result

    /// The 32-byte digest of everything hashed so far. The hasher itself is left as it was,
    /// so it may go on being updated (the result then covers the longer input).
    public func finalize() -> [UInt8] {
        SHA256Context(copying: context).finish()
    }

    /// The digest, ending the hasher's own context rather than a copy of it when no other copy
    /// shares it (the hasher is used up).
    consuming func finalizeConsuming() -> [UInt8] {
        guard isKnownUniquelyReferenced(&context) else { return finalize() }
        return context.finish()
    }

    // MARK: One shot

    /// The digest of `bytes`.
    public static func hash<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalizeConsuming()
    }

    /// The digest of `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalizeConsuming()
    }

    /// The digest of `bytes` as 64 lowercase hex digits.
    public static func hex<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        Hex.encode(hash(bytes))
    }

    /// The digest of `bytes` as 64 lowercase hex digits.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        Hex.encode(hash(bytes))
    }
}
