import Foundation
import Synchronization
import Testing
import ClipgenThreads

/// Counts how often each task index ran.
private final class Tally: @unchecked Sendable {
    let counts: UnsafeMutablePointer<Atomic<Int>>
    let size: Int
    init(_ size: Int) {
        self.size = size
        counts = .allocate(capacity: size)
        for i in 0..<size { (counts + i).initialize(to: Atomic(0)) }
    }
    func hit(_ i: Int) { counts[i].wrappingAdd(1, ordering: .relaxed) }
    func value(_ i: Int) -> Int { counts[i].load(ordering: .relaxed) }
    deinit { counts.deinitialize(count: size); counts.deallocate() }
}

@Suite struct ThreadPoolTests {
    @Test(arguments: [1, 2, 3, 5])
    func everyIndexRunsExactlyOnce(threads: Int) {
        let pool = ThreadPool(threads: threads)
        for count in [0, 1, 2, 3, 7, 64, 1000] {
            let tally = Tally(max(count, 1))
            pool.parallelFor(count) { tally.hit($0) }
            for i in 0..<count { #expect(tally.value(i) == 1, "threads \(threads), count \(count), index \(i)") }
        }
    }

    @Test func manySmallLoopsBackToBack() {
        let pool = ThreadPool(threads: 3)
        let tally = Tally(4)
        for _ in 0..<20_000 { pool.parallelFor(4) { tally.hit($0) } }
        for i in 0..<4 { #expect(tally.value(i) == 20_000) }
    }

    @Test func workersWakeAfterParking() {
        let pool = ThreadPool(threads: 2, spinMicroseconds: 100)
        let tally = Tally(16)
        for round in 1...5 {
            usleep(5_000)  // past the spin window: the worker has parked
            pool.parallelFor(16) { tally.hit($0) }
            for i in 0..<16 { #expect(tally.value(i) == round) }
        }
    }

    @Test func workSpreadsOverThreads() {
        // Whichever thread takes a task waits (up to 10 s) until another thread holds the other task, so this passes
        // only if a worker really runs tasks next to the caller.
        let pool = ThreadPool(threads: 2)
        let threadIDs = Mutex<Set<UInt>>([])
        pool.parallelFor(2) { _ in
            threadIDs.withLock { _ = $0.insert(UInt(pthread_self())) }
            let deadline = Date().addingTimeInterval(10)
            while threadIDs.withLock({ $0.count }) < 2 && Date() < deadline { usleep(100) }
        }
        #expect(threadIDs.withLock { $0.count } == 2)
    }

    @Test func poolShutsDownCleanly() {
        for _ in 0..<50 {
            let pool = ThreadPool(threads: 3, spinMicroseconds: 10)
            pool.parallelFor(10) { _ in }
        }
    }

    @Test func defaultsToPhysicalCores() {
        #expect(ThreadPool().threadCount == CPUInfo.physicalCores)
        #expect(CPUInfo.physicalCores >= 1 && CPUInfo.physicalCores <= CPUInfo.onlineCPUs)
        #expect(!CPUInfo.machineLine.isEmpty)
    }
}
