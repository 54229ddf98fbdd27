import LoptCore
import LoptNN
import Testing

@Suite struct GraphErrorTests {
  /// Builds a graph whose loss is the sum of `output`, returning the error's problems.
  private func problems(
    _ build: (inout GraphBuilder) -> GraphValue
  ) -> [String] {
    var builder = GraphBuilder(batchSize: 2)
    let output = build(&builder)
    let loss = builder.sum(output)
    do {
      _ = try builder.build(loss: loss)
      return []
    } catch let error as GraphError {
      return error.problems
    } catch {
      return ["unexpected error \(error)"]
    }
  }

  @Test func addingMismatchedShapesIsAnErrorNamingBothShapes() {
    let found = problems { builder in
      let a = builder.input(shape: [2, 3])
      let b = builder.input(shape: [2, 4])
      return builder.add(a, b)
    }
    #expect(found.count == 1)
    #expect(found.first?.contains("[2, 3]") == true && found.first?.contains("[2, 4]") == true)
  }

  @Test func aValidConvolutionLargerThanTheImageNamesTheLayer() {
    let found = problems { builder in
      let images = builder.input(shape: [2, 4, 4, 1])
      return builder.conv2D(
        images, outputChannels: 3, kernelSize: 5, padding: .valid, name: "conv0")
    }
    #expect(found.count == 1)
    #expect(found.first?.contains("conv0") == true, "\(found)")
  }

  @Test func labelsThatDoNotMatchTheLogitsAreAnError() throws {
    var builder = GraphBuilder(batchSize: 2)
    let logits = builder.input(shape: [2, 5])
    let labels = builder.input(shape: [3])
    let loss = builder.softmaxCrossEntropy(logits: logits, labels: labels)
    let error = #expect(throws: GraphError.self) { try builder.build(loss: loss) }
    #expect(error?.description.contains("3 labels") == true, "\(String(describing: error))")
  }

  @Test func everyProblemIsReportedAtOnce() {
    let found = problems { builder in
      let a = builder.input(shape: [2, 3])
      let b = builder.input(shape: [2, 4])
      let sum = builder.add(a, b)
      let images = builder.input(shape: [2, 3])
      let pooled = builder.pool(.average, images, window: 2, stride: 2)
      return builder.multiply(sum, pooled)
    }
    // add, pool (not NHWC), and multiply of the two placeholders' mismatched results.
    #expect(found.count >= 2, "\(found)")
  }

  @Test func aDuplicateParameterNameIsAnError() {
    let found = problems { builder in
      let x = builder.input(shape: [2, 3])
      let h = builder.linear(x, outputCount: 3, name: "dense")
      return builder.linear(h, outputCount: 3, name: "dense")
    }
    #expect(found.contains { $0.contains("'dense/w' is already used") }, "\(found)")
  }

  @Test func aGoodGraphBuilds() {
    #expect(
      problems { builder in builder.linear(builder.input(shape: [2, 3]), outputCount: 2, name: "d")
      } == [])
  }
}
