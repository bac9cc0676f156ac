import Foundation
import Wire

/// The memory this machine gives the job: `MemTotal` from `/proc/meminfo`, or less when the
/// job runs in a control group with a lower limit (cgroup v2 `memory.max`, v1
/// `memory.limit_in_bytes`, of the job's group or any group above it), as in a container.
///
/// The parsing is pure (text in, bytes out); `current()` reads the files.
public struct MachineMemory: Sendable, Equatable {
    /// `MemTotal`, in bytes.
    public var totalBytes: Int
    /// The lowest control-group limit found, in bytes; nil when there is none (or it is "max").
    public var cgroupLimitBytes: Int?

    public init(totalBytes: Int, cgroupLimitBytes: Int? = nil) {
        self.totalBytes = totalBytes
        self.cgroupLimitBytes = cgroupLimitBytes
    }

    /// What the job may use: the smaller of `MemTotal` and the control-group limit.
    public var availableBytes: Int { min(totalBytes, cgroupLimitBytes ?? .max) }

    /// The share of `fraction` of the available memory each of `workers` workers gets: the
    /// default of `run --worker-memory` (80%, so that the coordinator and the system keep the
    /// rest). At least 1 MB.
    public func workerShare(workers: Int, fraction: Double = 0.8) -> MemoryLimit {
        let share = Double(availableBytes) * fraction / Double(max(1, workers))
        return MemoryLimit(megabytes: max(1, Int(share) >> 20))
    }

    /// `MemTotal` of a `/proc/meminfo` text, in bytes (the file says kB, meaning KiB).
    public static func parseMeminfo(_ text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.dropFirst("MemTotal:".count).split(whereSeparator: \.isWhitespace)
            guard let value = fields.first.flatMap({ Int($0) }) else { return nil }
            return fields.count > 1 && fields[1].lowercased() == "kb" ? value * 1024 : value
        }
        return nil
    }

    /// A control-group limit file's value in bytes: nil for "max" (v2) or a value so large it
    /// means no limit (v1 writes 2^63 rounded down to a page), or text that is not a number.
    public static func parseCgroupLimit(_ text: String) -> Int? {
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Int(value), bytes > 0, bytes < 1 << 62 else { return nil }
        return bytes
    }

    /// The control-group paths of a `/proc/self/cgroup` text: the v2 group (the `0::` line) and
    /// the v1 memory controller's group (a line naming `memory`).
    public static func parseCgroupPaths(_ text: String) -> (v2: String?, v1Memory: String?) {
        var v2: String?, v1: String?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty { v2 = String(parts[2]) }
            if parts[1].split(separator: ",").contains("memory") { v1 = String(parts[2]) }
        }
        return (v2, v1)
    }

    /// The limit files that may bound a process in the groups of `cgroupText`: for the group
    /// and each group above it, v2's `memory.max` under `/sys/fs/cgroup` (or its hybrid mount
    /// `unified`) and v1's `memory.limit_in_bytes` under `/sys/fs/cgroup/memory`. In a cgroup
    /// namespace the paths are "/" and only the mount's own files are read.
    public static func limitFiles(cgroupText: String, root: String = "/sys/fs/cgroup") -> [String] {
        let (v2, v1) = parseCgroupPaths(cgroupText)
        func chain(_ path: String) -> [String] {
            var dirs: [String] = []
            var components = path.split(separator: "/").map(String.init)
            while true {
                dirs.append(components.isEmpty ? "" : "/" + components.joined(separator: "/"))
                if components.isEmpty { break }
                components.removeLast()
            }
            return dirs
        }
        var files: [String] = []
        if let v2 {
            for dir in chain(v2) {
                files.append(root + dir + "/memory.max")
                files.append(root + "/unified" + dir + "/memory.max")
            }
        }
        if let v1 { files += chain(v1).map { root + "/memory" + $0 + "/memory.limit_in_bytes" } }
        return files
    }

    /// This machine's memory, read from `/proc`; nil when `/proc/meminfo` cannot be read.
    public static func current() -> MachineMemory? {
        guard let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let total = parseMeminfo(meminfo) else { return nil }
        let cgroups = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        let limits = limitFiles(cgroupText: cgroups).compactMap { path in
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap(parseCgroupLimit)
        }
        return MachineMemory(totalBytes: total, cgroupLimitBytes: limits.min())
    }
}
