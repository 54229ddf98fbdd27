import Foundation

/// A one-line progress display on standard error: step, loss, steps per second and ETA.
///
/// On a terminal the line is redrawn in place at most ten times a second; when standard error
/// is not a terminal (a pipe, a CI log) nothing is drawn, so logs stay clean.
struct ProgressLine {
  private let total: Int
  private let label: String
  private let isEnabled: Bool
  private let start = Date()
  private var lastDraw = Date.distantPast

  init(total: Int, label: String, isEnabled: Bool = isatty(STDERR_FILENO) == 1) {
    self.total = total
    self.label = label
    self.isEnabled = isEnabled
  }

  /// Redraws the line for `step` (1-based count of finished steps) if enough time has passed.
  mutating func update(step: Int, loss: Float) {
    let (label, total) = (label, total)
    update(step: step) { elapsed in
      Self.text(label: label, step: step, total: total, loss: loss, elapsed: elapsed)
    }
  }

  /// Redraws the line with the text `text(elapsed seconds)` if enough time has passed.
  mutating func update(step: Int, text: (TimeInterval) -> String) {
    guard isEnabled else { return }
    let now = Date()
    guard now.timeIntervalSince(lastDraw) >= 0.1 || step == total else { return }
    lastDraw = now
    FileHandle.standardError.write(
      Data(("\r" + text(now.timeIntervalSince(start)) + "\u{1B}[K").utf8))
  }

  /// Ends the line so later output starts on a fresh one.
  func finish() {
    guard isEnabled else { return }
    FileHandle.standardError.write(Data("\n".utf8))
  }

  /// The line's text: `label step/total  loss L  R steps/s  ETA m:ss`.
  static func text(
    label: String, step: Int, total: Int, loss: Float, elapsed: TimeInterval
  ) -> String {
    let rate = elapsed > 0 ? Double(step) / elapsed : 0
    let remaining = rate > 0 ? Double(total - step) / rate : 0
    return "\(label) \(step)/\(total)  loss \(formatted(loss))  "
      + "\(String(format: "%.0f", rate)) steps/s  ETA \(duration(remaining))"
  }

  /// `h:mm:ss` or `m:ss`.
  static func duration(_ seconds: TimeInterval) -> String {
    let whole = Int(seconds.rounded())
    let (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60)
    return h > 0
      ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
  }
}

/// A loss with four significant digits.
func formatted(_ value: Float) -> String {
  String(format: "%.4g", Double(value))
}
