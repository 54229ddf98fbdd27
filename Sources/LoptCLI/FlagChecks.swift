import ArgumentParser
import Foundation

/// Range and path checks shared by the commands' `validate()`: each names the flag and the
/// accepted values, so a mistyped or hostile value fails before anything is allocated.
enum FlagChecks {
  /// Throws unless `value` is in `range`.
  static func check(_ value: Int, in range: ClosedRange<Int>, flag: String) throws {
    guard range.contains(value) else {
      throw ValidationError(
        "\(flag) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
    }
  }

  /// Throws unless `path`, when given, names an existing folder (a missing or mistyped data
  /// folder must not fall back to other data silently).
  static func checkDirectory(_ path: String?, flag: String) throws {
    guard let path else { return }
    var isDirectory: ObjCBool = false
    guard !path.isEmpty, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    else { throw ValidationError("\(flag) '\(path)' does not exist") }
    guard isDirectory.boolValue else {
      throw ValidationError("\(flag) '\(path)' is a file, not a folder")
    }
  }

  /// Throws if `path` is empty (it would write into the current folder).
  static func checkNotEmpty(_ path: String, flag: String) throws {
    guard !path.trimmingCharacters(in: .whitespaces).isEmpty else {
      throw ValidationError("\(flag) must name a file or folder, got an empty path")
    }
  }
}
