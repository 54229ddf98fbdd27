import Foundation

/// Maps a family's raw loss to VeLO's common range (docs/meta-training-method.md §4.2);
/// augmentations keep the inner task's normaliser.
public enum LossNormalizer: Hashable, Sendable {
  /// Image MLP and ConvNet classifiers, RNN and transformer LMs, with `C` classes or tokens:
  /// ```
  /// n = 10 · (clip(L, 0, ln 2C) − ln(C/5)) / ln C      (non-finite L → ln 2C)
  /// ```
  case classification(classCount: Float)
  /// ResNet and ViT: `n = clip(10 · L / ln 2C, 0, 10)` (non-finite L → ln 2C).
  case scaledClassification(classCount: Float)
  /// MLP autoencoder: `u = L` with the log loss, else `ln(L + 1e−8)`; non-finite → 1;
  /// `n = 0.5 · clip(u, −12, 1) + 10`.
  case autoencoder(isLogLoss: Bool)
  /// VAE: `u = L / pixelCount` (1 when the loss is already per dimension); non-finite → 10;
  /// `n = clip(u, 0, 10)`.
  case vae(pixelCount: Float)
  /// No normalisation (test tasks).
  case identity

  /// The normalised loss.
  public func callAsFunction(_ loss: Float) -> Float {
    switch self {
    case .classification(let c):
      let maximum = log(2 * c)
      let l = loss.isFinite ? loss : maximum
      return 10 * (min(max(l, 0), maximum) - log(c / 5)) / log(c)
    case .scaledClassification(let c):
      let maximum = log(2 * c)
      let l = loss.isFinite ? loss : maximum
      return min(max(10 * l / maximum, 0), 10)
    case .autoencoder(let isLogLoss):
      var u = isLogLoss ? loss : log(loss + 1e-8)
      if !u.isFinite { u = 1 }
      return 0.5 * min(max(u, -12), 1) + 10
    case .vae(let pixelCount):
      var u = loss / pixelCount
      if !u.isFinite { u = 10 }
      return min(max(u, 0), 10)
    case .identity:
      return loss
    }
  }
}
