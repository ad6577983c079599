// Entry point of the aarch64 kernel checks. scripts/test-arm64 compiles the checks of every kernel file present
// in Sources/ClipgenKernels (X.swift -> XChecks.swift, enabled by -D CHECK_X) and runs them under qemu.

@main
struct ArmKernelChecks {
    static func main() {
        #if CHECK_GEMM
        gemmChecks()
        #endif
        #if CHECK_CONV2D
        conv2dChecks()
        #endif
        #if CHECK_CONV2DQ8
        conv2dQ8Checks()
        #endif
        #if CHECK_UPSAMPLE
        upsampleChecks()
        #endif
        #if CHECK_MATHAPPROX
        mathApproxChecks()
        #endif
        #if CHECK_ACTIVATIONS
        activationChecks()
        #endif
        #if CHECK_NORMS
        normChecks()
        #endif
        #if CHECK_GROUPNORMHWC
        groupNormHWCChecks()
        #endif
        #if CHECK_ATTENTION
        attentionChecks()
        #endif
        #if CHECK_KVCACHEF16
        kvCacheF16Checks()
        #endif
        #if CHECK_FLOAT16BITS
        float16BitsChecks()
        #endif
        #if CHECK_Q8_0
        q8Checks()
        #endif
        #if CHECK_Q8DOT
        q8DotChecks()
        #endif
        #if CHECK_Q8GEMV
        q8GEMVChecks()
        #endif
        #if CHECK_Q8INTERLEAVED
        q8InterleavedChecks()
        #endif
        line("\(Tally.passed) passed, \(Tally.failed) failed")
        cExit(Tally.failed == 0 ? 0 : 1)
    }
}
