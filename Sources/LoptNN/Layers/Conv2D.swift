import LoptCore

/// How a sliding window (convolution or pooling) treats the borders, exactly as in TensorFlow
/// and JAX.
public enum Padding: String, Sendable, Hashable, Codable, CaseIterable {
  /// Pads so that the output has `ceil(n / stride)` positions; the total padding
  /// `max((out − 1)·stride + window − n, 0)` is split with the smaller half before the data.
  case same
  /// No padding: `floor((n − window) / stride) + 1` positions, every window fully inside.
  case valid

  /// The number of output positions along one axis and the padding before the first element.
  ///
  /// - Precondition: for `.valid`, `window ≤ inputSize`.
  public func outputSize(
    inputSize: Int, window: Int, stride: Int
  ) -> (count: Int, paddingBefore: Int) {
    precondition(window > 0 && stride > 0, "window \(window) and stride \(stride) must be positive")
    switch self {
    case .same:
      let count = (inputSize + stride - 1) / stride
      let total = max((count - 1) * stride + window - inputSize, 0)
      return (count, total / 2)
    case .valid:
      precondition(window <= inputSize, "a window of \(window) does not fit \(inputSize) elements")
      return ((inputSize - window) / stride + 1, 0)
    }
  }
}

/// Where a square window visits an NHWC image: the sizes, the stride and the top/left padding.
struct WindowGeometry: Hashable, Sendable {
  let batchSize: Int
  let height: Int
  let width: Int
  let channels: Int
  let window: Int
  let stride: Int
  let outputHeight: Int
  let outputWidth: Int
  let top: Int
  let left: Int

  init(inputShape: [Int], window: Int, stride: Int, padding: Padding) {
    precondition(inputShape.count == 4, "expected an NHWC value [B, H, W, C], got \(inputShape)")
    (batchSize, height, width) = (inputShape[0], inputShape[1], inputShape[2])
    channels = inputShape[3]
    self.window = window
    self.stride = stride
    (outputHeight, top) = padding.outputSize(inputSize: height, window: window, stride: stride)
    (outputWidth, left) = padding.outputSize(inputSize: width, window: window, stride: stride)
  }

  /// The number of window positions over the whole batch, `B·Ho·Wo`.
  var positions: Int { batchSize * outputHeight * outputWidth }

  /// The length of one flattened window, `k·k·C`.
  var patchSize: Int { window * window * channels }

  /// The output shape `[B, Ho, Wo, channels]`.
  func outputShape(channels: Int) -> [Int] { [batchSize, outputHeight, outputWidth, channels] }

  /// The input rows the window at output row `y` covers, clipped to the image.
  func rows(at y: Int) -> Range<Int> {
    let start = y * stride - top
    return max(start, 0)..<min(start + window, height)
  }

  /// The input columns the window at output column `x` covers, clipped to the image.
  func columns(at x: Int) -> Range<Int> {
    let start = x * stride - left
    return max(start, 0)..<min(start + window, width)
  }

  /// im2col and its adjoint.
  ///
  /// With `toImage == false`, copies each window of `image` `[B, H, W, C]` into one row of
  /// `patches` `[B·Ho·Wo, k·k·C]` (row `(b·Ho + oy)·Wo + ox`, column `(ky·k + kx)·C + c`,
  /// zeros over the padding); with `toImage == true`, adds each row of `patches` back into the
  /// pixels it came from (col2im).
  ///
  /// - Complexity: O(B·Ho·Wo·k·k·C); allocates nothing.
  func transferPatches(
    image: UnsafeMutablePointer<Float>, patches: UnsafeMutablePointer<Float>, toImage: Bool
  ) {
    let patchSize = self.patchSize
    for b in 0..<batchSize {
      for oy in 0..<outputHeight {
        for ox in 0..<outputWidth {
          let row = patches + ((b * outputHeight + oy) * outputWidth + ox) * patchSize
          if !toImage { row.update(repeating: 0, count: patchSize) }
          // Inside the image, one window row is contiguous in both layouts.
          let xs = columns(at: ox)
          let kxStart = xs.lowerBound - (ox * stride - left)
          let length = xs.count * channels
          for iy in rows(at: oy) {
            let ky = iy - (oy * stride - top)
            let pixels = image + ((b * height + iy) * width + xs.lowerBound) * channels
            let segment = row + (ky * window + kxStart) * channels
            if toImage {
              accumulate(segment, into: pixels, count: length)
            } else {
              segment.update(from: pixels, count: length)
            }
          }
        }
      }
    }
  }
}

