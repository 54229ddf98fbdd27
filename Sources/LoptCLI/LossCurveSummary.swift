import LoptTasks

/// A short text table of a loss curve: about ten evenly spaced logged records.
struct LossCurveSummary {
  let records: [TrainingRecord]

  var text: String {
    guard !records.isEmpty else { return "no records" }
    let stride = max(1, records.count / 10)
    var rows = Swift.stride(from: 0, to: records.count, by: stride).map { records[$0] }
    if rows.last != records.last { rows.append(records.last!) }
    var lines = ["     step   train loss   valid loss"]
    for record in rows {
      let valid = record.validationLoss.map(formatted) ?? "-"
      lines.append(
        pad(String(record.step), 9) + pad(formatted(record.loss), 13) + pad(valid, 13))
    }
    return lines.joined(separator: "\n")
  }

  private func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
  }
}
