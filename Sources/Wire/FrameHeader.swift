/// The fixed 16-byte header in front of every frame.
///
/// Layout (little-endian): magic `SCF1` (4 bytes), protocol version (1), message type (1),
/// flags (2), payload length (8). The length is checked against a maximum before any
/// allocation, so a stranger or a corrupt peer cannot make the receiver allocate gigabytes.
public struct FrameHeader: Sendable, Equatable {
    public static let size = 16
    public static let magic: (UInt8, UInt8, UInt8, UInt8) = (0x53, 0x43, 0x46, 0x31) // "SCF1"
    /// The protocol version this build speaks.
    /// 2: typed `JobSpec` (the result type as DDL text, model config and params as JSON values,
    /// the memory limit); a worker or coordinator of version 1 is refused, not misread.
    public static let currentVersion: UInt8 = 2

    public var version: UInt8
    public var type: MessageType
    public var flags: UInt16
    public var payloadLength: UInt64

    public init(type: MessageType, payloadLength: UInt64, flags: UInt16 = 0, version: UInt8 = FrameHeader.currentVersion) {
        self.version = version
        self.type = type
        self.flags = flags
        self.payloadLength = payloadLength
    }

    /// The header's 16 bytes.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = [Self.magic.0, Self.magic.1, Self.magic.2, Self.magic.3, version, type.rawValue,
                              UInt8(flags & 0xff), UInt8(flags >> 8)]
        withUnsafeBytes(of: payloadLength.littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Parses and validates a header; `maxPayload` bounds the announced length.
    public static func decode(_ bytes: UnsafeRawBufferPointer, maxPayload: UInt64) throws(WireError) -> FrameHeader {
        guard bytes.count >= size else { throw .malformed("short header (\(bytes.count) bytes)") }
        guard bytes[0] == magic.0, bytes[1] == magic.1, bytes[2] == magic.2, bytes[3] == magic.3 else {
            throw .notAScoreClusterPeer
        }
        let version = bytes[4]
        guard version == currentVersion else { throw .versionMismatch(theirs: version, ours: currentVersion) }
        guard let type = MessageType(rawValue: bytes[5]) else { throw .malformed("unknown message type \(bytes[5])") }
        let flags = UInt16(bytes[6]) | UInt16(bytes[7]) << 8
        let length = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian
        guard length <= maxPayload else {
            throw .malformed("frame of \(length) bytes exceeds the limit of \(maxPayload) bytes")
        }
        return FrameHeader(type: type, payloadLength: length, flags: flags, version: version)
    }
}
