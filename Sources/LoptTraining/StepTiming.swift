import Dispatch
import LoptCore
import LoptData
import LoptOptimizers
import LoptTasks

extension TaskSpec {
  /// Measures the median seconds of one training step (loss, gradient, Adam update) over
  /// `steps` steps after `warmup` untimed ones.
  ///
  /// - Throws: ``TaskSpecError`` if the task cannot be built.
  public func measureStepSeconds(
    steps: Int = 20, warmup: Int = 3, locator: DataLocator = DataLocator()
  ) throws -> Double {
    let task = try makeTask(locator: locator)
    let optimizer = Adam(learningRate: 1e-3)
    var run = TrainingRun<Adam.State>(
      task: task, parameters: task.initialParameters(key: initializationKey),
      length: steps + warmup)
    var times: [Double] = []
    times.reserveCapacity(steps)
    for step in 0..<(steps + warmup) {
      let start = DispatchTime.now().uptimeNanoseconds
      // A diverging step is still a timed step.
      _ = try? run.advance(steps: 1, with: optimizer)
      let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
      if step >= warmup { times.append(elapsed) }
    }
    return times.sorted()[times.count / 2]
  }
}
