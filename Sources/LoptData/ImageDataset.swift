import LoptCore

/// Labelled images held in memory: `images` is `[N, height, width, channels]` in [0, 1].
///
/// Stored pixel values are multiplied by ``pixelScale`` when loading (1/255 for 8-bit
/// images, 1/16 for the 0…16 digits), so every data set arrives in [0, 1]. Flattening for an
/// MLP is the model's business.
public struct ImageDataset: Sendable {
  /// The images, `[N, height, width, channels]`, row-major (HWC per image).
  public var images: Tensor
  /// The class of each image, in `0..<classCount`.
  public var labels: [Int32]
  /// The number of classes.
  public var classCount: Int
  /// The factor that mapped the stored pixel values to [0, 1].
  public var pixelScale: Float

  /// Creates a data set; `images` must be rank 4 with one label per image in range.
  public init(images: Tensor, labels: [Int32], classCount: Int, pixelScale: Float) {
    precondition(images.rank == 4, "images must be [N, H, W, C], got \(images.shape)")
    precondition(
      images.shape[0] == labels.count,
      "\(images.shape[0]) images but \(labels.count) labels")
    precondition(
      labels.allSatisfy { $0 >= 0 && $0 < classCount }, "labels must be in 0..<\(classCount)")
    self.images = images
    self.labels = labels
    self.classCount = classCount
    self.pixelScale = pixelScale
  }

  /// The number of images.
  public var count: Int { labels.count }

  /// The shape of one image, `[height, width, channels]`.
  public var imageShape: [Int] { Array(images.shape.dropFirst()) }

  /// Loads a split of a named data set from the first place `locator` finds its files.
  ///
  /// `train` and `valid` read the official training files and keep the rows given by
  /// ``DatasetSplit/rows(officialCount:)``; `test` reads the official test files.
  ///
  /// - Throws: ``DatasetError`` for a missing, truncated or corrupt file, images whose shape
  ///   is not the data set's, a label count that differs from the image count, or a label
  ///   out of range.
  public static func load(
    _ name: ImageDatasetName, split: DatasetSplit, locator: DataLocator = DataLocator()
  ) throws -> ImageDataset {
    switch name.files(isTrain: split != .test) {
    case .idx(let imagesFile, let labelsFile):
      let images = try IDXArray(contentsOf: locator.url(for: imagesFile))
      let labels = try IDXArray(contentsOf: locator.url(for: labelsFile))
      return try ImageDataset(name, split: split, images: images, labels: labels)
    case .cifar(let batches):
      return try CIFAR10.read(batches.map(locator.url(for:))) { split.rows(officialCount: $0) }
    }
  }

  /// Checks an IDX image file and its label file against `name` and keeps `split`'s rows.
  private init(
    _ name: ImageDatasetName, split: DatasetSplit, images: IDXArray, labels: IDXArray
  ) throws {
    let shape = name.imageShape  // [height, width, 1] for every IDX data set
    let side = Array(shape.prefix(2))
    guard images.elementType == .uint8, images.rank == 3, Array(images.shape.dropFirst()) == side
    else {
      throw DatasetError.shapeMismatch(
        path: images.path, expected: "uint8 [N, \(shape[0]), \(shape[1])]",
        found: "\(images.elementType) \(images.shape)")
    }
    let count = images.shape[0]
    guard labels.elementType == .uint8, labels.shape == [count] else {
      throw DatasetError.shapeMismatch(
        path: labels.path, expected: "uint8 [\(count)] (one label per image of \(images.path))",
        found: "\(labels.elementType) \(labels.shape)")
    }
    let rows = split.rows(officialCount: count)
    let values = try rows.map { row in
      let label = Int(labels[flat: row])
      guard label < name.classCount else {
        throw DatasetError.labelOutOfRange(
          path: labels.path, index: row, label: label, classCount: name.classCount)
      }
      return Int32(label)
    }
    self.init(
      images: images.makeTensor(rows: rows, scale: name.pixelScale)
        .reshaped(to: [rows.count] + shape),
      labels: values, classCount: name.classCount, pixelScale: name.pixelScale)
  }

  /// Returns the data set with every image resized to `height × width`.
  ///
  /// Each axis is resampled separately. Shrinking averages the input area each output pixel
  /// covers (exact block means for integer factors; fractional pixels weighted by overlap).
  /// Enlarging is bilinear with half-pixel centres (align-corners false), as
  /// `jax.image.resize(…, "bilinear")` and TensorFlow's `half_pixel_centers`: output pixel
  /// `o` samples the input at `(o + 0.5) · in / out − 0.5`, clamped to the edge pixels.
  public func resized(height: Int, width: Int) -> ImageDataset {
    precondition(height > 0 && width > 0, "cannot resize images to \(height)×\(width)")
    let (n, h, w, c) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
    let rows = Resampling(from: h, to: height)
      .apply(to: images, outer: n, inner: w * c, resultShape: [n, height, w, c])
    let resized = Resampling(from: w, to: width)
      .apply(to: rows, outer: n * height, inner: c, resultShape: [n, height, width, c])
    return ImageDataset(
      images: resized, labels: labels, classCount: classCount, pixelScale: pixelScale)
  }
}
