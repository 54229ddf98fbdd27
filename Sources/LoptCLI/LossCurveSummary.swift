import Foundation
import LoptTasks
import LoptTraining

/// A short text table of a loss curve: about ten evenly spaced logged records, with the
/// validation accuracy when the task is a classifier.
struct LossCurveSummary {
  let records: [TrainingRecord]

  var text: String {
    guard !records.isEmpty else { return "no records" }
    let stride = max(1, records.count / 10)
    var rows = Swift.stride(from: 0, to: records.count, by: stride).map { records[$0] }
    if rows.last != records.last { rows.append(records.last!) }
    let hasAccuracy = records.contains { $0.validationAccuracy != nil }
    var lines = ["     step   train loss   valid loss" + (hasAccuracy ? "   valid accuracy" : "")]
    for record in rows {
      let valid = record.validationLoss.map(formatted) ?? "-"
      let accuracy = record.validationAccuracy.map(percent) ?? "-"
      lines.append(
        pad(String(record.step), 9) + pad(formatted(record.loss), 13) + pad(valid, 13)
          + (hasAccuracy ? pad(accuracy, 17) : ""))
    }
    return lines.joined(separator: "\n")
  }

  private func percent(_ fraction: Float) -> String {
    String(format: "%.1f %%", 100 * fraction)
  }

  private func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
  }
}
