import LoptCore
import LoptOptimizers

extension VeLO.State: CheckpointableState {
  /// Stores the counters, the loss buffer, the LSTM state and every accumulator under `prefix`.
  ///
  /// Names: `iteration`, `skipped_updates`, `loss_means`, `loss_running_min`, `lstm_hidden`,
  /// `lstm_cell` (`[tensors, H]`), `accumulator_means` (`[tensors, 4]`: the means of the three
  /// momenta and the rms EMA), and per tensor `momentum/<k>/<tensor>` (k = 0, 1, 2) and
  /// `rms/<tensor>` in the tensor's shape, `factored_rows/<tensor>/planes`,
  /// `factored_columns/<tensor>/planes` or `full/<tensor>/planes` (`[3, count]`).
  public func write(into file: inout SafetensorsFile, prefix: String) {
    file.setCounter(iteration, named: prefix + "iteration")
    file.setCounter(skippedUpdates, named: prefix + "skipped_updates")
    for (name, start, shape) in regionList() {
      let count = shape.reduce(1, *)
      let values = Array(UnsafeBufferPointer(start: storage.floats + start, count: count))
      file.setFloat(Tensor(shape: shape, scalars: values), named: prefix + name)
    }
  }

  /// Restores what ``write(into:prefix:)`` stored (`accumulator_means`, which older states
  /// lack, is recomputed when missing).
  ///
  /// - Throws: `SafetensorsError` naming the tensor when it is missing or has another shape.
  public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
    makeUnique()
    iteration = try file.readCounter(named: prefix + "iteration")
    skippedUpdates = try file.readCounter(named: prefix + "skipped_updates")
    let hasMeans = file[prefix + "accumulator_means"] != nil
    for (name, start, shape) in regionList() where hasMeans || name != "accumulator_means" {
      let tensor = try file.readTensor(named: prefix + name, shape: shape)
      tensor.withUnsafeBufferPointer { source in
        guard let base = source.baseAddress else { return }
        (storage.floats + start).update(from: base, count: source.count)
      }
    }
    if !hasMeans { recomputeAccumulatorMeans() }
  }

  /// Every persistent buffer: its name, offset in the storage and stored shape.
  private func regionList() -> [(String, Int, [Int])] {
    let n = layout.count
    var list: [(String, Int, [Int])] = [
      ("loss_means", regions.lossMeans, [10]),
      ("loss_running_min", regions.lossRunningMin, [10]),
      ("lstm_hidden", regions.hidden, [n, regions.hiddenSize]),
      ("lstm_cell", regions.cell, [n, regions.hiddenSize]),
      ("accumulator_means", regions.accumulatorMeans, [n, 4]),
    ]
    for (entry, plan) in zip(layout.entries, plans) {
      for k in 0..<3 {
        list.append(
          (
            "momentum/\(k)/\(entry.name)", regions.momentum + 3 * plan.offset + k * plan.count,
            plan.shape
          ))
      }
      list.append(("rms/\(entry.name)", regions.rms + plan.offset, plan.shape))
      if plan.isFactored {
        list.append(
          ("factored_rows/\(entry.name)/planes", regions.rows + plan.rowOffset, [3, plan.rowCount]))
        list.append(
          (
            "factored_columns/\(entry.name)/planes", regions.columns + plan.columnOffset,
            [3, plan.columnCount]
          ))
      } else {
        list.append(("full/\(entry.name)/planes", regions.full + plan.fullOffset, [3, plan.count]))
      }
    }
    return list
  }
}
