// Named tolerances shared by the kernel tests and the benchmarks' self-checks.
// Each constant carries the one-line reason for its value.

/// Fast and reference F32 kernels differ only in summation order: relative error of a dot product of
/// length n is bounded by ~n * 2^-24; 1e-4 covers n up to ~1600 with a wide margin for typical data.
public let f32ReorderRelativeTolerance: Float = 1e-4

/// Error of an F32 dot product of n terms, relative to sum |a_k * b_k|: each of the n multiply-adds rounds
/// once (at most 2^-24 relative) and errors add up at most linearly, so n * 2^-23 bounds it with 2x margin.
public let f32DotProductErrorPerTerm: Float = 1.0 / 8_388_608
