import Foundation
import LoptOptimizers
import Testing

@Suite struct LearningRateScheduleTests {
  @Test func warmUpRisesLinearlyFromZero() {
    let schedule = LearningRateSchedule(decay: .constant, warmupSteps: 4)
    #expect(
      (0..<6).map { schedule.factor(step: $0, totalSteps: 10) } == [0, 0.25, 0.5, 0.75, 1, 1])
  }

  @Test func cosineAndLinearReachZeroAtTheEnd() {
    let cosine = LearningRateSchedule(decay: .cosine, warmupSteps: 2)
    let linear = LearningRateSchedule(decay: .linear, warmupSteps: 2)
    #expect(cosine.factor(step: 2, totalSteps: 12) == 1)
    #expect(abs(cosine.factor(step: 7, totalSteps: 12) - 0.5) < 1e-6)
    #expect(abs(cosine.factor(step: 12, totalSteps: 12)) < 1e-6)
    #expect(linear.factor(step: 7, totalSteps: 12) == 0.5)
    #expect(linear.factor(step: 20, totalSteps: 12) == 0)
  }

  @Test func inverseSqrtHalvesAfterThreeStepsPastWarmUp() {
    let schedule = LearningRateSchedule(decay: .inverseSqrt, warmupSteps: 1)
    #expect(schedule.factor(step: 1, totalSteps: 100) == 1)
    #expect(schedule.factor(step: 4, totalSteps: 100) == 0.5)
  }
}
