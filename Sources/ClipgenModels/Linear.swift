// A linear layer y = W x + b over a batch of rows, whatever type the converter stored W as.
//
// Q8_0 (the default) is read in place from the mapping by the int8 kernels: the activations are quantised to
// Q8_0 once per call and each weight block read from memory serves the whole batch. F32 and F16 files exist
// for accuracy comparisons: F32 is read in place by a plain SIMD dot-product loop; F16 is widened to an owned
// F32 copy at load (costs RssAnon equal to twice the tensor; such files are for checking, not for small boxes).

import ClipgenFile
import ClipgenKernels
import ClipgenThreads

/// `y[j] = W x[j] + b` for each row j of a batch; W is `[outFeatures, inFeatures]` (PyTorch order).
public final class Linear {
    /// Input width.
    public let inFeatures: Int
    /// Output width.
    public let outFeatures: Int
    /// The tensor's name in the file (for messages).
    public let name: String
    private let storage: Storage
    private let bias: UnsafePointer<Float>?                  // [outFeatures]
    private var activations: [Int: Q8Activations] = [:]    // quantised inputs, one buffer per batch size seen

    private enum Storage {
        case q8_0(UnsafeRawPointer)                          // [out, in] Q8_0 blocks in the mapping
        case f32(UnsafePointer<Float>)                       // [out, in] in the mapping, or owned (from F16)
    }
    private var owned: UnsafeMutablePointer<Float>?

    /// Loads `<prefix>.weight` (ggml shape [in, out]) and, if `hasBias`, `<prefix>.bias` ([out], F32).
    public init(_ reader: ComponentReader, _ prefix: String, in inFeatures: Int, out outFeatures: Int,
                hasBias: Bool = true) throws {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        name = "\(reader.component).\(prefix).weight"
        let w = try reader.tensor(prefix + ".weight", shape: [inFeatures, outFeatures], types: [.q8_0, .f16, .f32])
        switch w.type {
        case .q8_0:
            storage = .q8_0(w.baseAddress)
        case .f32:
            storage = .f32(w.f32.baseAddress!)
        case .f16:
            let copy = UnsafeMutablePointer<Float>.allocate(capacity: w.elementCount)
            for (i, bits) in w.f16Bits.enumerated() { copy[i] = floatFromHalfBits(bits) }
            owned = copy
            storage = .f32(UnsafePointer(copy))
        }
        bias = hasBias ? try reader.vector(prefix + ".bias", count: outFeatures) : nil
    }

    deinit { owned?.deallocate() }

    /// `y[j] = W x[j] + b` for j in 0..<batch.
    /// - Parameters:
    ///   - x: `[batch, inFeatures]`.
    ///   - y: `[batch, outFeatures]`, written.
    public func callAsFunction(_ x: UnsafePointer<Float>, batch: Int, into y: UnsafeMutablePointer<Float>,
                               pool: ThreadPool) {
        switch storage {
        case .q8_0(let w):
            let a = activations[batch] ?? Q8Activations(columns: inFeatures, batch: batch)
            activations[batch] = a
            for j in 0..<batch { a.quantize(x + j * inFeatures, index: j) }
            pool.q8MatMul(weights: w, rows: outFeatures, columns: inFeatures, activations: a, into: y)
        case .f32(let w):
            let chunk = 64
            pool.parallelFor((outFeatures + chunk - 1) / chunk) { task in
                for o in task * chunk ..< min(self.outFeatures, (task + 1) * chunk) {
                    let row = w + o * self.inFeatures                    // [in]
                    for j in 0..<batch { y[j * self.outFeatures + o] = dot(row, x + j * self.inFeatures, self.inFeatures) }
                }
            }
        }
        if let bias {
            for j in 0..<batch { addInPlace(y + j * outFeatures, bias, count: outFeatures) }
        }
    }
}

/// Dot product in a fixed order (16 lanes, then the lane tree, then the tail), so every row and batch size
/// gives the same bits.
@inline(__always)
private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    var i = 0
    while i + 16 <= n {
        let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
        let vb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
#if CLIPGEN_FMA || arch(arm64)
        acc = acc.addingProduct(va, vb)
#else
        acc += va * vb   // without an FMA target, addingProduct is a libm call per lane
#endif
        i += 16
    }
    var total = acc.sum()
    while i < n {
        total += a[i] * b[i]
        i += 1
    }
    return total
}
