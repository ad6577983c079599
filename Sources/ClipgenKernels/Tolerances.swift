// Named tolerances shared by the kernel tests and the benchmarks' self-checks.
// Each constant carries the one-line reason for its value.

/// Fast and reference F32 kernels differ only in summation order: relative error of a dot product of
/// length n is bounded by ~n * 2^-24; 1e-4 covers n up to ~1600 with a wide margin for typical data.
public let f32ReorderRelativeTolerance: Float = 1e-4
