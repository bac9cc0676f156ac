import Columnar
import Parquet
import Testing

/// Partition directories read as Spark reads them: the keys, the types it infers, nulls, escapes,
/// and layouts that are refused.
@Suite struct HivePartitioningTests {
    func partitioning(_ paths: [String]) throws -> HivePartitioning {
        try #require(try HivePartitioning(relativePaths: paths, root: "/data"))
    }

    @Test func typesInferredAsSpark() throws {
        let p = try partitioning([
            "day=2026-12-01/hour=7/n=1/x=1.5/big=1/at=2026-12-01 10%3A00%3A00/s=FR/part-0.parquet",
            "day=2026-12-02/hour=23/n=3000000000/x=2/big=2/at=2026-12-01 11%3A30%3A00.25/s=12a/part-0.parquet",
            "day=__HIVE_DEFAULT_PARTITION__/hour=0/n=5/x=-0.5/big=99999999999999999999/at=__HIVE_DEFAULT_PARTITION__/s=/part-1.parquet",
        ])
        #expect(p.keys.map(\.name) == ["day", "hour", "n", "x", "big", "at", "s"])
        #expect(p.keys.map(\.type) == [.date32, .int32, .int64, .float64, .string, .timestamp(.microseconds, utc: true), .string])
        #expect(p.keys.map(\.nullable) == [true, false, false, false, false, true, true])
        #expect(p.values[0][0] == .date(20_788))
        #expect(p.values[2][0] == .null)
        #expect(p.values[1][2] == .int(3_000_000_000))
        #expect(p.values[0][3] == .double(1.5) && p.values[1][3] == .double(2))
        // Beyond 64 bits: kept exactly, as a string, rather than rounded to a double.
        #expect(p.values[2][4] == .string("99999999999999999999"))
        #expect(p.values[1][5] == .timestamp((20_788 * 86_400 + 11 * 3600 + 30 * 60) * 1_000_000 + 250_000))
        #expect(p.values[2][6] == .null)
        #expect(p.directories[0] == "day=2026-12-01/hour=7/n=1/x=1.5/big=1/at=2026-12-01 10%3A00%3A00/s=FR")
    }

    @Test func constantColumns() throws {
        let p = try partitioning(["d=2026-12-01/c=FR/a.parquet", "d=__HIVE_DEFAULT_PARTITION__/c=DE/b.parquet"])
        let dates = p.column(key: 0, file: 0, rows: 3)
        #expect(dates.type == .date32 && dates.count == 3 && dates.nullCount == 0)
        let nulls = p.column(key: 0, file: 1, rows: 2)
        #expect(nulls.count == 2 && nulls.nullCount == 2)
        #expect(p.column(key: 1, file: 1, rows: 4).count == 4)
    }

    @Test func flatFilesHaveNoPartitioning() throws {
        #expect(try HivePartitioning(relativePaths: ["a.parquet", "b.parquet"], root: "/data") == nil)
    }

    @Test func inconsistentLayoutsAreRefusedNamingFiles() {
        #expect { try HivePartitioning(relativePaths: ["d=1/a.parquet", "b.parquet"], root: "/data") } throws: { error in
            "\(error)".contains("/data/d=1/a.parquet") && "\(error)".contains("/data/b.parquet") && "\(error)".contains("same depth")
        }
        #expect { try HivePartitioning(relativePaths: ["d=1/c=2/a.parquet", "c=2/d=1/b.parquet"], root: "/data") } throws: { error in
            "\(error)".contains("partition directories differ")
        }
    }
}

@Suite struct PartitionFilterTests {
    let keys: [HivePartitioning.Key] = [
        .init(name: "date", type: .date32, nullable: true), .init(name: "country", type: .string, nullable: false),
        .init(name: "hour", type: .int32, nullable: false),
    ]

    func rows() -> [[HivePartitioning.Value]] {
        [[.date(20_788), .string("FR"), .int(7)], [.date(20_789), .string("DE"), .int(23)], [.null, .string("FR"), .int(0)]]
    }

    func selected(_ text: String) throws -> [Int] {
        let filter = try PartitionFilter.parse(text, keys: keys)
        return rows().indices.filter { filter.matches(rows()[$0]) }
    }

    @Test func comparisonsAndLogic() throws {
        #expect(try selected("date >= '2026-12-02'") == [1])
        #expect(try selected("date < '2026-12-02' OR country = 'DE'") == [0, 1])
        #expect(try selected("country IN ('FR', 'ES') AND hour > 5") == [0])
        #expect(try selected("country NOT IN ('FR')") == [1])
        #expect(try selected("NOT (hour = 7)") == [1, 2])
        #expect(try selected("hour <> '7' and hour != 23") == [2])
        #expect(try selected("date IS NULL") == [2])
        #expect(try selected("date is not null AND `country` == 'FR'") == [0])
    }

    @Test func nullsAreUnknownAsInSQL() throws {
        // The null date is neither before nor after, nor "not equal".
        #expect(try selected("date != '2026-12-01'") == [1])
        #expect(try selected("NOT (date = '2026-12-01')") == [1])
    }

    @Test func errorsSayWhatIsWrong() {
        #expect { try PartitionFilter.parse("region = 'x'", keys: keys) } throws: { "\($0)".contains("not a partition column") && "\($0)".contains("date, country, hour") }
        #expect { try PartitionFilter.parse("hour = 'seven'", keys: keys) } throws: { "\($0)".contains("'seven' is not a value of 'hour'") }
        #expect { try PartitionFilter.parse("date = '2026-13-01'", keys: keys) } throws: { "\($0)".contains("not a value of 'date'") }
        #expect { try PartitionFilter.parse("(hour = 1", keys: keys) } throws: { "\($0)".contains("expected ')'") }
        #expect { try PartitionFilter.parse("hour = 1 hour", keys: keys) } throws: { "\($0)".contains("unexpected hour") }
        #expect { try PartitionFilter.parse("country = 'FR", keys: keys) } throws: { "\($0)".contains("not closed") }
    }
}
