import Foundation
import LoptCore

/// Everything that determines one training run's loss curve.
public struct RunKey: Codable, Hashable, Sendable {
  /// The task, completely (for example its spec as JSON, or the command-line options).
  public var task: String
  /// The optimizer and every hyper-parameter except the learning rate.
  public var optimizer: String
  /// The peak learning rate.
  public var learningRate: Float
  /// The seed of the initial parameters and the batch order.
  public var seed: UInt64
  /// The number of training steps.
  public var steps: Int

  /// Creates a key.
  public init(task: String, optimizer: String, learningRate: Float, seed: UInt64, steps: Int) {
    self.task = task
    self.optimizer = optimizer
    self.learningRate = learningRate
    self.seed = seed
    self.steps = steps
  }

  /// The key as canonical JSON (sorted keys): the text that is hashed and stored.
  public var canonicalText: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    // Encoding five plain fields cannot fail.
    let data = (try? encoder.encode(self)) ?? Data()
    return String(decoding: data, as: UTF8.self)
  }

  /// A 64-bit FNV-1a hash of ``canonicalText``, as 16 hex digits (the cache file name).
  public var digest: String { fnv1aDigest(canonicalText.utf8) }
}

/// The outcome of one training run: its loss curve, or where it diverged.
public struct RunRecord: Codable, Equatable, Sendable {
  /// What was run.
  public var key: RunKey
  /// The training loss of every step (up to the divergence, if any).
  public var losses: [Float]
  /// The step at which the loss or gradient stopped being finite, or `nil`.
  public var divergedAtStep: Int?
  /// Wall-clock seconds the run took when it was computed.
  public var seconds: Double
  /// A classifier's accuracy on its test split after the last step (`nil` for other tasks,
  /// diverged runs and records cached before accuracies were kept).
  public var accuracy: Float?

  /// Creates a record.
  public init(
    key: RunKey, losses: [Float], divergedAtStep: Int?, seconds: Double, accuracy: Float? = nil
  ) {
    self.key = key
    self.losses = losses
    self.divergedAtStep = divergedAtStep
    self.seconds = seconds
    self.accuracy = accuracy
  }

  /// Whether the run stopped because of a non-finite loss or gradient.
  public var hasDiverged: Bool { divergedAtStep != nil }

  /// Whether the record is one a run of its key can produce: a divergence inside the run, or
  /// one loss per step.
  public var isConsistent: Bool {
    if let step = divergedAtStep { return (0..<key.steps).contains(step) }
    return losses.count == key.steps
  }
}

/// Finished runs on disk, one JSON file per ``RunKey``, so no run is ever computed twice.
///
/// Files are `DIR/<digest>.json`, written atomically; a file whose stored key differs from the
/// requested one (a hash collision), that cannot be decoded or whose record is not
/// ``RunRecord/isConsistent`` (a damaged or hand-edited file) counts as missing, so the run is
/// computed again.
public struct RunCache: Sendable {
  /// The folder holding the files.
  public let directory: URL

  /// A cache in `directory`, created if needed; temporary files of writes killed over an
  /// hour ago are removed.
  ///
  /// - Throws: `AtomicFileError` if the folder cannot be created.
  public init(directory: URL) throws {
    try AtomicFile.createDirectory(at: directory)
    AtomicFile.removeStaleTemporaryFiles(in: directory, olderThan: 3600)
    self.directory = directory
  }

  /// The default folder: `$XDG_CACHE_HOME/lopt` or `~/.cache/lopt`.
  public static var defaultDirectory: URL {
    if let base = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"], !base.isEmpty {
      return URL(fileURLWithPath: base).appendingPathComponent("lopt")
    }
    return FileManager.default.homeDirectoryForCurrentUser
      .appendingPathComponent(".cache").appendingPathComponent("lopt")
  }

  private func url(for key: RunKey) -> URL {
    directory.appendingPathComponent(key.digest + ".json")
  }

  /// The stored record of `key`, or `nil`.
  public func record(for key: RunKey) -> RunRecord? {
    guard let data = try? Data(contentsOf: url(for: key)),
      let record = try? JSONDecoder().decode(RunRecord.self, from: data), record.key == key,
      record.isConsistent
    else { return nil }
    return record
  }

  /// Stores `record` atomically.
  ///
  /// - Throws: `AtomicFileError` if the file cannot be written.
  public func store(_ record: RunRecord) throws {
    let data = try JSONEncoder().encode(record)
    try AtomicFile.write(data, to: url(for: record.key))
  }
}
