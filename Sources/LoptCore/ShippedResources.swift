import Foundation

/// The resource folders SwiftPM builds beside the executable (`Lopt_<Target>.resources`).
///
/// They are looked up by hand rather than through `Bundle.module`, which stops the program
/// when its bundle is missing (an installed `lopt` needs the folders copied beside it).
public enum ShippedResources {
  /// `<bundle>/Resources/<path>` beside the main bundle or the executable, `nil` if absent.
  ///
  /// - Parameters:
  ///   - bundle: the bundle's folder name, e.g. `Lopt_LoptData.resources`.
  ///   - path: a path inside the bundle's `Resources` folder (empty: the folder itself).
  /// - Returns: the first existing location, or `nil`.
  public static func url(bundle: String, path: String = "") -> URL? {
    let folders = [Bundle.main.bundleURL, Bundle.main.executableURL?.deletingLastPathComponent()]
    for case let folder? in folders {
      var url = folder.appendingPathComponent(bundle).appendingPathComponent("Resources")
      if !path.isEmpty { url.appendPathComponent(path) }
      if FileManager.default.fileExists(atPath: url.path) { return url }
    }
    return nil
  }
}
