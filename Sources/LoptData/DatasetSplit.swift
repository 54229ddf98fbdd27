/// A part of a data set: the training, validation or test examples.
///
/// Data sets ship with an official train/test split. `valid` is carved deterministically from
/// the end of the official training split: its last `n / 10` examples (rounded down), where
/// `n` is the official training count; `train` is everything before them. So MNIST has
/// 54,000 train, 6,000 valid and 10,000 test images, and digits 1,294 / 143 / 360.
public enum DatasetSplit: String, CaseIterable, Sendable {
  /// The official training examples minus the validation tail.
  case train
  /// The last tenth of the official training examples.
  case valid
  /// The official test examples.
  case test

  /// The rows of the official split file (training files for `train` and `valid`, test files
  /// for `test`) that belong to this split, given that file's example count.
  public func rows(officialCount count: Int) -> Range<Int> {
    let trainCount = count - count / 10
    switch self {
    case .train: return 0..<trainCount
    case .valid: return trainCount..<count
    case .test: return 0..<count
    }
  }
}
