// Named tolerances shared by the kernel tests and the benchmarks' self-checks.
// Each constant carries the one-line reason for its value.

/// Fast and reference F32 kernels differ only in summation order: relative error of a dot product of
/// length n is bounded by ~n * 2^-24; 1e-4 covers n up to ~1600 with a wide margin for typical data.
public let f32ReorderRelativeTolerance: Float = 1e-4

/// Error of an F32 dot product of n terms, relative to sum |a_k * b_k|: each of the n multiply-adds rounds
/// once (at most 2^-24 relative) and errors add up at most linearly, so n * 2^-23 bounds it with 2x margin.
public let f32DotProductErrorPerTerm: Float = 1.0 / 8_388_608

// Row-wise kernels and their float approximations (MathApprox, Activations, Norms, Attention). Measured maxima are
// printed by `swift test -c release`; "FMA" is the default host-tuned build, "portable" is CLIPGEN_PORTABLE=1.

/// fastExp against Double exp over [-87, 88.72]: measured 8.7e-8 (FMA) / 1.07e-7 (portable), ~1-2 Float ulp.
public let fastExpRelativeTolerance: Float = 2e-7
/// fastErf against Double erf over [-10, 10]: measured 9.7e-8 (FMA) / 1.04e-7 (portable).
public let fastErfRelativeTolerance: Float = 2e-7
/// fastErfc against Double erfc over [-10, 9]: measured 3.4e-7 (FMA); portable builds lack the FMA correction of
/// the rounding of a^2 inside e^(-a^2), which costs up to 4.0e-6 in the far tail.
public let fastErfcRelativeTolerance: Float = 5e-6
/// fastSigmoid against the Double logistic over [-87, 87]: measured 1.9e-7 (FMA) / 2.1e-7 (portable).
public let fastSigmoidRelativeTolerance: Float = 4e-7
/// GELU, QuickGELU and SiLU against Double formulas, as error / max(|x|, 1) on [-20, 20]: measured 1.4e-7 / 1.6e-7.
public let activationScaledTolerance: Float = 3e-7
/// LayerNorm / GroupNorm SIMD16 against their Double-statistics twins, absolute, on O(1) outputs with O(1) gamma and
/// inputs offset up to 1e4: measured 7.2e-7 (Float block sums, then a few roundings of the affine).
public let normAbsoluteTolerance: Float = 4e-6
/// GroupNorm mean and rstd over 262,144 values per group against Double sums: measured 3.9e-8 (rounding to Float).
public let groupStatisticsRelativeTolerance: Float = 3e-7
/// Attention SIMD16 against its scalar twin, absolute (outputs are convex mixes of V in [-1, 1], head sizes up to
/// 1023): measured 1.8e-7; reordered dot products move scores by ~1e-7 relative.
public let attentionAbsoluteTolerance: Float = 2e-6
