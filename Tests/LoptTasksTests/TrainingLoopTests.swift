import LoptCore
import LoptData
import LoptOptimizers
import LoptTasks
import LoptTraining
import Testing

/// A quadratic `½‖p − 3‖²` whose loss turns NaN at a chosen step.
private final class QuadraticTask: TrainingTask {
  let layout = ParameterLayout([("p", [4])])
  let nanStep: Int?
  let nanInGradient: Bool

  init(nanStep: Int? = nil, nanInGradient: Bool = false) {
    self.nanStep = nanStep
    self.nanInGradient = nanInGradient
  }

  func initialParameters(key: RandomKey) -> ParameterSet { ParameterSet(layout: layout) }

  func lossAndGradient(
    _ parameters: ParameterSet, step: Int, into gradients: inout ParameterSet
  ) -> Float {
    var loss: Float = 0
    parameters.withUnsafeBufferPointer { p in
      gradients.withUnsafeMutableBufferPointer { g in
        for i in 0..<p.count {
          g[i] = p[i] - 3
          loss += 0.5 * g[i] * g[i]
        }
        if step == nanStep && nanInGradient { g[2] = .infinity }
      }
    }
    return step == nanStep && !nanInGradient ? .nan : loss
  }

  var modelState = ParameterSet(layout: ParameterLayout([]))

  func loss(_ parameters: ParameterSet, step: Int) -> Float {
    var gradients = parameters.zerosLike()
    return lossAndGradient(parameters, step: step, into: &gradients)
  }

  func evaluation(
    _ parameters: ParameterSet, split: DatasetSplit, batches: Int
  ) -> EvaluationMetrics { EvaluationMetrics(loss: 0) }

  func normalize(_ loss: Float) -> Float { loss }
}

@Suite struct TrainingLoopTests {
  @Test func minimisesAQuadraticAndLogsEveryInterval() throws {
    var logged: [Int] = []
    let result = try train(
      QuadraticTask(), optimizer: Adam(learningRate: 0.1), steps: 250, key: RandomKey(seed: 0),
      logInterval: 100
    ) { logged.append($0.step) }
    #expect(logged == [0, 100, 200, 249])
    #expect(result.losses.count == 250)
    #expect(result.losses.last! < 1e-3 * result.losses.first!)
  }

  @Test func stopsWithAClearErrorOnANaNLoss() {
    let error = #expect(throws: TrainingError.self) {
      _ = try train(
        QuadraticTask(nanStep: 5), optimizer: Adam(), steps: 10, key: RandomKey(seed: 0))
    }
    guard case .nonFiniteLoss(let step, let loss)? = error else {
      Issue.record("expected a non-finite loss error, got \(String(describing: error))")
      return
    }
    #expect(step == 5 && loss.isNaN)
    #expect(error!.description.contains("diverged"))
  }

  @Test func stopsWithAClearErrorOnAnInfiniteGradient() {
    let error = #expect(throws: TrainingError.self) {
      _ = try train(
        QuadraticTask(nanStep: 2, nanInGradient: true), optimizer: Adam(), steps: 10,
        key: RandomKey(seed: 0))
    }
    #expect(error == .nonFiniteGradient(step: 2))
    #expect(error?.description.contains("step 2") == true)
  }
}
