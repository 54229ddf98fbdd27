import Foundation

/// The resource folders SwiftPM builds beside the executable (`Lopt_<Target>.resources`).
///
/// They are looked up by hand rather than through `Bundle.module`, which stops the program
/// when its bundle is missing. A build finds them beside the executable; `make install` puts
/// them in `PREFIX/share/lopt`, beside `PREFIX/bin/lopt`.
public enum ShippedResources {
  /// `<bundle>/Resources/<path>` beside the main bundle or the executable, or in
  /// `../share/lopt` from the executable's folder; `nil` if absent.
  ///
  /// - Parameters:
  ///   - bundle: the bundle's folder name, e.g. `Lopt_LoptData.resources`.
  ///   - path: a path inside the bundle's `Resources` folder (empty: the folder itself).
  /// - Returns: the first existing location, or `nil`.
  public static func url(bundle: String, path: String = "") -> URL? {
    let executableFolder = Bundle.main.executableURL?.resolvingSymlinksInPath()
      .deletingLastPathComponent()
    let folders = [
      Bundle.main.bundleURL, executableFolder,
      executableFolder?.deletingLastPathComponent().appendingPathComponent("share/lopt"),
    ]
    for case let folder? in folders {
      var url = folder.appendingPathComponent(bundle).appendingPathComponent("Resources")
      if !path.isEmpty { url.appendPathComponent(path) }
      if FileManager.default.fileExists(atPath: url.path) { return url }
    }
    return nil
  }
}
