import Foundation
import LoptCore
import LoptData

/// Predicts the seconds of one training step (loss, gradient and an Adam update) from a
/// spec's analytic ``TaskCost``, with coefficients fitted to measured steps on one machine.
///
/// ```
/// t = factor[family] · (overhead + perFlop · flops + perByte · bytes
///                       + perOperation · operations + perTranscendental · transcendentals)
/// ```
/// The per-family factor (1 when absent) absorbs what the counts miss for a family, such as
/// the per-element loops of attention and recurrent cells.
/// VeLO filters samples with a learned TPU timing model (docs/meta-training-method.md §6.3); this
/// is its CPU stand-in. `lopt tasks calibrate` fits and writes one; ``default`` shipped with Lopt
/// was fitted on the development machine (2 cores, single-threaded OpenBLAS, release build).
public struct CostModel: Codable, Hashable, Sendable {
  /// Fixed seconds per step (data loading, loop overhead).
  public var overhead: Double
  /// Seconds per FLOP of matrix products.
  public var perFlop: Double
  /// Seconds per byte of activations and parameters moved.
  public var perByte: Double
  /// Seconds per kernel call.
  public var perOperation: Double
  /// Seconds per transcendental function evaluation.
  public var perTranscendental: Double
  /// Multipliers by family name (``TaskFamily`` raw value).
  public var familyFactors: [String: Double]

  /// Creates a model from its coefficients.
  public init(
    overhead: Double, perFlop: Double, perByte: Double, perOperation: Double,
    perTranscendental: Double, familyFactors: [String: Double] = [:]
  ) {
    self.familyFactors = familyFactors
    self.overhead = overhead
    self.perFlop = perFlop
    self.perByte = perByte
    self.perOperation = perOperation
    self.perTranscendental = perTranscendental
  }

  /// The calibration shipped with Lopt.
  public static let `default` = CostModel(
    overhead: 4.2e-7, perFlop: 8.44e-12, perByte: 9.5e-11, perOperation: 1.79e-7,
    perTranscendental: 1.095e-8,
    familyFactors: [
      "image-conv": 0.99, "image-mlp": 0.91, "lstm-lm": 1.35, "mlp-ae": 0.96, "mlp-vae": 1.24,
      "resnet": 1.25, "transformer-lm": 1.35, "vit": 2.1,
    ])

  /// The predicted seconds per step.
  public func seconds(for cost: TaskCost) -> Double {
    let factor = cost.family.flatMap { familyFactors[$0.rawValue] } ?? 1
    return factor
      * (overhead + perFlop * cost.flops + perByte * cost.bytes + perOperation * cost.operations
        + perTranscendental * cost.transcendentals)
  }

  /// Reads a calibration written by `json()`.
  ///
  /// - Throws: ``TaskSpecError`` for malformed JSON or unknown keys.
  public init(json: Data) throws {
    self = try StrictJSON.decode(CostModel.self, from: json)
  }

  /// The calibration as pretty-printed JSON.
  public func json() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    return try encoder.encode(self)
  }

  /// Fits non-negative coefficients minimising the squared *relative* error over the samples,
  /// then each family's factor as the geometric mean of its measured-to-predicted ratios.
  ///
  /// Weighted least squares by the normal equations; a coefficient that comes out negative is
  /// fixed at zero and the rest refitted (a small active-set loop).
  public static func fit(costs: [TaskCost], seconds: [Double]) -> CostModel {
    var model = fitCoefficients(costs: costs, seconds: seconds)
    var logRatios: [String: [Double]] = [:]
    for (cost, t) in zip(costs, seconds) {
      guard let family = cost.family else { continue }
      logRatios[family.rawValue, default: []].append(log(t / model.seconds(for: cost)))
    }
    model.familyFactors = logRatios.mapValues { exp($0.reduce(0, +) / Double($0.count)) }
    return model
  }

  /// The shared coefficients (see ``fit(costs:seconds:)``).
  private static func fitCoefficients(costs: [TaskCost], seconds: [Double]) -> CostModel {
    precondition(costs.count == seconds.count && !costs.isEmpty, "one time per cost is needed")
    let features = costs.map { [1, $0.flops, $0.bytes, $0.operations, $0.transcendentals] }
    let n = features[0].count
    // Scale the columns so the normal equations are well conditioned.
    let scales = (0..<n).map { j in max(features.map { $0[j] }.max() ?? 1, 1e-30) }
    var active = [Bool](repeating: true, count: n)
    var solution = [Double](repeating: 0, count: n)
    for _ in 0..<n {
      let columns = (0..<n).filter { active[$0] }
      var a = [[Double]](
        repeating: [Double](repeating: 0, count: columns.count + 1), count: columns.count)
      for (x, t) in zip(features, seconds) {
        let row = columns.map { x[$0] / scales[$0] / t }
        for i in row.indices {
          for j in row.indices { a[i][j] += row[i] * row[j] }
          a[i][columns.count] += row[i]  // right-hand side: (t / t) · row
        }
      }
      let solved = solve(a)
      solution = [Double](repeating: 0, count: n)
      for (k, j) in columns.enumerated() { solution[j] = solved[k] / scales[j] }
      guard let negative = columns.first(where: { solution[$0] < 0 }) else { break }
      active[negative] = false
    }
    let c = solution.map { max($0, 0) }
    return CostModel(
      overhead: c[0], perFlop: c[1], perByte: c[2], perOperation: c[3], perTranscendental: c[4])
  }

  /// Gaussian elimination with partial pivoting on an augmented matrix.
  private static func solve(_ matrix: [[Double]]) -> [Double] {
    var a = matrix
    let n = a.count
    for column in 0..<n {
      let pivot = (column..<n).max { abs(a[$0][column]) < abs(a[$1][column]) }!
      a.swapAt(column, pivot)
      guard abs(a[column][column]) > 1e-300 else { continue }
      for row in (column + 1)..<n {
        let factor = a[row][column] / a[column][column]
        for k in column...n { a[row][k] -= factor * a[column][k] }
      }
    }
    var x = [Double](repeating: 0, count: n)
    for row in stride(from: n - 1, through: 0, by: -1) {
      var sum = a[row][n]
      for k in (row + 1)..<n { sum -= a[row][k] * x[k] }
      x[row] = abs(a[row][row]) > 1e-300 ? sum / a[row][row] : 0
    }
    return x
  }
}
