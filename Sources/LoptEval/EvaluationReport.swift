import Foundation
import LoptCore
import LoptTasks

/// The files of an evaluation: `report.md`, `results.json` and the SVG plots.
///
/// The report has tables people read; the plots are one loss plot per task and the
/// sorted-speedup plot of VeLO's figure 1.
public enum EvaluationReport {
  /// The sorted-speedup plot's file name.
  public static let speedupPlotName = "speedup.svg"

  /// Speedups of 0 (diverged, or never below the baseline's start) are drawn at this value on
  /// the log axis.
  static let speedupFloor = 1.0 / 64

  /// Writes `report.md`, `results.json` and the SVGs into `directory` (created if needed),
  /// each file atomically.
  ///
  /// - Returns: the names of the files written.
  /// - Throws: `AtomicFileError` when the folder or a file cannot be written.
  @discardableResult
  public static func write(_ result: EvaluationResult, to directory: URL) throws -> [String] {
    try AtomicFile.createDirectory(at: directory)
    var files: [(String, String)] = [
      ("report.md", markdown(result)),
      ("results.json", String(decoding: try result.json(), as: UTF8.self) + "\n"),
      (speedupPlotName, speedupPlot(result).render()),
    ]
    for task in result.tasks {
      files.append((lossPlotName(task), lossPlot(task).render()))
    }
    for (name, contents) in files {
      try AtomicFile.write(contents, to: directory.appendingPathComponent(name))
    }
    return files.map(\.0)
  }

  /// The loss plot's file name of `task`: `loss-NAME.svg`, unsafe characters replaced.
  public static func lossPlotName(_ task: EvaluationResult.Task) -> String {
    let safe = task.name.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
    return "loss-\(String(safe)).svg"
  }

  /// The report in Markdown: setup, costs, aggregate speedups, then a table per task.
  public static func markdown(_ result: EvaluationResult) -> String {
    let adam = Evaluation.headlineBaseline
    let grid = result.learningRates
    let (optimizers, tasks) = (result.optimizers.count, result.tasks.count)
    let range = "\(number(Double(grid.min() ?? 0))) … \(number(Double(grid.max() ?? 0)))"
    let setup = """
      \(optimizers) optimizer\(plural(optimizers)) on \(tasks) task\(plural(tasks)), \
      \(result.steps) steps (times each task's multiple), \(result.seeds) \
      seed\(plural(result.seeds)). Baselines \(result.baselines.joined(separator: ", ")), each \
      learning-rate tuned on \(grid.count) rates (\(range)) for \(result.baselineMultiple)× the \
      steps.

      **Speedup** over a baseline = the steps the learning-rate-tuned baseline needs to reach \
      the optimizer's final loss, divided by the optimizer's steps (VeLO's metric, \
      docs/evaluation-metric.md §3). Losses are training losses averaged over seeds and \
      smoothed with an EMA (α 0.95), \
      for the optimizer and the baseline alike. A speedup is capped at \
      \(result.baselineMultiple) (the baseline never gets there) and is 0 when the optimizer \
      diverged. Hand-designed optimizers under evaluation are tuned on the same grid for their \
      own step count. The baseline's envelope is a running minimum, so it keeps the early dip \
      of a fast rate whose loss later rises, while an evaluated optimizer is scored at its \
      last step: tuned Adam scores exactly 1 against its own envelope only when its curves \
      fall steadily, and below 1 when the grid reaches unstable rates.
      """
    var lines = [
      "# Evaluation on the \(result.suite) suite", "", setup, "", "## Cost", "",
      "| optimizer | meta-training cost |", "| --- | --- |",
    ]
    for optimizer in result.optimizers {
      let cost =
        optimizer.isTuned
        ? "none (hand-designed, learning rate tuned)"
        : optimizer.metaTrainingCoreHours.map { "\(number($0)) core-hours" }
          ?? "not recorded in the checkpoint"
      lines.append("| \(optimizer.name) | \(cost) |")
    }
    let wall = """
      Evaluation wall time: \(number(result.wallSeconds)) s (this invocation; runs found in the \
      cache cost nothing). All training runs together: \
      \(number(result.trainingSeconds / 3600)) core-hours when they were computed.
      """
    lines += [
      "", wall, "", "## Speedup over tuned Adam", "",
      "| optimizer | tasks | mean | median | IQM | 5 % | 25 % | 75 % | 95 % "
        + "| faster than tuned Adam |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for optimizer in result.optimizers {
      guard let s = result.aggregates[optimizer.name]?[adam] else { continue }
      let values: [Double] = [
        s.mean, s.median, s.interquartileMean, s.percentile5, s.percentile25, s.percentile75,
        s.percentile95,
      ]
      let cells = values.map(number).joined(separator: " | ")
      let faster = Int((s.fractionFaster * 100).rounded())
      lines.append("| \(optimizer.name) | \(s.count) | \(cells) | \(faster) % |")
    }
    let others = result.baselines.filter { $0 != adam }
    if !others.isEmpty {
      lines += [
        "", "Against the other tuned baselines (median speedup, mean in brackets):", "",
        "| optimizer | " + others.joined(separator: " | ") + " |",
        "| --- |" + String(repeating: " ---: |", count: others.count),
      ]
      for optimizer in result.optimizers {
        let cells = others.map { baseline in
          result.aggregates[optimizer.name]?[baseline].map {
            "\(number($0.median)) (\(number($0.mean)))"
          } ?? "–"
        }
        lines.append("| \(optimizer.name) | " + cells.joined(separator: " | ") + " |")
      }
    }
    let reference = Evaluation.scheduleReference
    let referenced = result.optimizers.filter { result.aggregates[$0.name]?[reference] != nil }
    if !referenced.isEmpty {
      lines += [
        "", "## Against tuned Adam + cosine", "",
        """
        Speedup over tuned Adam divided by that of \(reference) (tuned Adam with a 5 % warm-up \
        and a cosine decay to zero at the last step) on the same task: above 1 when the \
        optimizer ends lower than the schedule people use, at the same budget.
        """, "",
        "| optimizer | tasks | mean | median | IQM | faster than \(reference) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
      ]
      for optimizer in referenced {
        let s = result.aggregates[optimizer.name]![reference]!
        let cells = [s.mean, s.median, s.interquartileMean].map(number).joined(separator: " | ")
        let faster = Int((s.fractionFaster * 100).rounded())
        lines.append("| \(optimizer.name) | \(s.count) | \(cells) | \(faster) % |")
      }
    }
    lines += ["", "![Sorted speedups over tuned Adam](\(speedupPlotName))", "", "## Tasks"]
    let columns = result.baselines + (referenced.isEmpty ? [] : [reference])
    for task in result.tasks { lines += taskSection(task, baselines: columns) }
    return lines.joined(separator: "\n") + "\n"
  }

