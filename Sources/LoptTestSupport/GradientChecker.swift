import LoptCore
import LoptNN

/// The outcome of a finite-difference check: the worst element over parameters and inputs.
public struct GradientCheckResult: CustomStringConvertible, Sendable {
  /// The largest relative error found (see ``checkGradients(batchSize:seed:stepSize:parameterNoise:_:)``).
  public var worstRelativeError: Double = 0
  /// Where it was: a parameter name or `input k`, and the flat element index.
  public var worstLocation = "nothing checked"
  /// The analytic (backward-pass) derivative there.
  public var analytic: Double = 0
  /// The central-difference derivative there.
  public var numeric: Double = 0
  /// How many derivatives were compared.
  public var checkedCount = 0

  /// A one-line summary for test failure messages.
  public var description: String {
    "worst relative error \(worstRelativeError) at \(worstLocation): analytic \(analytic), "
      + "numeric \(numeric) (\(checkedCount) derivatives checked)"
  }
}

/// Reduces any value to a scalar as `Σᵢ rᵢ · yᵢ` with fixed random weights `r` (accumulated in
/// `Double`), so one scalar check covers every output element of the op under test.
struct ProjectionLossOperation: GraphOperation {
  let input: GraphValue
  let weights: GraphValue
  let output: GraphValue

  func forward(_ context: GraphContext) {
    let x = context.pointer(input)
    let r = context.pointer(weights)
    var sum = 0.0
    for i in 0..<input.count { sum += Double(r[i]) * Double(x[i]) }
    context.pointer(output)[0] = Float(sum)
  }

  func backward(_ context: GraphContext) {
    guard let dx = context.gradient(input), let g = context.gradient(output)?[0] else { return }
    let r = context.pointer(weights)
    for i in 0..<input.count { dx[i] += g * r[i] }
  }
}

/// Checks a graph's backward pass against central finite differences, for every parameter
/// element and every element of each input built with `requiresGradient: true`.
///
/// `build` appends the ops under test and returns their output plus the inputs it wants set
/// to fixed values (labels, masks); other inputs get standard normal values. A non-scalar
/// output is reduced by a fixed random projection. Parameters start from their initializers
/// plus `parameterNoise` · N(0, 1), so zero-initialised biases and unit gains are exercised.
/// Derivatives use the fourth-order stencil
/// `(8(f(x+h) − f(x−h)) − (f(x+2h) − f(x−2h))) / 12h`, and each element's relative error is
/// `|a − n| / max(|a|, |n|, 0.01 · max|n|)` — the floor keeps elements that are tiny next to
/// the rest from failing on round-off alone.
public func checkGradients(
  batchSize: Int = 2, seed: UInt64 = 0, stepSize: Float = 5e-2, parameterNoise: Float = 0.1,
  _ build: (inout GraphBuilder) -> (output: GraphValue, inputs: [GraphValue: Tensor])
) -> GradientCheckResult {
  var builder = GraphBuilder(batchSize: batchSize)
  let (output, fixedInputs) = build(&builder)
  let key = RandomKey(seed: seed)
  var loss = output
  if output.count != 1 || !output.hasGradient {
    let weights = builder.input(shape: output.shape)
    loss = builder.makeValue(shape: [1])
    builder.append(ProjectionLossOperation(input: output, weights: weights, output: loss))
  }
  let graph: Graph
  do {
    graph = try builder.build(loss: loss)
  } catch {
    return GradientCheckResult(
      worstRelativeError: .infinity, worstLocation: "the graph did not build: \(error)")
  }
  for (index, input) in graph.inputs.enumerated() {
    var values = Tensor(shape: input.shape)
    if let fixed = fixedInputs[input] {
      values = fixed.reshaped(to: input.shape)
    } else {
      let inputKey = key.folding(in: 1000 + UInt64(index))
      values.withUnsafeMutableBufferPointer { inputKey.fillNormal($0) }
    }
    graph.setValue(input, to: values)
  }
  var parameters = graph.initialParameters(key: key)
  parameters.withUnsafeMutableBufferPointer { p in
    for i in 0..<p.count { p[i] += parameterNoise * key.folding(in: 7).normal(at: i) }
  }
  let stepKey = key.folding(in: 99)
  let savedState = graph.modelState
  var gradients = parameters.zerosLike()
  _ = graph.lossAndGradient(parameters, into: &gradients, key: stepKey)

  func lossAt() -> Double {
    graph.modelState = savedState
    return Double(graph.forward(parameters, isTraining: true, key: stepKey))
  }
  func stencil(_ perturb: (Float) -> Void) -> Double {
    let h = Double(stepSize)
    perturb(stepSize)
    let plus1 = lossAt()
    perturb(stepSize)
    let plus2 = lossAt()
    perturb(-3 * stepSize)
    let minus1 = lossAt()
    perturb(-stepSize)
    let minus2 = lossAt()
    perturb(2 * stepSize)
    return (8 * (plus1 - minus1) - (plus2 - minus2)) / (12 * h)
  }

  var pairs: [(location: String, analytic: Double, numeric: Double)] = []
  for entry in parameters.layout.entries {
    for i in entry.range {
      let numeric = stencil { delta in
        parameters.withUnsafeMutableBufferPointer { $0[i] += delta }
      }
      let analytic = gradients.withUnsafeBufferPointer { Double($0[i]) }
      pairs.append(("\(entry.name)[\(i - entry.offset)]", analytic, numeric))
    }
  }
  for (index, input) in graph.inputs.enumerated() where input.hasGradient {
    let analyticGradient = graph.gradient(of: input)!
    var values = graph.value(input)
    for i in 0..<input.count {
      let numeric = stencil { delta in
        values[flat: i] += delta
        graph.setValue(input, to: values)
      }
      pairs.append(("input \(index)[\(i)]", Double(analyticGradient[flat: i]), numeric))
    }
  }

  var result = GradientCheckResult()
  let scale = pairs.map { abs($0.numeric) }.max() ?? 0
  for pair in pairs {
    let denominator = max(abs(pair.analytic), abs(pair.numeric), 0.01 * scale, 1e-12)
    let error = abs(pair.analytic - pair.numeric) / denominator
    result.checkedCount += 1
    if error >= result.worstRelativeError {
      result.worstRelativeError = error
      result.worstLocation = pair.location
      result.analytic = pair.analytic
      result.numeric = pair.numeric
    }
  }
  return result
}
