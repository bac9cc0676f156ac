import Columnar

/// Moves a page's values, decoded densely (one per non-null row) at the page's first row, to
/// their rows, filling the null rows: in place, back to front, so nothing is overwritten before
/// it is moved.
enum DenseSpread {
    /// Moves `dense` values at the start of `out` to the valid slots of `out[0..<n]` (`validity`,
    /// one byte per slot), filling null slots with `null`.
    @inline(__always)
    static func spread<S: BitwiseCopyable>(_ out: UnsafeMutablePointer<S>, n: Int, dense: Int, validity: UnsafePointer<UInt8>,
                                           null: S) {
        var j = dense - 1
        var i = n - 1
        // Blocks of 8 slots: all valid (a block move) or all null (a fill) skip the per-slot branch.
        while i > j && i >= 7 {
            let word = UnsafeRawPointer(validity + (i - 7)).loadUnaligned(as: UInt64.self)
            if word == 0x0101_0101_0101_0101 {
                // j >= 7 here: the 8 valid slots have 8 dense values at j-7...j. Read all before
                // writing, as the ranges may overlap.
                let a0 = out[j - 7], a1 = out[j - 6], a2 = out[j - 5], a3 = out[j - 4]
                let a4 = out[j - 3], a5 = out[j - 2], a6 = out[j - 1], a7 = out[j]
                out[i - 7] = a0; out[i - 6] = a1; out[i - 5] = a2; out[i - 4] = a3
                out[i - 3] = a4; out[i - 2] = a5; out[i - 1] = a6; out[i] = a7
                j -= 8
                i -= 8
            } else if word == 0 {
                (out + (i - 7)).update(repeating: null, count: 8)
                i -= 8
            } else {
                for _ in 0..<8 {
                    if validity[i] != 0 {
                        out[i] = out[j]
                        j -= 1
                    } else {
                        out[i] = null
                    }
                    i -= 1
                }
            }
        }
        while i > j {
            if validity[i] != 0 {
                out[i] = out[j]
                j -= 1
            } else {
                out[i] = null
            }
            i -= 1
        }
        // From here on every slot is valid and already in place.
    }

    /// `spread` for values of any width (fixed binary): moved back to front with memmove,
    /// null slots zeroed.
    static func spreadBytes(_ out: UnsafeMutableRawPointer, width w: Int, n: Int, dense: Int, validity: UnsafePointer<UInt8>) {
        var j = dense - 1
        var i = n - 1
        while i > j {
            if validity[i] != 0 {
                (out + i * w).copyMemory(from: out + j * w, byteCount: w)
                j -= 1
            } else {
                (out + i * w).initializeMemory(as: UInt8.self, repeating: 0, count: w)
            }
            i -= 1
        }
    }
}
