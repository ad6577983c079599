// The memory report, and loading at model scale: a 1 GiB sparse file and a tokenizer-sized
// string array load in milliseconds without copying data into the heap.

import ClipgenFile
import Foundation
import Testing

@Suite(.serialized) struct MemoryAndScaleTests {
    let dir = ScratchDirectory()

    @Test func parsesProcStatus() {
        let text = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1536 kB\nRssAnon:\t  1024 kB\nRssFile:\t   256 kB\nRssShmem:\t     0 kB\n"
        let r = MemoryReport.parse(status: text)
        #expect(r == MemoryReport(anonymous: 1 << 20, file: 1 << 18, shared: 0, peak: 2 << 20))
        #expect(r?.resident == (1 << 20) + (1 << 18))
        #expect(r?.description == "RSS 1.3 MiB (anon 1.0 MiB, file 0.3 MiB, shmem 0.0 MiB), peak 2.0 MiB")
        #expect(MemoryReport.parse(status: "Name: x\n") == nil)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"), "needs Linux /proc"))
    func currentProcess() throws {
        let r = try #require(MemoryReport.current())
        #expect(r.anonymous > 0 && r.file > 0 && r.peak >= r.resident / 2)
    }

    /// A 1 GiB F32 tensor in a sparse file: opening validates and maps it without reading it.
    @Test func loadsGigabyteSparseFileFast() throws {
        var b = try sampleWriter().encoded()
        let info = InfoFields("tensor_q80", in: b)  // the last tensor: make it 1 GiB of Q8_0
        let rows = (1 << 30) / 34
        patch(&b, at: info.dims + 8, UInt64(rows))
        let path = dir.write(b)
        let file0 = try GGUFFile(path: dir.write(try sampleWriter().encoded(), to: "small.gguf"))
        let q8Start = try file0.tensor("tensor_q80").fileOffset
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(q8Start + rows * 68))
        try handle.close()

        let before = MemoryReport.current()
        let clock = ContinuousClock()
        var file: GGUFFile?
        let elapsed = try clock.measure { file = try GGUFFile(path: path) }
        let t = try file!.tensor("tensor_q80", type: .q8_0, shape: [64, rows])
        #expect(t.byteCount == rows * 68)
        #expect(elapsed < .milliseconds(50), "open took \(elapsed)")
        if let before, let after = MemoryReport.current() {
            #expect(after.resident - before.resident < 8 << 20, "\(before) -> \(after)")
        }
        print("1 GiB sparse file: open + validate + map in \(elapsed)")
    }

    /// A tokenizer-sized file: 49,408 vocabulary strings, 48,894 merges and 400 tensors.
    @Test func loadsTokenizerSizedMetadataFast() throws {
        var w = GGUFWriter()
        w.add("general.architecture", .string("clipgen"))
        w.add("tokenizer.vocab", .stringArray((0..<49_408).map { "tok\($0)</w>" }))
        w.add("tokenizer.merges", .stringArray((0..<48_894).map { "t\($0 % 977) ok\($0)" }))
        for i in 0..<400 { w.addTensor("blocks.\(i / 16).layer.\(i % 16).weight", shape: [8], f32: [Float](repeating: 1, count: 8)) }
        let path = dir.file("tok.gguf")
        try w.write(to: path)

        let clock = ContinuousClock()
        var times: [Duration] = []
        var file: GGUFFile!
        for _ in 0..<5 { times.append(try clock.measure { file = try GGUFFile(path: path) }) }
        let median = times.sorted()[2]
        #expect(median < .milliseconds(100), "median open \(median)")
        var n = 0
        var last = ""
        for s in try file.stringArray("tokenizer.merges") { n += 1; if n == 48_894 { last = s.string } }
        #expect(n == 48_894 && last == "t\(48_893 % 977) ok48893")
        #expect(file.tensorCount == 400)
        print("tokenizer-sized file (\(file.fileSize) bytes, 98k strings, 400 tensors): median open \(median)")
    }
}
