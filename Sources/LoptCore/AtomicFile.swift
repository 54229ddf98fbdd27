import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that a reader never sees a half-written one.
///
/// The bytes go to a new temporary file in the destination's directory (so the final rename
/// stays on one file system), which is flushed to disk with `fsync` and then renamed over the
/// destination. POSIX `rename` is atomic: the destination holds either its old content or the
/// new content, never a mixture, even if the process dies midway. On any failure the temporary
/// file is removed and the destination is left as it was. A symbolic link at the destination
/// is replaced, not followed. Every file Lopt writes (checkpoints, configurations, metrics
/// snapshots, reports) goes through here.
public enum AtomicFile {
  /// Atomically replaces (or creates) the file at `url` with `bytes`.
  ///
  /// The new file's permissions are `0666` masked by the process umask, as for any new file.
  ///
  /// - Throws: ``AtomicFileError`` naming the destination and the step that failed.
  public static func write(_ bytes: some ContiguousBytes, to url: URL) throws {
    let path = url.path
    let directory = url.deletingLastPathComponent().path
    let (descriptor, temporaryPath) = try createTemporaryFile(for: url, in: directory)
    var isRenamed = false
    defer {
      if !isRenamed { unlink(temporaryPath) }
    }
    do {
      try bytes.withUnsafeBytes { try writeAll($0, to: descriptor, path: path) }
      guard fsync(descriptor) == 0 else {
        throw AtomicFileError(path: path, step: "fsync of the temporary file", code: errno)
      }
    } catch {
      close(descriptor)
      throw error
    }
    guard close(descriptor) == 0 else {
      throw AtomicFileError(path: path, step: "close of the temporary file", code: errno)
    }
    guard rename(temporaryPath, path) == 0 else {
      throw AtomicFileError(path: path, step: "rename over the destination", code: errno)
    }
    isRenamed = true
    syncDirectory(directory)
  }

  /// Creates the folder at `url` and any missing parents (nothing if it exists).
  ///
  /// - Throws: ``AtomicFileError`` naming the folder and the system's reason (instead of
  ///   Foundation's `NSCocoaErrorDomain` dump).
  public static func createDirectory(at url: URL) throws {
    do {
      try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    } catch {
      let underlying = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? any Error)
        .map { $0 as NSError }
      let code = underlying.flatMap { $0.domain == NSPOSIXErrorDomain ? Int32($0.code) : nil }
      throw AtomicFileError(path: url.path, step: "creation of the folder", code: code ?? EIO)
    }
  }

  /// Removes the temporary files that writes killed midway (`kill -9`, power loss) left in
  /// `directory`: `.NAME.HEX.tmp` files last modified more than `age` seconds ago.
  ///
  /// Pass 0 only for a folder with one writer that holds it (a locked run directory); a
  /// shared folder (the run cache) needs an age no write could take.
  ///
  /// - Returns: the names removed.
  @discardableResult
  public static func removeStaleTemporaryFiles(
    in directory: URL, olderThan age: TimeInterval
  ) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    let cutoff = Date().addingTimeInterval(-age)
    return names.filter { name in
      let parts = name.split(separator: ".", omittingEmptySubsequences: false)
      guard name.hasPrefix("."), parts.count >= 4, parts.last == "tmp",
        let random = parts.dropLast().last, (1...16).contains(random.count),
        random.allSatisfy(\.isHexDigit)
      else { return false }
      let path = directory.appendingPathComponent(name).path
      let modified =
        (try? FileManager.default.attributesOfItem(atPath: path))?[
          .modificationDate] as? Date
      guard let modified, modified <= cutoff else { return false }
      return (try? FileManager.default.removeItem(atPath: path)) != nil
    }
  }

  /// Atomically replaces (or creates) the file at `url` with the UTF-8 encoding of `text`.
  ///
  /// - Throws: ``AtomicFileError`` naming the destination and the step that failed.
  public static func write(_ text: String, to url: URL) throws {
    try write(Array(text.utf8), to: url)
  }

  /// Creates `<directory>/.<name>.<random>.tmp` exclusively and opens it for writing.
  private static func createTemporaryFile(
    for url: URL, in directory: String
  ) throws -> (descriptor: Int32, path: String) {
    let prefix = directory + "/." + url.lastPathComponent + "."
    var code: Int32 = 0
    for _ in 0..<8 {
      let candidate = prefix + String(UInt64.random(in: .min ... .max), radix: 16) + ".tmp"
      let descriptor = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
      if descriptor >= 0 { return (descriptor, candidate) }
      code = errno
      if code != EEXIST { break }
    }
    throw AtomicFileError(path: url.path, step: "creation of a temporary file", code: code)
  }

  /// Writes every byte of `buffer`, retrying short writes and interrupted calls.
  private static func writeAll(
    _ buffer: UnsafeRawBufferPointer, to descriptor: Int32, path: String
  ) throws {
    var written = 0
    while written < buffer.count {
      let result = systemWrite(descriptor, buffer.baseAddress! + written, buffer.count - written)
      if result > 0 {
        written += result
      } else if result < 0 && errno == EINTR {
        continue
      } else {
        throw AtomicFileError(
          path: path, step: "write to the temporary file", code: result < 0 ? errno : EIO)
      }
    }
  }

  /// Flushes the directory entry of the rename to disk (best effort: the rename has happened).
  private static func syncDirectory(_ directory: String) {
    let descriptor = open(directory, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return }
    fsync(descriptor)
    close(descriptor)
  }
}

/// The C library's `write(2)`, which `AtomicFile.write` would otherwise shadow.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
  write(descriptor, bytes, count)
}

/// Why ``AtomicFile`` could not write a file: the destination, the failed step and `errno`.
public struct AtomicFileError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The destination path.
  public let path: String
  /// The step that failed, for example `"rename over the destination"`.
  public let step: String
  /// The `errno` value the system call reported.
  public let code: Int32

  /// A one-line message, for example
  /// `cannot write /x/y.safetensors: creation of a temporary file failed: No such file or …`.
  public var description: String {
    "cannot write \(path): \(step) failed: \(String(cString: strerror(code)))"
  }
}
