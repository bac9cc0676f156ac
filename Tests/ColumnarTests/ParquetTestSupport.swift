import Foundation
import Testing
import TestSupport
@testable import Columnar
@testable import Parquet

/// pyarrow's view of one column of one row group: values in a canonical text form (see
/// `canonicalValues`), nil for null.
struct PyColumn: Decodable {
    var name: String
    var type: String
    var nullable: Bool
    var values: [String?]?
}

struct PyRowGroup: Decodable {
    var num_rows: Int
    var columns: [PyColumn]
}

struct PyFile: Decodable {
    /// pyarrow's error, when it cannot read the file.
    var error: String? = nil
    var row_groups: [PyRowGroup] = []
    /// Problems found by checks run in Python (statistics of Swift-written files).
    var problems: [String] = []
    var created_by: String?
    /// Compression codecs of the column chunks, as pyarrow names them.
    var codecs: [String] = []

    enum CodingKeys: String, CodingKey { case error, row_groups, problems, created_by, codecs }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        row_groups = try c.decodeIfPresent([PyRowGroup].self, forKey: .row_groups) ?? []
        problems = try c.decodeIfPresent([String].self, forKey: .problems) ?? []
        created_by = try c.decodeIfPresent(String.self, forKey: .created_by)
        codecs = try c.decodeIfPresent([String].self, forKey: .codecs) ?? []
    }
}

