import Columnar
import Foundation
import Parquet

// Decode throughput of score-cluster's Parquet reader on one thread, for bench/decode_bench.py.
// Usage: bench <file.parquet> [repeats]
// Reads every row group of every readable column, `repeats` times after one warm-up, and prints
// one JSON line: rows, columns, the best wall time in seconds, and the bytes decoded (values,
// offsets and validity buffers as score-cluster holds them).
let args = CommandLine.arguments
guard args.count >= 2 else {
    FileHandle.standardError.write("usage: bench <file.parquet> [repeats]\n".data(using: .utf8)!)
    exit(2)
}
let path = args[1]
let repeats = args.count > 2 ? max(1, Int(args[2]) ?? 5) : 5
let reader = try ParquetFileReader(path: path)
let cols = Array(reader.columns.indices.filter { reader.columns[$0].dataType != nil })
func run() throws -> (Double, Int) {
    let t0 = DispatchTime.now().uptimeNanoseconds
    var bytes = 0
    for g in reader.rowGroupRowCounts.indices {
        let b = try reader.readRowGroup(g, columns: cols)
        for c in b.columns { bytes += c.values.count + (c.offsets?.count ?? 0) + (c.validity?.count ?? 0) }
    }
    return (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, bytes)
}
_ = try run()
var best = Double.infinity, bytes = 0
for _ in 0..<repeats {
    let (t, b) = try run()
    best = min(best, t)
    bytes = b
}
print("{\"rows\": \(reader.rowCount), \"columns\": \(cols.count), \"seconds\": \(best), \"bytes\": \(bytes)}")