/// A 2-D convolution over NHWC images: `y = im2col(x) · W + b`.
///
/// The kernel `W` is `[k, k, Cin, Cout]` (the JAX/Haiku layout), which flattened is the
/// `[k·k·Cin, Cout]` matrix that multiplies the im2col rows, so one GEMM does the work.
public struct Conv2DOperation: GraphOperation {
  /// The input `[B, H, W, Cin]`.
  public let input: GraphValue
  /// The kernel `[k, k, Cin, Cout]`.
  public let weight: GraphParameter
  /// The bias `[Cout]`, or `nil` for a layer without one.
  public let bias: GraphParameter?
  /// Scratch `[B·Ho·Wo, k·k·Cin]`: the im2col matrix after the forward pass, overwritten by its
  /// gradient during the backward pass.
  public let columns: GraphValue
  /// The output `[B, Ho, Wo, Cout]`.
  public let output: GraphValue
  let geometry: WindowGeometry

  private var outputChannels: Int { weight.shape[3] }

  /// Forward: im2col, one GEMM and a bias broadcast.
  public func forward(_ context: GraphContext) {
    let cols = context.pointer(columns)
    let y = context.pointer(output)
    geometry.transferPatches(image: context.pointer(input), patches: cols, toImage: false)
    BLAS.gemm(
      m: geometry.positions, n: outputChannels, k: geometry.patchSize,
      a: cols, b: context.pointer(weight), c: y)
    if let bias {
      accumulateBroadcast(
        context.pointer(bias), rows: geometry.positions, width: outputChannels, into: y)
    }
  }

  /// Backward: `db += Σ dy`, `dW += colsᵀ·dy`, then `dcols = dy·Wᵀ` (into the scratch) and
  /// `dx += col2im(dcols)`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    let cols = context.pointer(columns)
    if let bias, let db = context.gradient(bias) {
      accumulateRowSum(dy, rows: geometry.positions, width: outputChannels, into: db)
    }
    if let dw = context.gradient(weight) {
      BLAS.gemm(
        transposeA: true, m: geometry.patchSize, n: outputChannels, k: geometry.positions,
        a: cols, b: dy, beta: 1, c: dw)
    }
    if let dx = context.gradient(input) {
      BLAS.gemm(
        transposeB: true, m: geometry.positions, n: geometry.patchSize, k: outputChannels,
        a: dy, b: context.pointer(weight), c: cols)
      geometry.transferPatches(image: dx, patches: cols, toImage: true)
    }
  }
}

extension GraphBuilder {
  /// Appends a 2-D convolution with parameters `name/w` (`[k, k, Cin, Cout]`) and `name/b`
  /// (`[Cout]`) over an NHWC input `[B, H, W, Cin]`.
  ///
  /// - Parameters:
  ///   - input: the images `[B, H, W, Cin]`.
  ///   - outputChannels: `Cout`.
  ///   - kernelSize: the side `k` of the square kernel.
  ///   - stride: the step between windows in both axes.
  ///   - padding: `.same` (output `ceil(H / stride)`) or `.valid`, as in TensorFlow and JAX.
  ///   - name: the prefix of the parameter names.
  ///   - weightInitializer: defaults to LeCun normal (fan-in `k·k·Cin`).
  ///   - hasBias: whether to add a bias (initialised to zero).
  /// - Returns: the output `[B, Ho, Wo, Cout]`.
  public mutating func conv2D(
    _ input: GraphValue, outputChannels: Int, kernelSize: Int, stride: Int = 1,
    padding: Padding = .same, name: String, weightInitializer: Initializer = .lecunNormal,
    hasBias: Bool = true
  ) -> GraphValue {
    guard checkWindow(input, window: kernelSize, stride: stride, padding: padding, layer: name)
    else { return makeValue(shape: [1]) }
    let geometry = WindowGeometry(
      inputShape: input.shape, window: kernelSize, stride: stride, padding: padding)
    let weight = parameter(
      "\(name)/w", shape: [kernelSize, kernelSize, geometry.channels, outputChannels],
      initializer: weightInitializer)
    let bias = hasBias ? parameter("\(name)/b", shape: [outputChannels], initializer: .zeros) : nil
    let columns = makeValue(shape: [geometry.positions, geometry.patchSize], hasGradient: false)
    let output = makeValue(shape: geometry.outputShape(channels: outputChannels))
    append(
      Conv2DOperation(
        input: input, weight: weight, bias: bias, columns: columns, output: output,
        geometry: geometry))
    return output
  }
}

extension GraphBuilder {
  /// Checks that a square window of `window` with `stride` can visit the NHWC `input` under
  /// `padding`, recording a problem that names `layer` if not.
  mutating func checkWindow(
    _ input: GraphValue, window: Int, stride: Int, padding: Padding, layer: String
  ) -> Bool {
    let shape = input.shape
    guard check(shape.count == 4, "\(layer): expected an NHWC value [B, H, W, C], got \(shape)"),
      check(
        window > 0 && stride > 0, "\(layer): window \(window) and stride \(stride) must be positive"
      )
    else { return false }
    return check(
      padding == .same || (window <= shape[1] && window <= shape[2]),
      "\(layer): a VALID window of \(window) does not fit images of shape \(shape)")
  }
}
