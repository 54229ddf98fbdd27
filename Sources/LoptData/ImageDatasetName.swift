/// The image data sets LoptData can load, by the name used on the command line.
///
/// | name | images | pixel values | where from |
/// |---|---|---|---|
/// | `digits` | 8×8×1, 1,437 train / 360 test | 0…16 | shipped |
/// | `fashion8`, `fashion16` | 8×8×1, 16×16×1 Fashion-MNIST | 0…255 | shipped |
/// | `fashion` | 28×28×1 Fashion-MNIST | 0…255 | data folder, or `/usr/share/datasets` |
/// | `mnist8`, `mnist16` | 8×8×1, 16×16×1 MNIST | 0…255 | shipped |
/// | `mnist` | 28×28×1 MNIST | 0…255 | data folder |
/// | `cifar10` | 32×32×3 CIFAR-10 | 0…255 | data folder |
///
/// The 8×8 and 16×16 versions of MNIST and Fashion-MNIST pad each 28×28 image by 2 zero
/// pixels to 32×32 and average k×k blocks, rounding half up. All have 10 classes.
public enum ImageDatasetName: String, CaseIterable, Sendable {
  /// scikit-learn's 8×8 handwritten digits (UCI optdigits), values 0…16.
  case digits
  /// Fashion-MNIST downsampled to 8×8.
  case fashion8
  /// Fashion-MNIST downsampled to 16×16.
  case fashion16
  /// Fashion-MNIST at its original 28×28.
  case fashion
  /// MNIST downsampled to 8×8.
  case mnist8
  /// MNIST downsampled to 16×16.
  case mnist16
  /// MNIST at its original 28×28.
  case mnist
  /// CIFAR-10, 32×32 colour images.
  case cifar10

  /// The shape of one image, `[height, width, channels]`.
  public var imageShape: [Int] {
    switch self {
    case .digits, .fashion8, .mnist8: return [8, 8, 1]
    case .fashion16, .mnist16: return [16, 16, 1]
    case .fashion, .mnist: return [28, 28, 1]
    case .cifar10: return [CIFAR10.side, CIFAR10.side, CIFAR10.channels]
    }
  }

  /// The factor that maps stored pixel values to [0, 1]: 1/16 for digits, 1/255 otherwise.
  public var pixelScale: Float { self == .digits ? 1 / 16 : 1 / 255 }

  /// The number of classes (10 for every data set here).
  public var classCount: Int { 10 }

  /// Every file the data set is read from, as paths relative to a data folder.
  public var relativePaths: [String] {
    [true, false].flatMap { isTrain -> [String] in
      switch files(isTrain: isTrain) {
      case .idx(let images, let labels): [images, labels]
      case .cifar(let batches): batches
      }
    }
  }

  /// The files of one official split, as paths relative to a data folder.
  enum Files {
    /// An IDX image file and its IDX label file.
    case idx(images: String, labels: String)
    /// CIFAR-10 batch files, read as one sequence in this order.
    case cifar(batches: [String])
  }

  /// The files holding the official training (`isTrain`) or test split.
  func files(isTrain: Bool) -> Files {
    let side = imageShape[0]
    switch self {
    case .digits:
      let split = isTrain ? "train" : "test"
      return .idx(
        images: "digits/\(split)-images-8x8-idx3-ubyte.gz",
        labels: "digits/\(split)-labels-idx1-ubyte.gz")
    case .fashion8, .fashion16, .fashion, .mnist8, .mnist16, .mnist:
      let folder = [.fashion8, .fashion16, .fashion].contains(self) ? "fashion-mnist" : "mnist"
      let split = isTrain ? "train" : "t10k"
      let size = side == 28 ? "" : "-\(side)x\(side)"
      return .idx(
        images: "\(folder)/\(split)-images\(size)-idx3-ubyte.gz",
        labels: "\(folder)/\(split)-labels-idx1-ubyte.gz")
    case .cifar10:
      let names = isTrain ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
      return .cifar(batches: names.map { "cifar-10-batches-bin/\($0)" })
    }
  }
}
