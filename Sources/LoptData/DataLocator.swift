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
