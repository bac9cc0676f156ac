import Testing
import Wire

@Suite("MemoryLimit: --worker-memory and --memory-limit values")
struct MemoryLimitTests {
    @Test("a plain number is megabytes; units as Spark writes them, in any case")
    func parsesSizes() {
        #expect(MemoryLimit(parsing: "300")?.megabytes == 300)
        #expect(MemoryLimit(parsing: "300m")?.megabytes == 300)
        #expect(MemoryLimit(parsing: "300MB")?.megabytes == 300)
        #expect(MemoryLimit(parsing: "300MiB")?.megabytes == 300)
        #expect(MemoryLimit(parsing: "2g")?.megabytes == 2048)
        #expect(MemoryLimit(parsing: "2GB")?.megabytes == 2048)
        #expect(MemoryLimit(parsing: "1t")?.megabytes == 1 << 20)
        #expect(MemoryLimit(parsing: " 512 m ")?.megabytes == 512)
        #expect(MemoryLimit(parsing: "300")?.bytes == 300 * 1_048_576)
    }

    @Test("zero, negative, fractional, unknown units, empty and overflowing values are refused",
          arguments: ["0", "0g", "-5", "1.5g", "300k", "300 bytes", "", "g", "none", "99999999999999999999", "9000000000000t"])
    func refusesNonsense(_ text: String) {
        #expect(MemoryLimit(parsing: text) == nil)
    }

    @Test("a worker's own limit and the job's: the smaller applies, either alone applies as it is")
    func effectiveLimit() {
        let small = MemoryLimit(megabytes: 300), large = MemoryLimit(megabytes: 4096)
        #expect(MemoryLimit.effective(small, large) == small)
        #expect(MemoryLimit.effective(large, small) == small)
        #expect(MemoryLimit.effective(nil, large) == large)
        #expect(MemoryLimit.effective(small, nil) == small)
        #expect(MemoryLimit.effective(nil, nil) == nil)
    }
}
