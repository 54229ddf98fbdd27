import Foundation
import LoptCore
import LoptEval
import LoptLearned
import LoptOptimizers
import LoptTraining

/// A meta-training run's files: the resolved configuration, `metrics.jsonl`, the two newest
/// state checkpoints (θ, outer optimizer, step; with a checksum) and `optimizer.safetensors`,
/// the newest θ as a learned-optimizer checkpoint that `lopt train --checkpoint` and `lopt eval`
/// read.
///
/// Every file is written atomically. A resumed run drops metrics lines past the checkpoint it
/// continues from, so the file reads as one uninterrupted run.
public struct RunDirectory: Sendable {
  /// The directory.
  public let url: URL

  /// The run directory at `url` (created when first written).
  public init(url: URL) { self.url = url }

  /// The resolved configuration.
  public var configurationURL: URL { url.appendingPathComponent("config.yaml") }
  /// One JSON object per outer step and per evaluation.
  public var metricsURL: URL { url.appendingPathComponent("metrics.jsonl") }
  /// The newest θ as a learned-optimizer checkpoint.
  public var optimizerURL: URL { url.appendingPathComponent("optimizer.safetensors") }
  /// The learned-optimizer checkpoint of θ at the best held-out speedup so far.
  public var bestOptimizerURL: URL { url.appendingPathComponent("best.safetensors") }

  /// The state checkpoint of outer step `step`.
  public func stateURL(step: Int) -> URL {
    url.appendingPathComponent(String(format: "state-%09d.safetensors", step))
  }

  /// The outer steps of the state checkpoints present, newest first.
  public func checkpointSteps() -> [Int] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
    return names.compactMap { name -> Int? in
      guard name.hasPrefix("state-"), name.hasSuffix(".safetensors") else { return nil }
      return Int(name.dropFirst(6).dropLast(12))
    }.sorted(by: >)
  }

  /// The best value of `statistic` among the evaluations in `metrics.jsonl`, `nil` if none
  /// has one.
  public func bestSpeedup(
    by statistic: MetaTrainingConfiguration.EvaluationSection.SelectionStatistic
  ) -> Double? {
    guard let data = FileManager.default.contents(atPath: metricsURL.path) else { return nil }
    let decoder = JSONDecoder()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
      (try? decoder.decode(EvaluationRecord.self, from: Data(line.utf8)))?.speedups
        .flatMap(statistic.value)
    }.max()
  }

  /// Creates the directory.
  ///
  /// - Throws: `AtomicFileError` naming the folder when it cannot be created.
  public func create() throws {
    try AtomicFile.createDirectory(at: url)
  }

  /// The lock file of ``lock()``.
  public var lockURL: URL { url.appendingPathComponent("lock") }

  /// Creates the directory and takes its writer lock (an advisory `flock` on ``lockURL``, which
  /// records the holder's process id), held until the returned value is released.
  ///
  /// The operating system drops the lock when its process ends, however it ends, so a killed
  /// run never leaves a stale lock behind.
  ///
  /// - Throws: ``MetaTrainingError/runDirectoryBusy(_:holder:)`` naming the process that
  ///   holds it, or ``MetaTrainingError/cannotWrite(_:)``.
  public func lock() throws -> RunDirectoryLock {
    try create()
    let descriptor = open(lockURL.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw MetaTrainingError.cannotWrite(lockURL.path) }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      let holder = (try? String(contentsOf: lockURL, encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines)
      close(descriptor)
      throw MetaTrainingError.runDirectoryBusy(url.path, holder: holder ?? "")
    }
    let pid = Array("\(getpid())\n".utf8)
    _ = ftruncate(descriptor, 0)
    _ = pwrite(descriptor, pid, pid.count, 0)
    return RunDirectoryLock(descriptor: descriptor)
  }

  /// Writes a state checkpoint and the learned-optimizer checkpoint, then deletes state
  /// checkpoints older than the previous one.
  ///
  /// - Throws: `AtomicFileError` when a file cannot be written.
  public func writeCheckpoint(_ checkpoint: RunCheckpoint, optimizer: Checkpoint) throws {
    try checkpoint.file().write(to: stateURL(step: checkpoint.step))
    try optimizer.write(to: optimizerURL, format: .safetensors)
    for step in checkpointSteps().dropFirst(2) {
      try? FileManager.default.removeItem(at: stateURL(step: step))
    }
  }

  /// The newest state checkpoint that reads back intact, with a warning for each newer one
  /// that does not (a damaged file is skipped, not deleted).
  ///
  /// - Parameters:
  ///   - template: a checkpoint of the run's layout (θ and outer optimizer) to read into.
  ///   - warn: receives one message per skipped file.
  /// - Returns: the checkpoint, or `nil` when no file reads back intact.
  public func latestCheckpoint(
    like template: RunCheckpoint, warn: (String) -> Void
  ) -> RunCheckpoint? {
    for step in checkpointSteps() {
      let url = stateURL(step: step)
      do {
        let checkpoint = try RunCheckpoint(file: SafetensorsFile(contentsOf: url), like: template)
        guard checkpoint.step == step else {
          throw RunCheckpointError.invalidValue(
            "it records step \(checkpoint.step), its name step \(step)")
        }
        return checkpoint
      } catch {
        warn("warning: skipping damaged checkpoint \(url.lastPathComponent): \(error)")
      }
    }
    return nil
  }

  /// Keeps the metrics lines whose `step` is at most `step` (resume), or removes the file
  /// (`step` 0).
  ///
  /// - Throws: `AtomicFileError` when the file cannot be rewritten.
  public func truncateMetrics(after step: Int) throws {
    guard let data = FileManager.default.contents(atPath: metricsURL.path) else { return }
    let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
      guard
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
        let lineStep = object["step"] as? Int
      else { return false }
      return lineStep <= step
    }
    try AtomicFile.write(kept.map { $0 + "\n" }.joined(), to: metricsURL)
  }
}

