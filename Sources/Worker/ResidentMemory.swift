#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// This process's memory as the kernel counts it: the resident set (`/proc/self/statm`, what
/// the memory limit is compared with) and its peak (`VmHWM` of `/proc/self/status`).
///
/// The parsing is pure; `current()` and `peak()` read the files.
public enum ResidentMemory {
    /// The resident set in bytes of a `/proc/PID/statm` text (its second field, in pages).
    public static func parseStatm(_ text: String, pageSize: Int) -> Int? {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
        return pages * pageSize
    }

    /// The value in bytes of a `/proc/PID/status` field such as `VmHWM` or `VmRSS` (given in kB).
    public static func parseStatus(_ text: String, field: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let parts = line.dropFirst(field.count + 1).split(whereSeparator: \.isWhitespace)
            guard let value = parts.first.flatMap({ Int($0) }) else { return nil }
            return parts.count > 1 && parts[1].lowercased() == "kb" ? value * 1024 : value
        }
        return nil
    }

    /// The resident set of this process now, in bytes (nil where `/proc` is missing).
    public static func current() -> Int? {
        // Read with a plain read(2) into a small buffer: this runs every 100 ms and after every batch.
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return parseStatm(String(decoding: buffer[0..<count], as: UTF8.self), pageSize: sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The peak resident set of this process so far, in bytes.
    public static func peak() -> Int? {
        (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)).flatMap { parseStatus($0, field: "VmHWM") }
    }
}
