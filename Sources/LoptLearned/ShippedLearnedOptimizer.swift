import Foundation
import LoptCore

/// The learned optimizer Lopt ships: a ``ScheduledAdamLOpt`` with Muon's direction for matrices,
/// meta-trained with `configs/scheduled-orthogonal.yaml`, stored in LoptLearned's resources as
/// `learned.safetensors` (its meta-training step and cost are in the checkpoint's metadata).
///
/// ```swift
/// let optimizer = try ShippedLearnedOptimizer.optimizer()
/// var state = optimizer.makeState(for: parameters, totalSteps: 1000)
/// optimizer.update(&parameters, gradients: gradients, loss: loss, state: &state)
/// ```
/// It knows the run's length from `totalSteps`: its schedule ends at that step.
public enum ShippedLearnedOptimizer {
  /// The checkpoint file's name in the resource bundle.
  public static let fileName = "learned.safetensors"

  /// The shipped checkpoint's location, `nil` when LoptLearned's resource bundle is missing.
  public static var url: URL? {
    ShippedResources.url(bundle: "Lopt_LoptLearned.resources", path: fileName)
  }

  /// ``url``, or an error saying what is missing.
  ///
  /// - Throws: ``CheckpointError`` when LoptLearned's resource bundle is missing.
  public static func location() throws -> URL {
    guard let url else {
      throw CheckpointError.unrecognizedFormat(
        reason: "the shipped learned optimizer is missing: copy the Lopt_LoptLearned.resources "
          + "folder from the build folder beside the executable")
    }
    return url
  }

  /// The shipped checkpoint.
  ///
  /// - Throws: ``CheckpointError`` when the resource bundle is missing or the file is damaged.
  public static func checkpoint() throws -> Checkpoint {
    try Checkpoint.load(try location())
  }

  /// The shipped optimizer, ready to train with.
  ///
  /// - Throws: ``CheckpointError`` when the checkpoint is missing, damaged or not a
  ///   ``ScheduledAdamLOpt``.
  public static func optimizer() throws -> ScheduledAdamLOpt {
    try checkpoint().optimizer(as: ScheduledAdamLOpt.self)
  }
}
