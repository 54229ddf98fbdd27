import Foundation
import LoptCore

/// Finds data files in an ordered list of folders, each laid out like the project's shared
/// data folder: `mnist/…`, `fashion-mnist/…`, `digits/…`, `text/…`,
/// `cifar-10-batches-bin/…`.
///
/// The default search order is:
/// 1. the folder given by the caller (the CLI's `--data-dir`);
/// 2. the folder in the `LOPT_DATA_DIR` environment variable;
/// 3. the data shipped with LoptData (its bundle's `Resources` folder: digits, Fashion-MNIST
///    and MNIST at 8×8 and 16×16, a slice of Austen);
/// 4. `/usr/share/datasets`, where the Debian package `dataset-fashion-mnist` installs the
///    full 28×28 Fashion-MNIST (`fashion-mnist/train-images-idx3-ubyte.gz`, …).
public struct DataLocator: Sendable {
  /// One folder to search and where it came from (shown in "not found" errors).
  public struct Root: Sendable, Equatable {
    /// The folder.
    public var directory: URL
    /// Where the folder came from, for example `--data-dir` or `LOPT_DATA_DIR`.
    public var origin: String

    /// Creates a root from a folder and a note on where it came from.
    public init(directory: URL, origin: String) {
      self.directory = directory
      self.origin = origin
    }
  }

  /// The folders searched, in order.
  public var roots: [Root]

  /// Creates a locator that searches exactly `roots`, in order.
  public init(roots: [Root]) {
    self.roots = roots
  }

  /// Creates a locator with the default search order: `directory` (if given), then
  /// `LOPT_DATA_DIR` from `environment` (if set and not empty), then the shipped data, then
  /// ``systemDirectory``.
  public init(
    directory: String? = nil,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) {
    var roots: [Root] = []
    if let directory {
      roots.append(Root(directory: URL(fileURLWithPath: directory), origin: "--data-dir"))
    }
    if let variable = environment["LOPT_DATA_DIR"], !variable.isEmpty {
      roots.append(Root(directory: URL(fileURLWithPath: variable), origin: "LOPT_DATA_DIR"))
    }
    if let shipped = Self.shippedDirectory {
      roots.append(Root(directory: shipped, origin: "data shipped with LoptData"))
    }
    roots.append(
      Root(
        directory: URL(fileURLWithPath: Self.systemDirectory),
        origin: "Debian package dataset-fashion-mnist"))
    self.init(roots: roots)
  }

  /// The folder of data shipped inside LoptData's resource bundle, `nil` if it is missing
  /// (see `ShippedResources`).
  public static var shippedDirectory: URL? {
    ShippedResources.url(bundle: "Lopt_LoptData.resources")
  }

  /// The system data folder searched last (Debian's `dataset-*` packages install here).
  public static let systemDirectory = "/usr/share/datasets"

  /// What the files `relativePaths` resolve to hold: for each, its size and a hash of its
  /// bytes, or `missing`, so that results computed on the data (a run cache) are told apart
  /// when the data differ (another `--data-dir`, a replaced file) and shared when only the
  /// folder holding them does.
  ///
  /// - Complexity: reads each file once per process (hashes are kept by path, size and
  ///   modification time).
  public func fingerprint(of relativePaths: [String]) -> String {
    relativePaths.map { relativePath in
      guard let url = try? url(for: relativePath),
        let digest = FileDigests.shared.digest(of: url)
      else { return "\(relativePath) missing" }
      return "\(relativePath) \(digest)"
    }.joined(separator: ", ")
  }

  /// Returns the first `root/relativePath` that exists.
  ///
  /// - Throws: ``DatasetError/fileNotFound(file:searched:)`` listing every path tried.
  public func url(for relativePath: String) throws -> URL {
    var searched: [String] = []
    for root in roots {
      let url = root.directory.appendingPathComponent(relativePath)
      if FileManager.default.fileExists(atPath: url.path) { return url }
      searched.append("\(url.path) (\(root.origin))")
    }
    throw DatasetError.fileNotFound(file: relativePath, searched: searched)
  }
}

/// File digests (size and FNV-1a of the bytes) already computed in this process.
private final class FileDigests: @unchecked Sendable {
  static let shared = FileDigests()

  private let lock = NSLock()
  private var digests: [String: String] = [:]

  /// `"<size> bytes fnv1a <hash>"` of the file at `url`, or `nil` if it cannot be read.
  func digest(of url: URL) -> String? {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
      let size = attributes[.size] as? Int
    else { return nil }
    let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
    let key = "\(url.path) \(size) \(modified)"
    if let known = lock.withLock({ digests[key] }) { return known }
    guard let bytes = try? Data(contentsOf: url, options: .mappedIfSafe) else { return nil }
    let digest = bytes.withUnsafeBytes { "\(size) bytes fnv1a \(fnv1aDigest($0))" }
    lock.withLock { digests[key] = digest }
    return digest
  }
}
