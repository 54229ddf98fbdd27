import LoptCore
import LoptNN
import LoptTestSupport
import Testing

/// A deliberately wrong op: doubles its input but reports a backward pass of 2.1.
private struct WrongDoubling: GraphOperation {
  let input: GraphValue
  let output: GraphValue
  func forward(_ context: GraphContext) {
    for i in 0..<input.count { context.pointer(output)[i] = 2 * context.pointer(input)[i] }
  }
  func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output), let dx = context.gradient(input) else { return }
    for i in 0..<input.count { dx[i] += 2.1 * dy[i] }
  }
}

@Suite struct GradientCheckerTests {
  @Test func rejectsAWrongBackwardPass() {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 3], requiresGradient: true)
      let y = builder.makeValue(shape: [2, 3])
      builder.append(WrongDoubling(input: x, output: y))
      return (y, [:])
    }
    #expect(result.checkedCount == 6)
    #expect(result.worstRelativeError > 0.04, "\(result)")
  }
}
