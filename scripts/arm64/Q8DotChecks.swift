// aarch64 checks of Q8Dot.swift (the int8 block dot product under every Q8_0 kernel; its types are internal, so it
// is checked through the public GEMV): the sign and magnitude corners of one block, every product +-127 * +-127,
// give the exact integer dot product (times the unit scales) that the plain formula gives.
import ClipgenKernels

func q8DotChecks() {
    // Weights w[j] = +-127 (d = 1); activations x[j] = +-127 with an independent sign pattern (d = 1).
    for pattern in 0..<4 {
        let wSign: (Int) -> Float = { j in (j + pattern) % 2 == 0 ? 1 : -1 }
        let xSign: (Int) -> Float = { j in (j / (pattern + 1)) % 2 == 0 ? 1 : -1 }
        let w = (0..<32).map { 127 * wSign($0) }
        let x = (0..<32).map { 127 * xSign($0) }
        var block = [UInt8](repeating: 0, count: Q8_0.blockBytes)
        w.withUnsafeBufferPointer { pw in
            block.withUnsafeMutableBytes { quantizeRowQ8_0Reference(pw.baseAddress!, count: 32, into: $0.baseAddress!) }
        }
        var values = [Int16](repeating: 0, count: 32), scales: [Float] = [0]
        x.withUnsafeBufferPointer { quantizeActivationsQ8_0($0.baseAddress!, count: 32, values: &values, scales: &scales) }
        var y: [Float] = [.nan]
        block.withUnsafeBytes { pw in
            gemvQ8_0(weights: pw.baseAddress!, columns: 32, rows: 0..<1, activations: values, scales: scales, output: &y)
        }
        var want: Int32 = 0
        for j in 0..<32 { want += Int32(w[j]) * Int32(x[j]) }
        check("block dot, +-127 x +-127 pattern \(pattern)", y[0] == Float(want), "got \(sci(y[0])), want \(want)")
    }
}
