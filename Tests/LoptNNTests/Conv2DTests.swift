import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct Conv2DTests {
  /// `(input, window, stride, padding, output count, padding before)`, worked out by hand from
  /// TensorFlow's rule.
  static let paddingCases: [(Int, Int, Int, Padding, Int, Int)] = [
    (3, 2, 2, .same, 2, 0),  // total 1: nothing before, one after
    (4, 3, 1, .same, 4, 1),  // total 2: one each side
    (5, 3, 2, .same, 3, 1),  // total 2
    (4, 3, 2, .same, 2, 0),  // total 1
    (32, 3, 2, .same, 16, 0),  // ResNet's stride-2 layers on CIFAR: total 1
    (6, 4, 1, .same, 6, 1),  // total 3: one before, two after
    (7, 1, 2, .same, 4, 0),
    (5, 3, 2, .valid, 2, 0),
    (5, 2, 2, .valid, 2, 0),
    (4, 4, 1, .valid, 1, 0),
  ]

  @Test(arguments: paddingCases)
  func paddingMatchesTensorFlow(
    input: Int, window: Int, stride: Int, padding: Padding, count: Int, before: Int
  ) {
    let result = padding.outputSize(inputSize: input, window: window, stride: stride)
    #expect(result.count == count && result.paddingBefore == before, "\(result)")
  }

  /// One 3 × 3 image holding 1…9 convolved with the 2 × 2 kernel [[1, 2], [3, 4]].
  @Test(arguments: [
    (1, Padding.valid, [37, 47, 67, 77] as [Float]),
    // SAME with stride 2: output 2 × 2, the one padding row and column at the bottom and right.
    (2, Padding.same, [37, 21, 23, 9]),
  ])
  func forwardMatchesHandComputedValues(stride: Int, padding: Padding, expected: [Float]) throws {
    var harness = try GraphHarness(batchSize: 1) { builder in
      let x = builder.input(shape: [1, 3, 3, 1])
      let y = builder.conv2D(
        x, outputChannels: 1, kernelSize: 2, stride: stride, padding: padding, name: "conv",
        hasBias: false)
      return (y, [x: Tensor(shape: [1, 3, 3, 1], scalars: (1...9).map(Float.init))])
    }
    harness.parameters["conv/w"] = Tensor(shape: [2, 2, 1, 1], scalars: [1, 2, 3, 4])
    #expect(harness.run() == Tensor(shape: [1, 2, 2, 1], scalars: expected))
  }

  @Test(arguments: [1, 2], Padding.allCases)
  func forwardMatchesDirectConvolution(stride: Int, padding: Padding) throws {
    let (batch, height, width, inChannels, outChannels, k) = (2, 5, 4, 2, 3, 3)
    let key = RandomKey(seed: 11)
    var image = Tensor(shape: [batch, height, width, inChannels])
    image.withUnsafeMutableBufferPointer { key.fillNormal($0) }
    var harness = try GraphHarness { builder in
      let x = builder.input(shape: image.shape)
      let y = builder.conv2D(
        x, outputChannels: outChannels, kernelSize: k, stride: stride, padding: padding,
        name: "conv")
      return (y, [x: image])
    }
    harness.parameters["conv/b"] = Tensor([0.1, -0.2, 0.3])
    let output = harness.run()
    let w = harness.parameters["conv/w"]
    let b = harness.parameters["conv/b"]

    // An independent statement of TensorFlow's rule, then the textbook sum.
    func geometry(_ n: Int) -> (count: Int, before: Int) {
      guard padding == .same else { return ((n - k) / stride + 1, 0) }
      let count = (n + stride - 1) / stride
      return (count, max((count - 1) * stride + k - n, 0) / 2)
    }
    let (outHeight, top) = geometry(height)
    let (outWidth, left) = geometry(width)
    #expect(output.shape == [batch, outHeight, outWidth, outChannels])
    var expected: [Float] = []
    for n in 0..<batch {
      for oy in 0..<outHeight {
        for ox in 0..<outWidth {
          for o in 0..<outChannels {
            var sum = b[flat: o]
            for ky in 0..<k {
              for kx in 0..<k {
                let (iy, ix) = (oy * stride + ky - top, ox * stride + kx - left)
                guard (0..<height).contains(iy) && (0..<width).contains(ix) else { continue }
                for c in 0..<inChannels {
                  let pixel = image[flat: ((n * height + iy) * width + ix) * inChannels + c]
                  sum += pixel * w[flat: ((ky * k + kx) * inChannels + c) * outChannels + o]
                }
              }
            }
            expected.append(sum)
          }
        }
      }
    }
    expectClose(output.scalars, expected, relativeTolerance: 1e-5, absoluteTolerance: 1e-5)
  }

  @Test(arguments: [1, 2], Padding.allCases)
  func gradientsMatchFiniteDifferences(stride: Int, padding: Padding) {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 5, 4, 2], requiresGradient: true)
      let y = builder.conv2D(
        x, outputChannels: 3, kernelSize: 3, stride: stride, padding: padding, name: "conv")
      return (y, [:])
    }
    #expect(result.worstRelativeError < 1e-3, "stride \(stride), \(padding): \(result)")
  }

  @Test func gradientsWithoutBiasWithAnEvenKernel() {
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 3, 5, 2], requiresGradient: true)
      let y = builder.conv2D(
        x, outputChannels: 2, kernelSize: 2, stride: 2, name: "conv", hasBias: false)
      return (y, [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }
}