  private static func taskSection(_ task: EvaluationResult.Task, baselines: [String]) -> [String] {
    let spec = task.spec
    let about = """
      \(spec.family.rawValue) on \(spec.data.dataset), batch \(spec.batchSize), \
      \(task.parameterCount) parameters; \(task.steps) steps (baselines \(task.baselineSteps)).
      """
    let speedupColumns = baselines.map { "speedup vs \($0)" }.joined(separator: " | ")
    let name = escaped(task.name)
    // Classifiers get a column of final test accuracies.
    let hasAccuracy =
      task.optimizers.contains { $0.accuracy != nil }
      || task.baselines.contains { $0.accuracy != nil }
    let accuracyHeader = hasAccuracy ? " test accuracy |" : ""
    let accuracyRule = hasAccuracy ? " ---: |" : ""
    var lines = [
      "", "### \(name)", "", about, "",
      "| optimizer | learning rate | final loss |\(accuracyHeader) loss / tuned Adam | "
        + "\(speedupColumns) |",
      "| --- | ---: | ---: |\(accuracyRule) ---: |"
        + String(repeating: " ---: |", count: baselines.count),
    ]
    func percent(_ accuracy: Float?) -> String {
      accuracy.map { String(format: "%.1f %%", 100 * $0) } ?? "–"
    }
    for run in task.optimizers {
      let loss =
        run.finalLoss.map { number(Double($0)) }
        ?? (run.divergedSeeds.isEmpty
          ? "diverged at every rate"
          : "diverged (seeds \(run.divergedSeeds.map(String.init).joined(separator: ", ")))")
      let rate = run.learningRate.map { number(Double($0)) } ?? "–"
      let ratio = run.lossRatio.map(number) ?? "–"
      let speedups = baselines.map { run.speedups[$0].map(number) ?? "–" }
      let accuracy = hasAccuracy ? [percent(run.accuracy)] : []
      let cells = ([rate, loss] + accuracy + [ratio] + speedups).joined(separator: " | ")
      lines.append("| \(run.name) | \(cells) |")
    }
    let header = """
      | baseline | best learning rate at \(task.baselineSteps) steps | envelope at step \
      \(task.steps - 1) | loss at step \(task.baselineSteps - 1) |\(hasAccuracy
        ? " test accuracy at step \(task.baselineSteps - 1) |" : "")
      """
    lines += ["", header, "| --- | ---: | ---: | ---: |\(accuracyRule)"]
    for baseline in task.baselines {
      let values: [Float?] = [baseline.learningRate, baseline.lossAtBudget, baseline.finalLoss]
      let cells =
        values.map { $0.map { number(Double($0)) } ?? "diverged" }
        + (hasAccuracy ? [percent(baseline.accuracy)] : [])
      lines.append("| \(baseline.name) | \(cells.joined(separator: " | ")) |")
    }
    lines += ["", "![Loss curves on \(name)](\(lossPlotName(task)))"]
    return lines
  }

