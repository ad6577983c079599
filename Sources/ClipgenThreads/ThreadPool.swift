// placeholder, replaced below
public final class ThreadPool {
    public let threadCount: Int
    public init(threads: Int) { threadCount = max(1, threads) }
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) { for i in 0..<count { body(i) } }
}