/// A held writer lock of a run directory (see ``RunDirectory/lock()``); released with the value.
public final class RunDirectoryLock: Sendable {
  private let descriptor: Int32

  fileprivate init(descriptor: Int32) { self.descriptor = descriptor }

  deinit { close(descriptor) }
}

/// The state a run continues from: θ, the outer optimizer, the step and the compute spent.
///
/// The random streams are functions of (seed, step), so the step is the whole RNG position. The
/// file carries a checksum of every tensor byte and the hash of the configuration's trajectory
/// settings; a file that fails either check is rejected.
public struct RunCheckpoint: Sendable {
  /// θ.
  public var theta: ParameterSet
  /// The outer optimizer's state.
  public var outer: OuterOptimizer
  /// Outer steps done.
  public var step: Int
  /// Core-seconds of meta-training so far (wall time × threads × processes).
  public var coreSeconds: Double
  /// ``MetaTrainingConfiguration/trajectoryHash`` of the run.
  public var configurationHash: UInt64

  /// Creates a checkpoint.
  public init(
    theta: ParameterSet, outer: OuterOptimizer, step: Int, coreSeconds: Double,
    configurationHash: UInt64
  ) {
    self.theta = theta
    self.outer = outer
    self.step = step
    self.coreSeconds = coreSeconds
    self.configurationHash = configurationHash
  }

  /// The `format` metadata value.
  public static let formatName = "lopt-meta-training-state"

  /// The metadata the checksum covers besides the tensors (files of ``checksumVersion`` 2).
  private static let checkedKeys = ["step", "core_seconds", "configuration_hash"]
  /// The `checksum_version` written: 2 covers the tensors and ``checkedKeys``; files without
  /// the key (version 1) have a checksum of the tensors only.
  static let checksumVersion = "2"

  /// The checkpoint as a safetensors file.
  public func file() -> SafetensorsFile {
    var file = SafetensorsFile()
    file.setParameters(theta, named: "theta")
    outer.write(into: &file, prefix: "outer/")
    file.metadata = [
      "format": Self.formatName, "step": String(step), "core_seconds": String(coreSeconds),
      "configuration_hash": String(configurationHash), "checksum_version": Self.checksumVersion,
    ]
    file.metadata["checksum"] = String(Self.checksum(file))
    return file
  }

  /// Reads a checkpoint written by ``file()`` into buffers shaped like `template`.
  ///
  /// - Throws: ``RunCheckpointError`` for a wrong format, checksum or configuration, a
  ///   negative step, non-finite or negative core-seconds, or a θ with NaN or infinite
  ///   elements; `SafetensorsError` for missing or mis-shaped tensors.
  public init(file: SafetensorsFile, like template: RunCheckpoint) throws {
    let metadata = file.metadata
    guard metadata["format"] == Self.formatName, let step = metadata["step"].flatMap(Int.init),
      let coreSeconds = metadata["core_seconds"].flatMap(Double.init),
      let hash = metadata["configuration_hash"].flatMap(UInt64.init),
      let checksum = metadata["checksum"].flatMap(UInt64.init)
    else { throw RunCheckpointError.notAStateCheckpoint }
    guard checksum == Self.checksum(file) else { throw RunCheckpointError.checksumMismatch }
    guard hash == template.configurationHash else {
      throw RunCheckpointError.otherConfiguration
    }
    guard step >= 0 else { throw RunCheckpointError.invalidValue("step is \(step)") }
    guard coreSeconds.isFinite, coreSeconds >= 0 else {
      throw RunCheckpointError.invalidValue("core_seconds is \(coreSeconds)")
    }
    self = template
    try file.readParameters(&theta, named: "theta")
    guard theta.isFinite else {
      throw RunCheckpointError.invalidValue("θ has NaN or infinite elements")
    }
    try outer.restore(from: file, prefix: "outer/")
    self.step = step
    self.coreSeconds = coreSeconds
  }

  /// FNV-1a over every tensor's name and bytes in file order, then (version 2) over the
  /// ``checkedKeys`` and their values.
  static func checksum(_ file: SafetensorsFile) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    func add(_ bytes: some Sequence<UInt8>) {
      for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    }
    for name in file.names {
      add(name.utf8)
      add(file[name]!.bytes)
    }
    if let version = file.metadata["checksum_version"] {
      add(version.utf8)
      for key in checkedKeys { add("\(key)=\(file.metadata[key] ?? "")\n".utf8) }
    }
    return hash
  }
}

/// Why a state checkpoint was rejected.
public enum RunCheckpointError: Error, CustomStringConvertible, Equatable {
  /// The file is not a meta-training state checkpoint.
  case notAStateCheckpoint
  /// The tensors do not match the stored checksum (a damaged file).
  case checksumMismatch
  /// The checkpoint belongs to a run with other trajectory settings.
  case otherConfiguration
  /// A value is out of range (a negative step, NaN core-seconds, a non-finite θ).
  case invalidValue(String)

  /// What is wrong.
  public var description: String {
    switch self {
    case .notAStateCheckpoint: "not a meta-training state checkpoint (format metadata missing)"
    case .checksumMismatch: "checksum mismatch: the file is damaged"
    case .otherConfiguration:
      "written by a run with another configuration (only threads, checkpointSeconds, "
        + "evaluation and, with a constant outer learning rate, outer.steps may change on resume)"
    case .invalidValue(let problem): "unusable state checkpoint: \(problem)"
    }
  }
}
