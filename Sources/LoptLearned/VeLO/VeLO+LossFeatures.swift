import Foundation

extension VeLO.State {
  /// Adds `loss` to the loss buffer (E4) and writes the 9 loss features (E5).
  ///
  /// ```
  /// cm_j = means_j / (1 − δ_j^(t+1));  M = max_j cm_j  (M = ℓ when t = 0)
  /// ℓ' = min(2|M|, ℓ);  means_j ← δ_j means_j + (1 − δ_j) ℓ'
  /// cm_j = means_j / (1 − δ_j^(t+1));  runningMin_j ← min(runningMin_j, cm_j);  t ← t + 1
  /// f_j = clip((cm_j − runningMin_j) / max(1e-8, cm_{j+1} − runningMin_j) − 1, −1, 1)
  /// ```
  /// with all features 0 while `t ≤ 2` (VELO_SPEC.md §1.5).
  ///
  /// - Complexity: O(1); allocates nothing.
  func updateLossFeatures(loss: Float) {
    let t = iteration
    let base = storage.floats
    let means = base + regions.lossMeans
    let runningMin = base + regions.lossRunningMin
    let decays = base + regions.lossDecays
    let features = base + regions.lossFeatures
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 10) { corrected in
      var largest = -Float.infinity
      for j in 0..<10 {
        corrected[j] = 1 - Float(pow(Double(decays[j]), Double(t + 1)))
        largest = max(largest, means[j] / corrected[j])
      }
      if t == 0 { largest = loss }
      let clipped = min(2 * abs(largest), loss)
      for j in 0..<10 {
        means[j] = decays[j] * means[j] + (1 - decays[j]) * clipped
        runningMin[j] = min(runningMin[j], means[j] / corrected[j])
      }
      for j in 0..<9 {
        guard t + 1 > 2 else {
          features[j] = 0
          continue
        }
        let current = means[j] / corrected[j] - runningMin[j]
        let next = means[j + 1] / corrected[j + 1] - runningMin[j]
        let ratio = current / max(1e-8, next) - 1
        features[j] = min(max(ratio, -1), 1)
      }
    }
  }
}