enum ParquetTestSupport {
    /// Python helpers: `dump(path)` reads a file with pyarrow, row group by row group, and
    /// returns values in the same canonical text form as `canonicalValues`.
    static let pythonPrelude = #"""
import sys, json, math, struct, os
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc

def canon_type(t, parquet_logical=None):
    """score-cluster's name (DataType.description) of the type pyarrow reads, or None."""
    if pa.types.is_boolean(t): return 'bool'
    if pa.types.is_integer(t): return str(t)
    if pa.types.is_float16(t): return 'float16'
    if pa.types.is_float32(t): return 'float32'
    if pa.types.is_float64(t): return 'float64'
    if pa.types.is_string(t) or pa.types.is_large_string(t): return 'string'
    if pa.types.is_binary(t) or pa.types.is_large_binary(t): return 'binary'
    if pa.types.is_date32(t): return 'date32'
    if pa.types.is_timestamp(t): return f'timestamp[{t.unit}{", UTC" if t.tz else ""}]'
    if pa.types.is_time32(t) or pa.types.is_time64(t): return f'time[{t.unit}]'
    if pa.types.is_decimal128(t): return f'decimal({t.precision}, {t.scale})'
    if pa.types.is_null(t): return 'null'
    if getattr(t, 'extension_name', None) == 'arrow.uuid': return 'uuid'
    if pa.types.is_fixed_size_binary(t):
        return 'uuid' if parquet_logical == 'UUID' and t.byte_width == 16 else f'fixed_binary({t.byte_width})'
    return None

def canon_values(col):
    """Values in the canonical text form (None for null); col is a ChunkedArray or Array."""
    if isinstance(col, pa.ChunkedArray): col = col.combine_chunks()
    t = col.type
    if isinstance(t, pa.BaseExtensionType): col = col.storage; t = col.type
    if pa.types.is_null(t): return [None] * len(col)
    if pa.types.is_boolean(t): return [None if v is None else ('true' if v else 'false') for v in col.to_pylist()]
    if pa.types.is_float16(t):
        out = []
        for v in col.view(pa.uint16()).to_pylist():
            if v is None: out.append(None)
            elif v & 0x7C00 == 0x7C00 and v & 0x3FF: out.append('nan')
            else: out.append(format(v, 'x'))
        return out
    if pa.types.is_float32(t):
        return [None if v is None else ('nan' if math.isnan(v) else format(struct.unpack('<I', struct.pack('<f', v))[0], 'x')) for v in col.to_pylist()]
    if pa.types.is_float64(t):
        return [None if v is None else ('nan' if math.isnan(v) else format(struct.unpack('<Q', struct.pack('<d', v))[0], 'x')) for v in col.to_pylist()]
    if pa.types.is_integer(t): return [None if v is None else str(v) for v in col.to_pylist()]
    if pa.types.is_date32(t) or pa.types.is_time32(t): return [None if v is None else str(v) for v in col.view(pa.int32()).to_pylist()]
    if pa.types.is_timestamp(t) or pa.types.is_time64(t): return [None if v is None else str(v) for v in col.view(pa.int64()).to_pylist()]
    if pa.types.is_decimal128(t):
        return [None if v is None else str(int.from_bytes(v, 'little', signed=True)) for v in col.view(pa.binary(16)).to_pylist()]
    if pa.types.is_string(t) or pa.types.is_large_string(t): return col.to_pylist()
    return [None if v is None else v.hex() for v in col.to_pylist()]

def parquet_logical_types(pf):
    out = {}
    for i in range(len(pf.schema)):
        c = pf.schema.column(i)
        out[c.path] = str(c.logical_type.type) if c.logical_type is not None else None
    return out

def dump(path, check_stats=False, columns=None):
    # INT96 as microseconds: pyarrow's default (ns) overflows for Spark's far-future values;
    # score-cluster reads INT96 as timestamp[us] (see ParquetTypeMapping.readMapping).
    pf = pq.ParquetFile(path, coerce_int96_timestamp_unit='us')
    schema = pf.schema_arrow
    logical = parquet_logical_types(pf)
    groups, problems = [], []
    for g in range(pf.metadata.num_row_groups):
        t = pf.read_row_group(g, columns=columns)
        cols = []
        for i, (name, col) in enumerate(zip(t.column_names, t.columns)):
            if pa.types.is_dictionary(col.type):  # pandas categoricals come back as dictionaries
                col = col.cast(col.type.value_type)
            typ = col.type
            ct = canon_type(typ, logical.get(name))
            values = canon_values(col) if ct else None
            cols.append({'name': name, 'type': ct or str(typ), 'nullable': schema.field(name).nullable, 'values': values})
            if check_stats and ct:
                st = pf.metadata.row_group(g).column(i).statistics
                nulls = col.null_count
                if st is None or st.null_count != nulls:
                    problems.append(f'{name}: null_count {None if st is None else st.null_count} != {nulls}')
                finite = pc.drop_null(col)
                if pa.types.is_floating(typ):
                    finite = pc.filter(finite, pc.invert(pc.is_nan(finite)))
                if ct in ('null', 'float16', 'uuid') or ct.startswith('fixed_binary'):
                    pass  # pyarrow's statistics API does not decode these
                elif len(finite) > 0 and not (pa.types.is_binary(typ) or pa.types.is_string(typ)):
                    mm = pc.min_max(finite).as_py()
                    if not st.has_min_max or st.min != mm['min'] or st.max != mm['max']:
                        problems.append(f'{name}: min/max {st.min if st.has_min_max else None}/{st.max if st.has_min_max else None} != {mm}')
                elif len(finite) > 0:
                    vals = sorted(v if isinstance(v, bytes) else v.encode() for v in finite.to_pylist())
                    smin, smax = st.min, st.max
                    smin = smin.encode() if isinstance(smin, str) else smin
                    smax = smax.encode() if isinstance(smax, str) else smax
                    if not st.has_min_max or smin != vals[0] or smax != vals[-1]:
                        problems.append(f'{name}: min/max {smin}/{smax} != {vals[0]}/{vals[-1]}')
        groups.append({'num_rows': t.num_rows, 'columns': cols})
    codecs = sorted({pf.metadata.row_group(g).column(i).compression for g in range(pf.metadata.num_row_groups)
                     for i in range(pf.metadata.num_columns)})
    return {'row_groups': groups, 'problems': problems, 'created_by': pf.metadata.created_by, 'codecs': codecs}

def try_dump(path, check_stats=False):
    try:
        return dump(path, check_stats)
    except Exception as e:
        return {'error': f'{type(e).__name__}: {e}'}

def dump_all(paths, check_stats=False):
    print(json.dumps({p: try_dump(p, check_stats) for p in paths}))
"""#

    /// Runs `code` (after the prelude) and decodes its JSON output as `[path: PyFile]`.
    static func runDump(_ code: String, _ arguments: [String] = []) throws -> [String: PyFile] {
        let out = try TestEnvironment.runPython(pythonPrelude + "\n" + code, arguments)
        return try JSONDecoder().decode([String: PyFile].self, from: Data(out.utf8))
    }

    /// pyarrow's dump of `paths`.
    static func pyarrowDump(_ paths: [String], checkStatistics: Bool = false) throws -> [String: PyFile] {
        try runDump("dump_all(sys.argv[1:], check_stats=\(checkStatistics ? "True" : "False"))", paths)
    }

    /// Column values in the canonical text form of the Python helper.
    static func canonicalValues(_ c: Column) -> [String?] {
        var out: [String?] = []
        out.reserveCapacity(c.count)
        let v = c.values.base
        for i in 0..<c.count {
            guard c.isValid(i) else { out.append(nil); continue }
            switch c.type {
            case .bool: out.append(v.load(fromByteOffset: i, as: UInt8.self) != 0 ? "true" : "false")
            case .int8: out.append(String(v.load(fromByteOffset: i, as: Int8.self)))
            case .int16: out.append(String(v.load(fromByteOffset: i * 2, as: Int16.self)))
            case .int32: out.append(String(v.load(fromByteOffset: i * 4, as: Int32.self)))
            case .int64: out.append(String(v.load(fromByteOffset: i * 8, as: Int64.self)))
            case .uint8: out.append(String(v.load(fromByteOffset: i, as: UInt8.self)))
            case .uint16: out.append(String(v.load(fromByteOffset: i * 2, as: UInt16.self)))
            case .uint32: out.append(String(v.load(fromByteOffset: i * 4, as: UInt32.self)))
            case .uint64: out.append(String(v.load(fromByteOffset: i * 8, as: UInt64.self)))
            case .float32:
                let bits = v.load(fromByteOffset: i * 4, as: UInt32.self)
                out.append(Float(bitPattern: bits).isNaN ? "nan" : String(bits, radix: 16))
            case .float64:
                let bits = v.load(fromByteOffset: i * 8, as: UInt64.self)
                out.append(Double(bitPattern: bits).isNaN ? "nan" : String(bits, radix: 16))
            case .string: out.append(c.string(at: i))
            case .binary:
                let o = c.offsets!.typed(Int64.self)
                let bytes = UnsafeRawBufferPointer(rebasing: c.values.bytes[Int(o[i])..<Int(o[i + 1])])
                out.append(hex(bytes))
            case .float16:
                let bits = v.load(fromByteOffset: i * 2, as: UInt16.self)
                out.append(bits & 0x7C00 == 0x7C00 && bits & 0x3FF != 0 ? "nan" : String(bits, radix: 16))
            case .date32: out.append(String(v.load(fromByteOffset: i * 4, as: Int32.self)))
            case .timestamp, .time: out.append(String(v.load(fromByteOffset: i * 8, as: Int64.self)))
            case .decimal:
                let low = v.loadUnaligned(fromByteOffset: i * 16, as: UInt64.self)
                let high = v.loadUnaligned(fromByteOffset: i * 16 + 8, as: UInt64.self)
                out.append(String(Int128(bitPattern: UInt128(high) << 64 | UInt128(low))))
            case .fixedBinary(let w):
                out.append(hex(UnsafeRawBufferPointer(start: v + i * w, count: w)))
            case .uuid:
                out.append(hex(UnsafeRawBufferPointer(start: v + i * 16, count: 16)))
            case .null:
                out.append(nil)
            case .list, .structure, .map:
                out.append("<nested>")
            }
        }
        return out
    }

    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Null slots must hold NaN (floats) or zero (other fixed-width types); string offsets must
    /// not advance over a null. Returns a description of the first violation.
    static func nullSlotProblem(_ c: Column) -> String? {
        guard c.validity != nil else { return c.nullCount == 0 ? nil : "nullCount \(c.nullCount) without validity" }
        for i in 0..<c.count where !c.isValid(i) {
            switch c.type {
            case .float32:
                if !Float(bitPattern: c.values.base.load(fromByteOffset: i * 4, as: UInt32.self)).isNaN { return "row \(i): null float32 slot is not NaN" }
            case .float64:
                if !Double(bitPattern: c.values.base.load(fromByteOffset: i * 8, as: UInt64.self)).isNaN { return "row \(i): null float64 slot is not NaN" }
            case .string, .binary:
                let o = c.offsets!.typed(Int64.self)
                if o[i] != o[i + 1] { return "row \(i): null string has bytes" }
            case .float16:
                let bits = c.values.base.load(fromByteOffset: i * 2, as: UInt16.self)
                if !(bits & 0x7C00 == 0x7C00 && bits & 0x3FF != 0) { return "row \(i): null float16 slot is not NaN" }
            case .null:
                break
            default:
                let w = c.type.byteWidth!
                for k in 0..<w where c.values.base.load(fromByteOffset: i * w + k, as: UInt8.self) != 0 {
                    return "row \(i): null slot is not zero"
                }
            }
        }
        return nil
    }

    /// Checks that `reader` decodes every supported column of every row group exactly as pyarrow
    /// does (`dump`), that columns pyarrow reads as other types are reported unsupported, and
    /// that nested columns (one pyarrow column, several leaves here) are listed but refused.
    static func expectMatches(_ reader: ParquetFileReader, _ dump: PyFile, file: String,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(reader.rowGroupRowCounts == dump.row_groups.map(\.num_rows), "\(file): row group sizes", sourceLocation: sourceLocation)
        guard let first = dump.row_groups.first else { return }
        var supported: [(py: Int, ours: Int)] = []
        var accounted = Set<Int>()
        for (i, py) in first.columns.enumerated() {
            guard let k = reader.columns.firstIndex(where: { $0.name == py.name }) else {
                // A nested column: its leaves are listed as "name.child..." and cannot be read.
                let leaves = reader.columns.indices.filter { reader.columns[$0].name.hasPrefix(py.name + ".") }
                #expect(!leaves.isEmpty, "\(file): pyarrow column \(py.name) has no leaves here", sourceLocation: sourceLocation)
                for k in leaves {
                    accounted.insert(k)
                    #expect(reader.columns[k].dataType == nil && reader.columns[k].unsupportedReason?.contains("nested") == true,
                            "\(file): nested leaf \(reader.columns[k].name) should be unsupported", sourceLocation: sourceLocation)
                    do {
                        _ = try reader.readRowGroup(0, columns: [k])
                        Issue.record("\(file): reading nested leaf \(reader.columns[k].name) did not fail", sourceLocation: sourceLocation)
                    } catch let e as ParquetError {
                        #expect(e.column == reader.columns[k].name && e.message.contains("nested"), "\(e)", sourceLocation: sourceLocation)
                    }
                }
                continue
            }
            accounted.insert(k)
            let d = reader.columns[k]
            if py.values == nil {
                #expect(d.dataType == nil && d.unsupportedReason != nil,
                        "\(file): \(py.name) is \(py.type) in pyarrow, expected unsupported, got \(String(describing: d.dataType))",
                        sourceLocation: sourceLocation)
            } else {
                #expect(d.dataType?.description == py.type, "\(file): \(py.name) type \(String(describing: d.dataType)) (\(d.unsupportedReason ?? "")) != \(py.type)",
                        sourceLocation: sourceLocation)
                #expect(d.nullable == py.nullable, "\(file): \(py.name) nullability", sourceLocation: sourceLocation)
                if d.dataType != nil { supported.append((i, k)) }
            }
        }
        #expect(accounted.count == reader.columns.count, "\(file): columns \(reader.columns.map(\.name)) vs pyarrow's \(first.columns.map(\.name))",
                sourceLocation: sourceLocation)
        for (g, group) in dump.row_groups.enumerated() {
            let batch = try reader.readRowGroup(g, columns: supported.map(\.ours))
            #expect(batch.rowCount == group.num_rows, "\(file) row group \(g): rows", sourceLocation: sourceLocation)
            for (k, pair) in supported.enumerated() {
                let column = batch.columns[k]
                let expected = group.columns[pair.py].values!
                let actual = canonicalValues(column)
                if actual != expected {
                    let firstDiff = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }
                    Issue.record("\(file) row group \(g) column \(group.columns[pair.py].name): values differ (\(actual.count) vs \(expected.count) values; first difference \(String(describing: firstDiff)))",
                                 sourceLocation: sourceLocation)
                }
                if let problem = nullSlotProblem(column) {
                    Issue.record("\(file) row group \(g) column \(group.columns[pair.py].name): \(problem)", sourceLocation: sourceLocation)
                }
            }
        }
    }
}
