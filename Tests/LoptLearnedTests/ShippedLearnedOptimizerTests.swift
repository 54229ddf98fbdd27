import LoptCore
import Testing

@testable import LoptLearned

/// The shipped checkpoint loads as the optimizer it holds, and asking for another kind is a
/// clear error.
@Suite struct ShippedLearnedOptimizerTests {
  @Test func theShippedCheckpointIsAScheduledAdamLOpt() throws {
    let checkpoint = try ShippedLearnedOptimizer.checkpoint()
    #expect(checkpoint.kind == .scheduledAdam)
    let optimizer = try ShippedLearnedOptimizer.optimizer()
    #expect(optimizer.metaParameters == checkpoint.metaParameters)
    #expect(optimizer.metaParameters.isFinite)
  }

  @Test func askingForAnotherKindNamesBoth() throws {
    let checkpoint = try ShippedLearnedOptimizer.checkpoint()
    #expect(
      throws: CheckpointError.architectureMismatch(
        reason: "the checkpoint holds a scheduled_adam, not a VeLO")
    ) {
      try checkpoint.optimizer(as: VeLO.self)
    }
  }
}
