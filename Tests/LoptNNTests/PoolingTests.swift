import LoptCore
import LoptNN
import LoptTestSupport
import Testing

@Suite struct PoolingTests {
  /// A 4 × 4 single-channel image of distinct values.
  ///
  /// ```
  ///  0  5 10 15
  ///  4  9 14  3
  ///  8 13  2  7
  /// 12  1  6 11
  /// ```
  static let image = Tensor(shape: [1, 4, 4, 1], scalars: (0..<16).map { Float(($0 * 5) % 16) })

  /// Cases `(kind, window, stride, padding, expected)` on ``image``.
  ///
  /// With SAME, border windows cover fewer pixels and the average is over those only.
  static let cases: [(PoolingKind, Int, Int, Padding, [Float])] = [
    // ResNet's stem pool: 3 × 3, stride 2, SAME; windows rows/columns 0–2 and 2–3.
    (.max, 3, 2, .same, [14, 15, 13, 11]),
    (.average, 3, 2, .same, [65.0 / 9, 51.0 / 6, 42.0 / 6, 26.0 / 4]),
    (.max, 2, 2, .valid, [9, 15, 13, 11]),
    (.average, 2, 2, .valid, [4.5, 10.5, 8.5, 6.5]),
    (.max, 3, 1, .valid, [14, 15, 14, 14]),
  ]

  @Test(arguments: cases)
  func forwardMatchesHandComputedValues(
    kind: PoolingKind, window: Int, stride: Int, padding: Padding, expected: [Float]
  ) throws {
    let harness = try GraphHarness(batchSize: 1) { builder in
      let x = builder.input(shape: [1, 4, 4, 1])
      let y = builder.pool(kind, x, window: window, stride: stride, padding: padding)
      return (y, [x: Self.image])
    }
    let output = harness.run()
    #expect(output.shape == [1, 2, 2, 1])
    expectClose(output.scalars, expected)
  }

  @Test(arguments: PoolingKind.allCases, Padding.allCases)
  func gradientsMatchFiniteDifferences(kind: PoolingKind, padding: Padding) {
    // Element (b, y, x, c) is 0.3 · ((3y + x + 4c + b) mod 9) − 1.2: the nine pixels of any
    // 3 × 3 window differ by at least 0.3, so no window has a tie within the checker's ±0.1
    // stencil, and the values stay small so the loss keeps its precision.
    var pixels: [Float] = []
    for b in 0..<2 {
      for y in 0..<5 {
        for x in 0..<5 {
          for c in 0..<2 { pixels.append(0.3 * Float((3 * y + x + 4 * c + b) % 9) - 1.2) }
        }
      }
    }
    let values = Tensor(shape: [2, 5, 5, 2], scalars: pixels)
    for (window, stride) in [(2, 1), (3, 2)] {
      let result = checkGradients { builder in
        let x = builder.input(shape: [2, 5, 5, 2], requiresGradient: true)
        let y = builder.pool(kind, x, window: window, stride: stride, padding: padding)
        return (y, [x: values])
      }
      #expect(
        result.worstRelativeError < 1e-3, "\(kind) \(window)/\(stride) \(padding): \(result)")
    }
  }

  @Test func globalMeanPoolAveragesOverHeightAndWidth() throws {
    let harness = try GraphHarness { builder in
      let x = builder.input(shape: [2, 2, 2, 3])
      return (
        builder.globalMeanPool(x),
        [x: Tensor(shape: [2, 2, 2, 3], scalars: (0..<24).map(Float.init))]
      )
    }
    // Channel c of image b averages b·12 + c + {0, 3, 6, 9}.
    #expect(harness.run() == Tensor(shape: [2, 3], scalars: [4.5, 5.5, 6.5, 16.5, 17.5, 18.5]))
    let result = checkGradients { builder in
      let x = builder.input(shape: [2, 3, 2, 3], requiresGradient: true)
      return (builder.globalMeanPool(x), [:])
    }
    #expect(result.worstRelativeError < 1e-3, "\(result)")
  }
}
