// Our Q8_0 quantiser against gguf-py's reference quantiser (gguf.quants), byte for byte, on tricky inputs;
// and our dequantiser against gguf-py's dequantiser, bit for bit.

import ClipgenFile
import ClipgenKernels
import Foundation
import Testing

/// Writes tricky float rows (as F32) and gguf-py's Q8_0 quantisation and dequantisation of them into one file.
private let quantizeWithGGUFPy = #"""
import sys
import numpy as np
import gguf
from gguf.quants import quantize, dequantize
rng = np.random.default_rng(7)
blocks = []
blocks.append(np.zeros(32))                                   # all-zero block: scale 0, codes 0
blocks.append(np.arange(-16, 16) * 0.5 * (127 / 8))           # exact .5 ties after scaling
blocks.append(np.full(32, 1e-30))                             # tiny values, subnormal fp16 scale
blocks.append(np.linspace(-1e30, 1e30, 32))                   # huge magnitudes
blocks.append(np.full(32, 65504.0 * 127))                     # scale at the fp16 maximum
blocks.append(np.array([127.0] + [63.5, -63.5, 0.5, -0.5] * 7 + [1, 2, 3]))  # ties at amax 127 -> d = 1
blocks.append(rng.standard_normal(32) * 1e-5)
for _ in range(57):
    blocks.append(rng.standard_normal(32) * 10.0 ** rng.uniform(-6, 4))
x = np.concatenate(blocks).astype(np.float32).reshape(8, 256)  # [rows 8, columns 256]
q = quantize(x, gguf.GGMLQuantizationType.Q8_0)
d = dequantize(q, gguf.GGMLQuantizationType.Q8_0).astype(np.float32)
w = gguf.GGUFWriter(sys.argv[1], "clipgen")
w.add_tensor("source", x)
w.add_tensor("q8", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
w.add_tensor("dequantized", d)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
"""#

@Suite(.enabled(if: ReferencePython.testsEnabled, ReferencePython.skipMessage))
struct QuantizerInteropTests {
    let dir = ScratchDirectory()

    @Test func quantiserAndDequantiserMatchGGUFPyBitForBit() throws {
        let path = dir.file("quants.gguf")
        _ = try ReferencePython.script(quantizeWithGGUFPy, [path], in: dir)
        let file = try GGUFFile(path: path)
        let source = try file.tensor("source", type: .f32, shape: [256, 8])
        let reference = try file.tensor("q8", type: .q8_0, shape: [256, 8])
        let dequantized = try file.tensor("dequantized", type: .f32, shape: [256, 8])
        let rowBytes = Q8_0.rowBytes(columns: 256)
        var mismatches = 0
        for row in 0..<8 {
            let input = Array(source.f32Row(row))
            let expected = Array(UnsafeRawBufferPointer(start: reference.rowPointer(row), count: rowBytes))
            var ours = [UInt8](repeating: 0xAA, count: rowBytes)
            var oursFast = [UInt8](repeating: 0x55, count: rowBytes)
            input.withUnsafeBufferPointer { x in
                ours.withUnsafeMutableBytes { quantizeRowQ8_0Reference(x.baseAddress!, count: 256, into: $0.baseAddress!) }
                oursFast.withUnsafeMutableBytes { quantizeRowQ8_0(x.baseAddress!, count: 256, into: $0.baseAddress!) }
            }
            #expect(ours == expected, "reference quantiser, row \(row)")
            #expect(oursFast == expected, "fast quantiser, row \(row)")
            if ours != expected { mismatches += 1 }

            var back = [Float](repeating: .nan, count: 256)
            back.withUnsafeMutableBufferPointer {
                dequantizeRowQ8_0(reference.rowPointer(row), count: 256, into: $0.baseAddress!)
            }
            #expect(back.map(\.bitPattern) == Array(dequantized.f32Row(row)).map(\.bitPattern), "dequantise row \(row)")
        }
        #expect(mismatches == 0)
    }
}
