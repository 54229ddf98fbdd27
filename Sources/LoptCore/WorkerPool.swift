import Dispatch
import Foundation
import Synchronization

/// Runs independent jobs on a fixed number of threads, each job on one thread.
///
/// Jobs are handed out in index order from a shared counter, so a slow job does not hold up
/// the others; results must go to per-job slots so that they do not depend on which thread
/// ran which job.
public struct WorkerPool: Sendable {
  /// The number of threads.
  public let threads: Int

  /// A pool of `threads` threads; 0 means one per core.
  public init(threads: Int = 0) {
    self.threads = threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
  }

  /// Calls `body(job)` for every job in `0..<count`, in parallel, and returns when all are done.
  public func run(_ count: Int, _ body: (Int) -> Void) {
    guard count > 0 else { return }
    let next = Mutex(0)
    withoutActuallyEscaping(body) { body in
      let shared = UncheckedSendable(body)
      DispatchQueue.concurrentPerform(iterations: min(threads, count)) { _ in
        while true {
          let job = next.withLock { value in
            defer { value += 1 }
            return value
          }
          guard job < count else { return }
          shared.value(job)
        }
      }
    }
  }
}

/// A value that is passed between threads under a discipline the compiler cannot check (each
/// job touches only its own slots).
public struct UncheckedSendable<Value>: @unchecked Sendable {
  /// The value.
  public var value: Value
  /// Wraps `value`.
  public init(_ value: Value) { self.value = value }
}