  /// The task's loss curves: each evaluated optimizer (solid) and each baseline's envelope
  /// (dashed), against the step on a log axis so both horizons fit.
  public static func lossPlot(_ task: EvaluationResult.Task) -> SVGPlot {
    var series: [SVGPlot.Series] = task.optimizers.enumerated().map { index, run in
      .init(
        name: run.curve.isEmpty ? "\(run.name) (diverged)" : run.name,
        points: logSpacedIndices(run.curve.count).map { (Double($0 + 1), Double(run.curve[$0])) },
        colorIndex: index)
    }
    for (index, baseline) in task.baselines.enumerated() {
      series.append(
        .init(
          name: "\(baseline.name) (tuned envelope)",
          points: zip(baseline.envelopeSteps, baseline.envelope).map { ($0 + 1, Double($1)) },
          isDashed: true, colorIndex: task.optimizers.count + index))
    }
    return SVGPlot(
      title: "\(task.name): training loss (mean over seeds, EMA 0.95)", xLabel: "step",
      yLabel: "training loss", series: series, isLogX: true)
  }

  /// The sorted-speedup plot of VeLO's figure 1.
  ///
  /// Per optimizer, its speedups over tuned Adam sorted across tasks, on a log₂ axis with a
  /// line at 1 (as fast as tuned Adam).
  public static func speedupPlot(_ result: EvaluationResult) -> SVGPlot {
    let adam = Evaluation.headlineBaseline
    var hasZero = false
    var series: [SVGPlot.Series] = result.optimizers.enumerated().map { index, optimizer in
      let sorted = result.tasks.compactMap { task in
        task.optimizers.first { $0.name == optimizer.name }?.speedups[adam]
      }.sorted()
      hasZero = hasZero || sorted.contains { $0 < speedupFloor }
      return .init(
        name: optimizer.name,
        points: sorted.enumerated().map { (Double($0 + 1), max($1, speedupFloor)) },
        showsMarkers: true, colorIndex: index)
    }
    series.append(
      .init(
        name: "tuned Adam (1×)",
        points: [(0.5, 1), (Double(max(result.tasks.count, 1)) + 0.5, 1)], isDashed: true,
        colorIndex: 7))
    return SVGPlot(
      title: "Speedup over learning-rate-tuned Adam, tasks sorted"
        + (hasZero ? " (0 drawn at 1/64)" : ""),
      xLabel: "task rank", yLabel: "speedup", series: series, isLogX: false, isLogY: true,
      yLogBase: 2)
  }

  /// At most about `limit` indices of `0..<count`, evenly spaced on a log scale of `index + 1`
  /// (every index when there are few), always including the last.
  static func logSpacedIndices(_ count: Int, limit: Int = 400) -> [Int] {
    guard count > limit else { return Array(0..<count) }
    let top = log(Double(count))
    var indices = (0..<limit).map { Int(exp(top * Double($0) / Double(limit - 1))) - 1 }
    indices.append(count - 1)
    return Array(Set(indices.map { min(max($0, 0), count - 1) })).sorted()
  }

  private static func plural(_ count: Int) -> String { count == 1 ? "" : "s" }

  /// `text` as literal Markdown: punctuation that Markdown or HTML would interpret is
  /// backslash-escaped, line breaks become spaces (suite task names are user text).
  static func escaped(_ text: String) -> String {
    var result = ""
    for character in text {
      if character.isNewline {
        result.append(" ")
      } else {
        if "\\`*_[]<>#!|&".contains(character) { result.append("\\") }
        result.append(character)
      }
    }
    return result
  }

  /// Four significant digits.
  static func number(_ value: Double) -> String { String(format: "%.4g", value) }
}
