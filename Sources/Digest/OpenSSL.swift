import CSSL

// MARK: - OpenSSL contexts

/// libcrypto's process-wide state.
public enum LibCryptoRuntime {
    /// Initialises libcrypto without its exit handler. By default OpenSSL frees its global state
    /// in an `atexit` handler; a thread still hashing then (the coordinator's acceptor answering a
    /// kept worker that reconnects while the job's process exits) dereferences freed locks and
    /// crashes the process. Called by `main` before anything else touches OpenSSL, and by every
    /// context before its first use; only the first call has an effect.
    public static func startWithoutExitHandler() { _ = started }

    private static let started: Void = {
        _ = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_ATEXIT), nil)
    }()
}

/// Failures of libcrypto calls that can only fail when memory runs out or the library is broken
/// (SHA-256 and HMAC are always available in OpenSSL 3's default provider): there is nothing a
/// caller could do about them, so they stop the process, saying which call failed and why.
enum LibCrypto {
    /// Stops the process unless `status` is 1, OpenSSL's success.
    @inline(__always)
    static func check(_ status: Int32, _ call: @autoclosure () -> String) {
        if status != 1 { fail(call()) }
    }

    /// Stops the process, naming `call` and OpenSSL's error queue.
    static func fail(_ call: String) -> Never {
        var reasons: [String] = []
        var code = ERR_get_error()
        while code != 0 {
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            code = ERR_get_error()
        }
        fatalError("OpenSSL: \(call) failed\(reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; "))")
    }
}

/// One `EVP_MD_CTX` computing SHA-256, freed with its owner.
///
/// `@unchecked Sendable`: `SHA256` updates a context only while it holds the sole reference to it
/// (copy-on-write); a context shared between copies is only read, by `EVP_MD_CTX_copy_ex`.
final class SHA256Context: @unchecked Sendable {
    let pointer: OpaquePointer

    /// A context with nothing hashed yet.
    init() {
        LibCryptoRuntime.startWithoutExitHandler()
        guard let pointer = EVP_MD_CTX_new() else { LibCrypto.fail("EVP_MD_CTX_new") }
        self.pointer = pointer
        LibCrypto.check(EVP_DigestInit_ex(pointer, EVP_sha256(), nil), "EVP_DigestInit_ex(SHA-256)")
    }

    /// A context in the same state as `other`, which is left as it was.
    init(copying other: SHA256Context) {
        guard let pointer = EVP_MD_CTX_new() else { LibCrypto.fail("EVP_MD_CTX_new") }
        self.pointer = pointer
        LibCrypto.check(EVP_MD_CTX_copy_ex(pointer, other.pointer), "EVP_MD_CTX_copy_ex")
    }

    deinit { EVP_MD_CTX_free(pointer) }

    /// Hashes `bytes`.
    func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        LibCrypto.check(EVP_DigestUpdate(pointer, base, bytes.count), "EVP_DigestUpdate")
    }

    /// Ends the computation: the digest. The context takes no more input afterwards.
    func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: SHA256.byteCount)
        var length: UInt32 = 0
        LibCrypto.check(EVP_DigestFinal_ex(pointer, &digest, &length), "EVP_DigestFinal_ex")
        precondition(length == SHA256.byteCount, "OpenSSL: SHA-256 gave \(length) bytes")
        return digest
    }
}

/// The "HMAC" `EVP_MAC` algorithm, fetched once from the default provider (fetching costs a
/// lookup; contexts made from it share it).
final class HMACAlgorithm: @unchecked Sendable {
    let pointer: OpaquePointer

    static let shared = HMACAlgorithm()

    private init() {
        LibCryptoRuntime.startWithoutExitHandler()
        guard let pointer = EVP_MAC_fetch(nil, "HMAC", nil) else { LibCrypto.fail("EVP_MAC_fetch(HMAC)") }
        self.pointer = pointer
    }

    deinit { EVP_MAC_free(pointer) }
}

/// One `EVP_MAC_CTX` computing HMAC-SHA256, freed with its owner.
///
/// `@unchecked Sendable` for the same reason as `SHA256Context`: `HMAC` updates it only while it
/// holds the sole reference; a shared context is only read, by `EVP_MAC_CTX_dup`.
final class HMACContext: @unchecked Sendable {
    let pointer: OpaquePointer

    /// A context keyed with `key` (OpenSSL hashes keys longer than a block and keeps its own
    /// copy, which it clears when freed).
    init(key: UnsafeRawBufferPointer) {
        guard let pointer = EVP_MAC_CTX_new(HMACAlgorithm.shared.pointer) else { LibCrypto.fail("EVP_MAC_CTX_new") }
        self.pointer = pointer
        let status = cssl_hmac_sha256_init(pointer, key.baseAddress?.assumingMemoryBound(to: UInt8.self), key.count)
        LibCrypto.check(status, "EVP_MAC_init(HMAC, SHA256)")
    }

    /// A context in the same state as `other`, which is left as it was.
    init(copying other: HMACContext) {
        guard let pointer = EVP_MAC_CTX_dup(other.pointer) else { LibCrypto.fail("EVP_MAC_CTX_dup") }
        self.pointer = pointer
    }

    deinit { EVP_MAC_CTX_free(pointer) }

    /// Adds `bytes` to the message.
    func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        LibCrypto.check(EVP_MAC_update(pointer, base.assumingMemoryBound(to: UInt8.self), bytes.count), "EVP_MAC_update")
    }

    /// Ends the computation: the tag. The context takes no more input afterwards.
    func finish() -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: HMAC.byteCount)
        var length = 0
        LibCrypto.check(EVP_MAC_final(pointer, &tag, &length, tag.count), "EVP_MAC_final")
        precondition(length == HMAC.byteCount, "OpenSSL: HMAC-SHA256 gave \(length) bytes")
        return tag
    }
}
