import Foundation

/// Why a file could not be read, in words a user can act on (instead of Foundation's
/// `NSCocoaErrorDomain` codes).
public struct FileReadError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The file.
  public var path: String
  /// What is wrong: `does not exist`, `is a folder, not a file`, `cannot be read (…)`.
  public var reason: String

  /// Creates an error for the file at `path`.
  public init(path: String, reason: String) {
    self.path = path
    self.reason = reason
  }

  /// `'PATH' REASON`.
  public var description: String { "'\(path)' \(reason)" }
}

/// Reading a whole file with an error that names it and says what is wrong.
public enum FileContents {
  /// The bytes of the file at `url`.
  ///
  /// - Throws: ``FileReadError`` for a missing file, a folder, or a file that cannot be read
  ///   (permissions, I/O).
  public static func read(_ url: URL) throws -> Data {
    let path = url.path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw FileReadError(path: path, reason: "does not exist")
    }
    guard !isDirectory.boolValue else {
      throw FileReadError(path: path, reason: "is a folder, not a file")
    }
    guard FileManager.default.isReadableFile(atPath: path) else {
      throw FileReadError(path: path, reason: "cannot be read (permission denied)")
    }
    do {
      return try Data(contentsOf: url)
    } catch {
      let code = (error as NSError).userInfo[NSUnderlyingErrorKey].map { "\($0)" } ?? ""
      throw FileReadError(
        path: path, reason: "cannot be read (\(code.isEmpty ? "I/O error" : code))")
    }
  }
}
