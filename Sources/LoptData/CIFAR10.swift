import Foundation
import LoptCore

/// The CIFAR-10 binary format (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`).
///
/// Each file is a sequence of 3,073-byte records: one label byte (0–9), then a 32×32 colour
/// image as 1,024 red, 1,024 green and 1,024 blue bytes (channel-major, CHW). Readers return
/// images in HWC order, scaled by 1/255 to [0, 1].
public enum CIFAR10 {
  /// The image side in pixels.
  public static let side = 32
  /// The number of colour channels.
  public static let channels = 3
  /// The number of classes.
  public static let classCount = 10
  /// The size of one record in bytes: a label and 32 × 32 × 3 pixels.
  public static let recordByteCount = 1 + side * side * channels
  /// The factor that maps stored bytes to [0, 1].
  public static let pixelScale: Float = 1 / 255

  /// Reads one CIFAR-10 batch file into a data set of `[N, 32, 32, 3]` images in [0, 1].
  ///
  /// - Throws: ``DatasetError``: `.fileNotFound`, `.unreadable`, `.truncated` (the size is
  ///   not a multiple of 3,073 bytes) or `.labelOutOfRange`.
  public static func read(contentsOf url: URL) throws -> ImageDataset {
    try read([url]) { 0..<$0 }
  }

  /// Reads the batch files `urls` as one sequence of records and keeps the records
  /// `rows(total)`, where `total` is the number of records in all files.
  static func read(_ urls: [URL], rows: (Int) -> Range<Int>) throws -> ImageDataset {
    let files = try urls.map { url in
      let bytes = try DataFile.read(url)
      let remainder = bytes.count % recordByteCount
      guard remainder == 0, !bytes.isEmpty else {
        throw DatasetError.truncated(
          path: url.path, expectedBytes: bytes.count - remainder + recordByteCount,
          foundBytes: bytes.count)
      }
      return (path: url.path, bytes: bytes)
    }
    let selected = rows(files.reduce(0) { $0 + $1.bytes.count / recordByteCount })
    let plane = side * side
    var images = Tensor(shape: [selected.count, side, side, channels])
    var labels = [Int32](repeating: 0, count: selected.count)
    var row = 0
    try images.withUnsafeMutableBufferPointer { out in
      for file in files {
        for record in 0..<(file.bytes.count / recordByteCount) {
          defer { row += 1 }
          guard selected.contains(row) else { continue }
          let index = row - selected.lowerBound
          let start = record * recordByteCount
          let label = Int(file.bytes[start])
          guard label < classCount else {
            throw DatasetError.labelOutOfRange(
              path: file.path, index: record, label: label, classCount: classCount)
          }
          labels[index] = Int32(label)
          let image = out.baseAddress! + index * plane * channels
          file.bytes.withUnsafeBufferPointer { source in
            for pixel in 0..<plane {
              for channel in 0..<channels {
                image[pixel * channels + channel] =
                  Float(source[start + 1 + channel * plane + pixel]) * pixelScale
              }
            }
          }
        }
      }
    }
    return ImageDataset(
      images: images, labels: labels, classCount: classCount, pixelScale: pixelScale)
  }
}
