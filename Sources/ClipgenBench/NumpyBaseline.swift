// The F32 GEMM baseline: numpy (OpenBLAS) on the same shape, run in the same invocation as our kernel.

import Foundation

/// Runs numpy's single-threaded float32 matmul of `[m, k] @ [k, n]` and returns its median GFLOP/s, or nil
/// with the reason when no Python with numpy can be run.
///
/// OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the child's environment: some machines set them to
/// work around old OpenBLAS bugs, and they slow a current numpy down.
func numpyGEMMGigaflops(python: String, m: Int, k: Int, n: Int, repeats: Int) -> (Summary?, String?) {
    let script = """
        import sys, time
        import numpy as np
        m, k, n, repeats = \(m), \(k), \(n), \(repeats)
        rng = np.random.default_rng(0)
        a = rng.random((m, k), dtype=np.float32) - 0.5
        b = rng.random((k, n), dtype=np.float32) - 0.5
        a @ b
        for _ in range(repeats):
            t = time.perf_counter(); a @ b; print(time.perf_counter() - t)
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python, "-c", script]
    var environment = ProcessInfo.processInfo.environment
    environment["OPENBLAS_CORETYPE"] = nil
    environment["OPENBLAS_L2_SIZE"] = nil
    for key in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"] { environment[key] = "1" }
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice  // an unread pipe could fill and block the child
    do {
        try process.run()
    } catch {
        return (nil, "could not run \(python): \(error)")
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let seconds = String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { Double($0) }
    guard process.terminationStatus == 0, seconds.count == repeats else {
        return (nil, "\(python) with numpy failed (exit \(process.terminationStatus), \(seconds.count) of \(repeats) "
            + "timings); pass --numpy PYTHON")
    }
    return (Summary(seconds).inverted { 2.0 * Double(m * n * k) / $0 / 1e9 }, nil)
}
