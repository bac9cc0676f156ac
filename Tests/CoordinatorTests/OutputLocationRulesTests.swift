import Testing
@testable import Coordinator
import Foundation

/// The rules of where a job may write and what `--overwrite` may remove, as a pure function:
/// paths and listings in, verdicts out. No test here touches a file system.
@Suite("Output location rules")
struct OutputLocationRulesTests {
    typealias Entry = OutputLocationRules.Entry

    @Test("the file system root, the home directory and its ancestors are refused always")
    func systemLocations() {
        #expect(OutputLocationRules.refusal(output: "/", input: "/data/in", home: "/root")?.contains("file system root") == true)
        #expect(OutputLocationRules.refusal(output: "/home/ana", input: "/data/in", home: "/home/ana")?.contains("home directory") == true)
        #expect(OutputLocationRules.refusal(output: "/home", input: "/data/in", home: "/home/ana")?.contains("contains your home") == true)
        #expect(OutputLocationRules.refusal(output: "/home/ana/out", input: "/data/in", home: "/home/ana") == nil)
        #expect(OutputLocationRules.refusal(output: "/data/out", input: "/data/in", home: nil) == nil)
    }

    @Test("an output that contains, is, or is inside the input is refused; a sibling with a common prefix is not")
    func overlapWithInput() {
        for (output, input) in [("/data/in", "/data/in"), ("/data", "/data/in"), ("/data/in/out", "/data/in"),
                                ("/data/in", "/data/in/part-0.parquet"), ("/srv/x", "/")] {
            let refusal = OutputLocationRules.refusal(output: output, input: input, home: "/root")
            #expect(refusal?.contains("overlaps the input") == true, "\(output) vs \(input)")
        }
        #expect(OutputLocationRules.refusal(output: "/data/input2", input: "/data/in", home: "/root") == nil)
        #expect(OutputLocationRules.refusal(output: "/data/in", input: "/data/in.parquet", home: "/root") == nil)
    }

    @Test("an empty directory is cleared of nothing")
    func emptyDirectory() {
        #expect(OutputLocationRules.overwrite(directory: "/o", entries: [], hasOwnManifest: false) == .clear([]))
        // The lock is the job's own: it is held while clearing, never removed by it.
        #expect(OutputLocationRules.overwrite(directory: "/o", entries: [Entry("_lock", .file)], hasOwnManifest: false) == .clear([]))
    }

    @Test("an earlier job's output (its manifest) is cleared of exactly what score-cluster wrote, never the lock")
    func ownOutput() {
        let entries = [Entry("_manifest.jsonl", .file), Entry("_SUCCESS", .file), Entry("part-00000.parquet", .file),
                       Entry("part-00001.parquet", .file), Entry("_temporary", .directory), Entry("_failed", .directory),
                       Entry("_lock", .file)]
        #expect(OutputLocationRules.overwrite(directory: "/o", entries: entries, hasOwnManifest: true)
                == .clear(entries.filter { $0.name != "_lock" }))
    }

    @Test("a directory with the job's manifest and a file of the user's is refused, naming the file")
    func ownOutputWithForeignFile() {
        let entries = [Entry("_manifest.jsonl", .file), Entry("part-00000.parquet", .file), Entry("thesis.tex", .file)]
        guard case .refuse(let reason) = OutputLocationRules.overwrite(directory: "/o", entries: entries, hasOwnManifest: true) else {
            Issue.record("a directory holding thesis.tex was cleared")
            return
        }
        #expect(reason.contains("thesis.tex"))
        #expect(!reason.contains("part-00000.parquet"))
    }

    @Test("what score-cluster writes is told apart from look-alikes")
    func ownNames() {
        #expect(OutputLocationRules.isOwn(Entry("part-00000.parquet", .file)))
        #expect(OutputLocationRules.isOwn(Entry("part-123456.parquet", .symlink)))
        #expect(!OutputLocationRules.isOwn(Entry("part-00000.parquet", .directory)))
        #expect(!OutputLocationRules.isOwn(Entry("part-0.parquet", .file)))
        #expect(!OutputLocationRules.isOwn(Entry("part-0000x.parquet", .file)))
        #expect(!OutputLocationRules.isOwn(Entry("_temporary", .file)))
        #expect(!OutputLocationRules.isOwn(Entry("_notes", .file)))
        #expect(!OutputLocationRules.isOwn(Entry("_manifest.jsonl", .directory)))
    }

    @Test("a directory that is no output (a thesis, a subdirectory, a dotfile) is refused, listing what it holds")
    func notAnOutput() {
        let entries = [Entry("thesis.tex", .file), Entry("chapters", .directory), Entry(".git", .directory)]
        guard case .refuse(let reason) = OutputLocationRules.overwrite(directory: "/home/ana/thesis", entries: entries, hasOwnManifest: false) else {
            Issue.record("a thesis directory was cleared")
            return
        }
        #expect(reason.contains("does not look like a score-cluster output"))
        #expect(reason.contains(".git/, chapters/, thesis.tex"))
        #expect(reason.contains("remove the directory by hand"))
    }

    @Test("another writer's committed output (Spark: _SUCCESS, part files, .crc files) is cleared")
    func sparkOutput() {
        let entries = [Entry("_SUCCESS", .file), Entry("._SUCCESS.crc", .file),
                       Entry("part-00000-1b2c-c000.snappy.parquet", .file), Entry(".part-00000-1b2c-c000.snappy.parquet.crc", .file),
                       Entry("_committed_123", .file)]
        #expect(OutputLocationRules.overwrite(directory: "/o", entries: entries, hasOwnManifest: false) == .clear(entries))
    }

    @Test("_SUCCESS next to anything but part files and _ entries is refused")
    func successWithForeignEntries() {
        let entries = [Entry("_SUCCESS", .file), Entry("part-00000.parquet", .file), Entry("notes.txt", .file), Entry(".bashrc", .file)]
        guard case .refuse(let reason) = OutputLocationRules.overwrite(directory: "/o", entries: entries, hasOwnManifest: false) else {
            Issue.record("notes.txt and .bashrc would have been removed")
            return
        }
        #expect(reason.contains(".bashrc, notes.txt"))
    }

    @Test("a message lists a few entries and counts the rest")
    func sample() {
        let entries = (0..<12).map { Entry("f\(String(format: "%02d", $0))", .file) }
        #expect(OutputLocationRules.sample(entries) == "f00, f01, f02, f03, f04 and 7 more")
    }
}
