// Clocks and summary statistics for the benchmarks.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Seconds on the monotonic clock.
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Runs `body` `repeats` times and returns each run's wall time in seconds.
public func measure(repeats: Int, _ body: () throws -> Void) rethrows -> [Double] {
    var times: [Double] = []
    times.reserveCapacity(repeats)
    for _ in 0..<repeats {
        let start = monotonicSeconds()
        try body()
        times.append(monotonicSeconds() - start)
    }
    return times
}

/// Median, minimum and maximum of a set of measurements.
public struct Summary: Codable, Sendable {
    public var median: Double
    public var min: Double
    public var max: Double

    public init(_ values: [Double]) {
        precondition(!values.isEmpty, "Summary of no measurements")
        let sorted = values.sorted()
        let mid = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
        min = sorted.first!
        max = sorted.last!
    }

    /// The same summary with every value transformed by a monotonically decreasing `f` (e.g. time -> rate).
    public func inverted(_ f: (Double) -> Double) -> Summary {
        var s = self
        s.median = f(median)
        s.min = f(max)
        s.max = f(min)
        return s
    }
}
