import Foundation
import LoptCore
import LoptData
import LoptNN

extension TaskSpec {
  /// The key the training loop should draw initial parameters with, fixed by ``seed``.
  public var initializationKey: RandomKey { RandomKey(seed: seed).folding(in: 0) }

  /// Builds the task the spec names.
  ///
  /// Loads (and resizes) the data, records and allocates the model, and wraps it in the
  /// augmentations. The same spec gives bit-identical tasks on any machine.
  ///
  /// - Parameter locator: where to look for data files.
  /// - Returns: the task, ready to train.
  /// - Throws: ``TaskSpecError`` naming the field at fault (an invalid value, data that is not
  ///   present, sizes that do not make a model).
  public func makeTask(locator: DataLocator = DataLocator()) throws -> any TrainingTask {
    try validate()
    let model = try makeModel()
    try Self.checkMemory(of: model.builder.cost)
    let key = RandomKey(seed: seed)
    let (dataKey, stepKey) = (key.folding(in: 1), key.folding(in: 2))
    let rounds = augmentation.usesBFloat16 ?? false
    var task: any TrainingTask
    do {
      if family.isImageFamily {
        let name = ImageDatasetName(rawValue: data.dataset)!
        let size = try dataShape.imageShape[0]
        var splits: [DatasetSplit: ImageDataset] = [:]
        for split in DatasetSplit.allCases {
          splits[split] = try TaskData.shared.images(
            name, split: split, size: size, locator: locator)
        }
        let smallest = splits.values.map(\.count).min() ?? 0
        guard batchSize <= smallest else {
          throw TaskSpecError.outOfRange(
            field: "batchSize", value: "\(batchSize)",
            range: "1...\(smallest) (the smallest split of \(name.rawValue))")
        }
        task = try GraphTask(
          model: model,
          training: MinibatchSampler(dataset: splits[.train]!, batchSize: batchSize, key: dataKey),
          evaluation: splits.mapValues {
            MinibatchSampler(dataset: $0, batchSize: batchSize, key: dataKey.folding(in: 1))
          },
          key: stepKey, roundsInputsToBFloat16: rounds)
      } else {
        let corpus = try TaskData.shared.text(
          TextCorpusName(rawValue: data.dataset)!, locator: locator)
        let length = data.sequenceLength!
        let shortest = min(corpus.train.count, corpus.valid.count)
        guard length < shortest else {
          throw TaskSpecError.outOfRange(
            field: "data.sequenceLength", value: "\(length)",
            range: "1...\(max(shortest - 1, 0)) (the \(data.dataset) corpus's shorter split has "
              + "\(shortest) bytes, and a window needs sequenceLength + 1)")
        }
        func sampler(_ text: [UInt8], _ key: RandomKey) -> TextSampler {
          TextSampler(text: text, batchSize: batchSize, sequenceLength: length, key: key)
        }
        let valid = sampler(corpus.valid, dataKey.folding(in: 1))
        task = try GraphTask(
          model: model, training: sampler(corpus.train, dataKey),
          evaluation: [
            .train: sampler(corpus.train, dataKey.folding(in: 2)), .valid: valid, .test: valid,
          ],
          key: stepKey, roundsInputsToBFloat16: rounds)
      }
    } catch let error as DatasetError {
      throw TaskSpecError.dataUnavailable(field: "data.dataset", reason: error.description)
    } catch let error as GraphError {
      throw TaskSpecError.invalidModel(error.description)
    }
    return wrap(task, key: key.folding(in: 3))
  }

  /// The files the task's data set is read from, relative to a data folder (see
  /// `DataLocator/fingerprint(of:)`); empty for an unknown data set.
  public var dataFiles: [String] {
    if family.isImageFamily {
      return ImageDatasetName(rawValue: data.dataset)?.relativePaths ?? []
    }
    return TextCorpusName(rawValue: data.dataset)?.relativePaths ?? []
  }

  /// The most memory a task may need, by ``estimatedBytes(of:)``: 512 MiB, so that a spec
  /// inside the validated ranges but far beyond any sampled task fails before allocating.
  public static let maximumBytes = 512 << 20

  /// The bytes a task of `cost` allocates: parameters, gradients and two optimizer moments,
  /// plus every activation and its gradient, in `Float32`.
  public static func estimatedBytes(of cost: TaskCost) -> Double {
    4 * (4 * cost.parameters + 2 * cost.activations)
  }

  /// Throws unless a model of `cost` fits in ``maximumBytes``.
  static func checkMemory(of cost: TaskCost) throws {
    let bytes = estimatedBytes(of: cost)
    guard bytes <= Double(maximumBytes) else {
      throw TaskSpecError.invalidModel(
        "the model needs about "
          + String(
            format: "%.4g MiB (%.4g parameters, %.4g ", bytes / 1_048_576, cost.parameters,
            cost.activations)
          + "activations per step), more than the "
          + "\(maximumBytes >> 20) MiB a task may use; choose smaller widths, sequences or batches")
    }
  }

  /// Wraps `task` in the augmentations in VeLO's order (the reduced batch size is already in
  /// the model).
  func wrap(_ task: any TrainingTask, key: RandomKey) -> any TrainingTask {
    var task = task
    let a = augmentation
    if let r = a.reparameterization {
      task = ReparameterizedTask(task, setting: r, key: key.folding(in: 0))
    }
    if let es = a.esGradient {
      task = ESGradientTask(
        task, standardDeviation: es.standardDeviation, pairs: es.pairs, key: key.folding(in: 1))
    }
    if a.usesBFloat16 ?? false { task = BFloat16Task(task) }
    if a.normalizesGradient ?? false { task = NormalizedGradientTask(task) }
    if let s = a.subsampledDirections {
      task = SubsampledGradientTask(
        task, directions: s.count, usesSign: s.usesSign, key: key.folding(in: 2))
    }
    if let delay = a.gradientDelay { task = StaleGradientTask(task, delay: delay) }
    return task
  }
}
