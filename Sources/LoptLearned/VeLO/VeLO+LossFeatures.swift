import Foundation

extension VeLO.State {
  /// Adds `loss` to the loss buffer (E4) and writes the 9 loss features (E5); see
  /// `LossTrendFeatures` (docs/velo.md §5).
  ///
  /// - Complexity: O(1); allocates nothing.
  func updateLossFeatures(loss: Float) {
    let base = storage.floats
    LossTrendFeatures.update(
      loss: loss, iteration: iteration, means: base + regions.lossMeans,
      runningMinimum: base + regions.lossRunningMin, decays: base + regions.lossDecays,
      features: base + regions.lossFeatures)
  }
}
