import Foundation
import LoptCore

/// Writes one JSON object per line to a metrics file.
///
/// Lines go to `FILE.partial` as they come (flushed, so a long run can be watched with
/// `tail -f`); ``finish()`` renames it to `FILE`, so `FILE` itself only ever appears complete.
final class MetricsWriter {
  private let destination: URL
  private let partial: URL
  private let handle: FileHandle
  private let encoder = JSONEncoder()

  init(path: String) throws {
    destination = URL(fileURLWithPath: path)
    partial = URL(fileURLWithPath: path + ".partial")
    guard FileManager.default.createFile(atPath: partial.path, contents: nil) else {
      throw CLIError.cannotWrite(path: partial.path)
    }
    handle = try FileHandle(forWritingTo: partial)
    encoder.outputFormatting = [.sortedKeys]
  }

  /// Appends `record` as one line of JSON.
  func write(_ record: some Encodable) throws {
    var line = try encoder.encode(record)
    line.append(UInt8(ascii: "\n"))
    try handle.write(contentsOf: line)
  }

  /// Closes the file and moves it to its final name.
  func finish() throws {
    try handle.close()
    guard rename(partial.path, destination.path) == 0 else {
      throw CLIError.cannotWrite(path: destination.path)
    }
  }
}
