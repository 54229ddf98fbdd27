/// How the processes of a meta-training run share their lanes' results.
///
/// Every process holds the same θ and outer-optimizer state; the lanes of an outer step are
/// split across processes in contiguous blocks whose sizes differ by at most one (lanes cycle
/// through the family slots, so every block sees a like mix of tasks), and each process
/// contributes only its lanes' scalars. A single process is the same code with ``LocalExchange``.
public protocol LaneExchange: AnyObject, Sendable {
  /// This process's index, `0..<size`.
  var rank: Int { get }
  /// The number of processes.
  var size: Int { get }

  /// Every process passes the same number of values; every process receives all of them,
  /// rank 0's first.
  ///
  /// - Throws: when the exchange fails (a process died, the runtime reported an error).
  func allGather(_ values: [Double]) throws -> [Double]
}

extension LaneExchange {
  /// The lanes (or jobs) of `laneCount` that process `rank` runs.
  public func lanes(of laneCount: Int, rank: Int) -> Range<Int> {
    (laneCount * rank / size)..<(laneCount * (rank + 1) / size)
  }

  /// The lanes of `laneCount` that this process runs.
  public func lanes(of laneCount: Int) -> Range<Int> { lanes(of: laneCount, rank: rank) }

  /// The number of lanes of `laneCount` that one process holds at most.
  func slots(laneCount: Int) -> Int { (laneCount + size - 1) / size }

  /// Gathers every process's lane reports; padding slots are dropped.
  ///
  /// - Throws: when the exchange fails.
  public func gather(_ reports: [LaneReport], laneCount: Int) throws -> [LaneReport] {
    let slots = slots(laneCount: laneCount)
    precondition(reports.count <= slots, "a process reported more lanes than it owns")
    let padding = LaneReport(
      lane: -1, plus: 0, minus: 0, episodeStart: 0, diverged: false, innerSteps: 0)
    let local = (reports + Array(repeating: padding, count: slots - reports.count))
      .flatMap(\.encoded)
    let all = try allGather(local)
    return stride(from: 0, to: all.count, by: LaneReport.encodedCount).compactMap {
      LaneReport(encoded: all[$0..<$0 + LaneReport.encodedCount])
    }.sorted { $0.lane < $1.lane }
  }

  /// Gathers one value per job of `jobCount`, each computed by the process owning it
  /// (``lanes(of:)``); `local` holds this process's values in job order.
  ///
  /// - Throws: when the exchange fails.
  public func gather(values local: [Double], jobCount: Int) throws -> [Double] {
    let slots = slots(laneCount: jobCount)
    let all = try allGather(local + Array(repeating: .nan, count: slots - local.count))
    return (0..<size).flatMap { process in
      lanes(of: jobCount, rank: process).map {
        all[process * slots + $0 - lanes(of: jobCount, rank: process).lowerBound]
      }
    }
  }

  /// Whether any process asks to stop (each passes its own wish; all get the same answer).
  ///
  /// - Throws: when the exchange fails.
  public func anyRequests(_ wish: Bool) throws -> Bool {
    size == 1 ? wish : try allGather([wish ? 1 : 0]).contains(1)
  }
}

/// The exchange of a single process: it owns every lane.
public final class LocalExchange: LaneExchange {
  /// Always 0.
  public let rank = 0
  /// Always 1.
  public let size = 1

  /// The exchange of a run that is not distributed.
  public init() {}

  /// Returns `values`.
  public func allGather(_ values: [Double]) throws -> [Double] { values }
}
