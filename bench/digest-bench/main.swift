import Digest
import Foundation

// SHA-256 file-hashing throughput of the Digest target, for bench/digest_bench.py.
// Usage: digest-bench <file> [repeats]
// Hashes the file with `SHA256.hash(contentsOfFile:)` (what the coordinator does to a model's
// files) `repeats` times (default 1), no warm-up, and prints one JSON line per run: the bytes,
// the wall time in seconds, GB/s (10^9 bytes a second) and the digest.
let args = CommandLine.arguments
guard args.count >= 2 else {
    FileHandle.standardError.write("usage: digest-bench <file> [repeats]\n".data(using: .utf8)!)
    exit(2)
}
let path = args[1]
let repeats = args.count > 2 ? max(1, Int(args[2]) ?? 1) : 1
guard let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue else {
    FileHandle.standardError.write("digest-bench: cannot stat \(path)\n".data(using: .utf8)!)
    exit(1)
}
for _ in 0..<repeats {
    let t0 = DispatchTime.now().uptimeNanoseconds
    let digest: [UInt8]
    do { digest = try SHA256.hash(contentsOfFile: path) } catch {
        FileHandle.standardError.write("digest-bench: \(error)\n".data(using: .utf8)!)
        exit(1)
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    print("{\"bytes\": \(size), \"seconds\": \(seconds), \"gb_per_s\": \(Double(size) / seconds / 1e9), \"sha256\": \"\(Hex.encode(digest))\"}")
}
