// Output, bookkeeping, seeded data, comparisons and timing for the aarch64 kernel checks (scripts/test-arm64).
// Embedded Swift has no print of Float, no Foundation and no CommandLine, so this file brings the little it needs:
// lines go out through putchar, floats are formatted here, the process ends through exit.

@_silgen_name("putchar") private func cPutchar(_ c: Int32) -> Int32
@_silgen_name("exit") func cExit(_ status: Int32) -> Never
@_silgen_name("clipgen_arm_now_ns") private func cNowNanoseconds() -> UInt64
/// glibc's libm, the "true" function the activation kernels are held against.
@_silgen_name("exp") func libmExp(_ x: Double) -> Double
@_silgen_name("erf") func libmErf(_ x: Double) -> Double
@_silgen_name("erfc") func libmErfc(_ x: Double) -> Double

/// Writes one line to stdout.
func line(_ text: String) {
    var text = text
    text.withUTF8 { for byte in $0 { _ = cPutchar(Int32(byte)) } }
    _ = cPutchar(10)
}

/// `x` as text with 3 significant decimals, e.g. "1.234e-05" (Embedded Swift cannot describe a Float).
func sci(_ x: Float) -> String { sci(Double(x)) }

func sci(_ x: Double) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x < 0 ? "-inf" : "inf" }
    if x == 0 { return "0" }
    var m = x.magnitude, e = 0
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 { m *= 10; e -= 1 }
    var digits = Int((m * 1000).rounded())
    if digits >= 10_000 { digits /= 10; e += 1 }
    let mantissa = "\(digits / 1000)." + zeroPadded(digits % 1000, width: 3)
    let exponent = (e < 0 ? "-" : "+") + (e.magnitude < 10 ? "0" : "") + String(e.magnitude)
    return (x < 0 ? "-" : "") + mantissa + "e" + exponent
}

/// `n` >= 0 with leading zeros up to `width` digits (byte counts only: Character operations would need the
/// Unicode tables, which this link leaves out).
func zeroPadded(_ n: Int, width: Int) -> String {
    var text = String(n)
    while text.utf8.count < width { text = "0" + text }
    return text
}

/// `x` with `places` decimals, for times and ratios.
func fixed(_ x: Double, places: Int = 2) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let n = Int((x.magnitude * scale).rounded())
    let whole = n / Int(scale), frac = n % Int(scale)
    let fracText = places == 0 ? "" : "." + zeroPadded(frac, width: places)
    return (x < 0 ? "-" : "") + String(whole) + fracText
}

/// Counts of checks run so far.
enum Tally {
    static var passed = 0
    static var failed = 0
}

/// Records and prints one check: `PASS name (detail)` or `FAIL name (detail)`.
func check(_ name: String, _ ok: Bool, _ detail: String = "") {
    if ok { Tally.passed += 1 } else { Tally.failed += 1 }
    line((ok ? "PASS " : "FAIL ") + name + (detail.isEmpty ? "" : " (" + detail + ")"))
}

/// SplitMix64: seeded, platform-independent test data.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) * 0x1p-24
    }

    mutating func floats(_ count: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        for i in 0..<count { out[i] = float(lo, hi) }
        return out
    }
}

/// The sizes every kernel is checked over (STYLE.md: 1, 31, 33, 1023).
let oddSizes = [1, 31, 33, 1023]

/// Number of positions where `a` and `b` differ in bits.
func bitMismatches(_ a: [Float], _ b: [Float]) -> Int {
    if a.count != b.count { return max(a.count, b.count) }
    var n = 0
    for i in 0..<a.count where a[i].bitPattern != b[i].bitPattern { n += 1 }
    return n
}

/// Largest |a - b| (infinite when the sizes differ or a NaN appears).
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    if a.count != b.count { return .infinity }
    var worst: Float = 0
    for i in 0..<a.count {
        let d = (a[i] - b[i]).magnitude
        if d.isNaN { return .infinity }
        worst = max(worst, d)
    }
    return worst
}

/// Largest |x|.
func maxMagnitude(_ a: [Float]) -> Float {
    var m: Float = 0
    for v in a { m = max(m, v.magnitude) }
    return m
}

/// Detail text of a bit-exact comparison.
func bitsDetail(_ a: [Float], _ b: [Float]) -> String {
    let n = bitMismatches(a, b)
    return n == 0 ? "bit-exact" : "\(n) of \(a.count) differ, max abs diff " + sci(maxAbsDifference(a, b))
}

/// Runs `body` once, in place, on a copy of `input`.
func applied(_ input: [Float], _ body: (UnsafeMutablePointer<Float>, Int) -> Void) -> [Float] {
    var x = input
    x.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
    return x
}

/// Median wall time of `body` in milliseconds over `repeats` runs (after one warm-up run).
func medianMilliseconds(repeats: Int = 5, _ body: () -> Void) -> Double {
    body()
    var times = [Double]()
    for _ in 0..<repeats {
        let t0 = cNowNanoseconds()
        body()
        times.append(Double(cNowNanoseconds() - t0) / 1e6)
    }
    times.sort()
    return times[times.count / 2]
}

/// Prints a `TIME` line: fast and reference medians and their ratio. Under qemu these only say whether the fast
/// path still vectorises; they are not hardware timings.
func timeLine(_ name: String, fast: () -> Void, reference: () -> Void) {
    let f = medianMilliseconds(fast), r = medianMilliseconds(reference)
    line("TIME " + name + ": fast " + fixed(f, places: 3) + " ms, reference " + fixed(r, places: 3)
         + " ms, reference/fast " + fixed(r / max(f, 1e-9), places: 1) + "x (qemu, not hardware)")
}
