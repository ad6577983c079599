// Elementwise activations (GELU, QuickGELU, SiLU), the row softmax and residual/bias adds, each a SIMD16 kernel
// with a plain scalar reference twin. All work in place on a contiguous buffer so they can follow a GEMM directly.
//   exact GELU: the GPT (PyTorch nn.TransformerEncoderLayer activation="gelu", minGPT nn.GELU)
//   QuickGELU:  OpenAI CLIP text tower (x * sigmoid(1.702 x))
//   SiLU:       the VQGAN's swish after every GroupNorm (x * sigmoid(x))

// MARK: - GELU

/// Exact GELU in place: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), SIMD16.
///
/// For x < 0 it uses 0.5 x erfc(|x| / sqrt 2), so the far negative tail keeps its relative accuracy instead of
/// cancelling in 1 + erf (PyTorch's Float path cancels there; both agree to ~6e-8 |x| absolute).
/// - Parameters:
///   - x: the buffer, `[count]`.
///   - count: number of elements.
public func geluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    Lane16.map(x, count, GeluLanes())
}

/// Exact GELU of 16 lanes.
private struct GeluLanes: LaneFunction {
    @inline(__always) func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> {
        let c = erfcNonNegative(v.replacing(with: -v, where: v .> 0) * -0.70710677)
        let phi2 = c.replacing(with: 2 - c, where: v .> 0)        // 2 * Phi(x)
        return 0.5 * v * phi2
    }
}

/// Scalar reference twin of `geluInPlace`.
public func geluReference(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        let v = x[i]
        let c = erfcNonNegative(-v.magnitude * -0.70710677)
        x[i] = 0.5 * v * (v > 0 ? 2 - c : c)
    }
}

// MARK: - QuickGELU and SiLU

/// QuickGELU in place: x * sigmoid(1.702 x), SIMD16.
/// - Parameters:
///   - x: the buffer, `[count]`.
///   - count: number of elements.
public func quickGeluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    Lane16.map(x, count, QuickGeluLanes())
}

/// QuickGELU of 16 lanes.
private struct QuickGeluLanes: LaneFunction {
    @inline(__always) func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> { v * fastSigmoid(1.702 * v) }
}

/// Scalar reference twin of `quickGeluInPlace`.
public func quickGeluReference(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { x[i] = x[i] * fastSigmoid(1.702 * x[i]) }
}

/// SiLU (swish) in place: x * sigmoid(x), SIMD16.
/// - Parameters:
///   - x: the buffer, `[count]`.
///   - count: number of elements.
public func siluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    Lane16.map(x, count, SiluLanes())
}

/// SiLU of 16 lanes.
private struct SiluLanes: LaneFunction {
    @inline(__always) func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> { v * fastSigmoid(v) }
}

/// Multiplication of 16 lanes by a constant.
private struct ScaleLanes: LaneFunction {
    let factor: Float
    @inline(__always) func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> { v * factor }
}

/// Scalar reference twin of `siluInPlace`.
public func siluReference(_ x: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { x[i] = x[i] * fastSigmoid(x[i]) }
}

// MARK: - Softmax

/// Numerically stable softmax of one row in place: exp(scale * (x - max)) / sum, SIMD16.
///
/// `scale` is an inverse temperature (1 for a plain softmax). Entries of -inf get probability 0; a row whose
/// maximum is -inf or NaN gives NaN (there is no distribution to return).
/// - Parameters:
///   - x: the row, `[count]`, count >= 1.
///   - count: row length.
///   - scale: multiplies the max-subtracted logits; must be > 0.
public func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
    typealias V = SIMD16<Float>
    precondition(count >= 1 && scale > 0, "softmax needs a non-empty row and a positive scale")
    var m0 = V(repeating: -.infinity), m1 = m0
    var i = 0
    while i + 32 <= count {
        m0 = Lane16.max(m0, Lane16.load(x + i))
        m1 = Lane16.max(m1, Lane16.load(x + i + 16))
        i += 32
    }
    var maxValue = Lane16.max(Lane16.max(m0, m1))
    while i < count {
        if x[i] > maxValue { maxValue = x[i] }
        i += 1
    }

    let shift = V(repeating: -maxValue * scale)
    let scaleV = V(repeating: scale)
    var s0 = V(), s1 = V()
    i = 0
    while i + 32 <= count {
        let e0 = fastExp(Lane16.mulAdd(Lane16.load(x + i), scaleV, shift))
        let e1 = fastExp(Lane16.mulAdd(Lane16.load(x + i + 16), scaleV, shift))
        Lane16.store(e0, x + i)
        Lane16.store(e1, x + i + 16)
        s0 += e0
        s1 += e1
        i += 32
    }
    if i + 16 <= count {
        let e0 = fastExp(Lane16.mulAdd(Lane16.load(x + i), scaleV, shift))
        Lane16.store(e0, x + i)
        s0 += e0
        i += 16
    }
    if i < count {
        let e = Lane16.keepFirst(fastExp(Lane16.mulAdd(Lane16.loadPartial(x + i, count - i), scaleV, shift)), count - i)
        Lane16.storePartial(e, x + i, count - i)
        s1 += e
    }
    let inverse = 1 / Lane16.sum(s0 + s1)
    Lane16.map(x, count, ScaleLanes(factor: inverse))
}

/// Scalar reference twin of `softmaxInPlace`.
public func softmaxReference(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
    precondition(count >= 1 && scale > 0, "softmax needs a non-empty row and a positive scale")
    var maxValue = -Float.infinity
    for i in 0..<count where x[i] > maxValue { maxValue = x[i] }
    var sum: Float = 0
    for i in 0..<count {
        x[i] = fastExp(Lane16.mulAdd(x[i], scale, -maxValue * scale))
        sum += x[i]
    }
    let inverse = 1 / sum
    for i in 0..<count { x[i] *= inverse }
}

// MARK: - Residual and bias

/// y += x elementwise (the residual connection), SIMD16.
/// - Parameters:
///   - y: accumulator, `[count]`.
///   - x: addend, `[count]`.
///   - count: number of elements.
public func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
        Lane16.store(Lane16.load(y + i) + Lane16.load(x + i), y + i)
        i += 16
    }
    while i < count { y[i] += x[i]; i += 1 }
}

/// Scalar reference twin of `addInPlace`.
public func addReference(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { y[i] += x[i] }
}

/// Adds a bias row to every row of a matrix in place: y[r, c] += bias[c], SIMD16.
/// - Parameters:
///   - y: the matrix, `[rows, columns]`.
///   - bias: `[columns]`.
///   - rows: rows to update.
///   - columns: row length.
public func addBiasInPlace(_ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Range<Int>,
                           columns: Int) {
    for r in rows { addInPlace(y + r * columns, bias, count: columns) }
}

/// Scalar reference twin of `addBiasInPlace`.
public func addBiasReference(_ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Range<Int>,
                             columns: Int) {
    for r in rows {
        for c in 0..<columns { y[r * columns + c] += bias[c] }
    }
}
