// A persistent pool of spinning worker threads for fine-grained data-parallel loops.
//
// Why not Dispatch or a TaskGroup: waking a parked thread costs ~30-50 us on the machines we measured, and a
// transformer step issues hundreds of parallel loops of a few microseconds each. Workers here spin on an atomic
// for a while after each loop (a parallel-for then costs ~1 us) and park on a condition variable only when the
// pool has been idle for `spinMicroseconds`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A fixed set of worker threads that run `parallelFor` loops together with the calling thread.
///
/// Basic usage:
///
///     let pool = ThreadPool(threads: 2)
///     pool.parallelFor(rowChunks) { chunk in
///         kernel(rows: chunk * 64 ..< min(rows, chunk * 64 + 64))
///     }
///
/// Every task index runs exactly once, on some thread. Results never depend on the thread count as long as the
/// caller splits its work into tasks by a fixed rule (never by `threadCount`) and each output element is
/// produced by one task: the pool decides only *where* a task runs, not how work is cut.
public final class ThreadPool: @unchecked Sendable {
    /// Threads taking part in a loop, the caller included.
    public let threadCount: Int
    /// How long an idle worker spins before parking.
    public let spinMicroseconds: Int

    // The job word packs [generation: 16 bits | task count: 24 bits | next task index: 24 bits], so that one
    // compare-and-swap hands a worker both a task index and proof that the index belongs to the job it runs.
    private static let indexBits: UInt64 = 24
    private static let indexMask: UInt64 = (1 << 24) - 1
    /// The largest task count one `parallelFor` call hands to the workers (bigger loops are split into rounds).
    public static let maxTasksPerRound = Int(indexMask)

    private let job = Atomic<UInt64>(0)
    private let unfinished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let busy = Atomic<Bool>(false)
    /// The running job's task, borrowed (not retained) for the duration of the round: copying a retained closure
    /// per task would bounce its reference count between cores.
    private var body: UnsafePointer<(Int) -> Void>?
    private var generation: UInt64 = 0
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var workers: [pthread_t] = []

    /// Creates a pool.
    /// - Parameters:
    ///   - threads: threads per loop including the caller (>= 1). `nil` means the number of physical cores.
    ///   - spinMicroseconds: how long idle workers spin before they park.
    public init(threads: Int? = nil, spinMicroseconds: Int = 2_000) {
        threadCount = max(1, threads ?? CPUInfo.physicalCores)
        self.spinMicroseconds = spinMicroseconds
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for _ in 1..<threadCount {
            let context = Unmanaged.passRetained(WorkerContext(pool: self)).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.workerLoop()
                return nil
            }, context)
            precondition(rc == 0, "ThreadPool: pthread_create failed with \(rc)")
            workers.append(thread)
        }
    }

    deinit {
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for thread in workers {
            let rc = pthread_join(thread, nil)
            precondition(rc == 0, "ThreadPool: the last reference to a pool was dropped inside one of its tasks")
        }
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        wake.deallocate()
    }

    /// Runs `body(i)` for every `i` in `0..<count`, spread over the pool's threads, and returns when all are done.
    /// - Parameters:
    ///   - count: number of tasks; 0 returns at once.
    ///   - body: the task. One loop runs at a time: calling `parallelFor` from a task, or from two threads at
    ///     once, on the same pool is a programming error and stops the process with a message.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if threadCount == 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        precondition(busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged,
                     "ThreadPool: parallelFor called from a task or from two threads at once on the same pool")
        defer { busy.store(false, ordering: .releasing) }
        var start = 0
        while start < count {
            let n = min(count - start, ThreadPool.maxTasksPerRound)
            let offset = start
            withoutActuallyEscaping(body) { escapable in
                runRound(n) { escapable(offset + $0) }
            }
            start += n
        }
    }

    private func runRound(_ count: Int, _ task: @escaping (Int) -> Void) {
        withUnsafePointer(to: task) { runRound(count, borrowing: $0) }
    }

    private func runRound(_ count: Int, borrowing task: UnsafePointer<(Int) -> Void>) {
        body = task
        unfinished.store(count, ordering: .relaxed)
        generation = (generation &+ 1) & 0xFFFF
        let word = generation << 48 | UInt64(count) << ThreadPool.indexBits
        // Publishing the job word releases `body` and `unfinished` to the workers.
        job.store(word, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }
        runTasks(generation: generation)
        var spins = 0
        while unfinished.load(ordering: .acquiring) > 0 {
            // A worker may have been preempted (more runnable threads than cores): give it the core now and then.
            spins += 1
            if spins & 4095 == 0 { sched_yield() }
        }
        body = nil
    }

    /// Takes task indices of job `generation` until none is left; each finished task is counted down.
    private func runTasks(generation: UInt64) {
        var word = job.load(ordering: .acquiring)
        while true {
            // Claim the next index only while the word still belongs to this job: a plain fetch-add from a
            // worker that arrives late would consume (and skip) an index of the next job. The 16-bit generation
            // can wrap while a worker sleeps through 65,536 rounds; the CAS then still claims a real index of the
            // current job (the whole word is compared), so the worst case is a job the caller finishes alone.
            guard word >> 48 == generation else { return }
            let count = (word >> ThreadPool.indexBits) & ThreadPool.indexMask
            let index = word & ThreadPool.indexMask
            guard index < count else { return }
            let (claimed, seen) = job.compareExchange(
                expected: word, desired: word + 1, ordering: .acquiringAndReleasing)
            guard claimed else { word = seen; continue }
            // Task `index` of this job is unfinished, so the caller is still waiting and `body` is stable.
            body!.pointee(Int(index))
            unfinished.subtract(1, ordering: .releasing)
            word = job.load(ordering: .acquiring)
        }
    }

    private func workerLoop() {
        // Generation 0 is the pool's initial state: a worker that starts late still joins job 1.
        var seen: UInt64 = 0
        while true {
            var current = job.load(ordering: .acquiring) >> 48
            if current == seen {
                let spinStart = monotonicMicroseconds()
                var spins = 0
                while current == seen {
                    if stopping.load(ordering: .relaxed) { return }
                    spins += 1
                    if spins & 1023 == 0, monotonicMicroseconds() - spinStart > spinMicroseconds {
                        park(seen: seen)
                        spins = 0
                    }
                    current = job.load(ordering: .acquiring) >> 48
                }
            }
            seen = current
            runTasks(generation: current)
        }
    }

    private func park(seen: UInt64) {
        pthread_mutex_lock(mutex)
        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        while job.load(ordering: .sequentiallyConsistent) >> 48 == seen
                && !stopping.load(ordering: .sequentiallyConsistent) {
            pthread_cond_wait(wake, mutex)
        }
        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
    }
}

/// Carries the pool into a new thread without a retain cycle outliving `deinit`'s join.
private final class WorkerContext {
    unowned(unsafe) let pool: ThreadPool
    init(pool: ThreadPool) { self.pool = pool }
}

@inline(__always)
func monotonicMicroseconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1_000_000 + ts.tv_nsec / 1_000
}
