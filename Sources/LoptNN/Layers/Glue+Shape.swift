/// Copies (or, with `accumulating`, adds) `rows` blocks of `width` floats between two layouts
/// whose rows are `sourceStride` and `destinationStride` floats apart.
func transferBlocks(
  _ source: UnsafePointer<Float>, sourceStride: Int,
  _ destination: UnsafeMutablePointer<Float>, destinationStride: Int,
  rows: Int, width: Int, accumulating: Bool
) {
  for r in 0..<rows {
    let from = source + r * sourceStride
    let to = destination + r * destinationStride
    if accumulating {
      accumulate(from, into: to, count: width)
    } else {
      to.update(from: from, count: width)
    }
  }
}

/// Joins values along one axis; every other axis must agree.
///
/// Each input is viewed as `[outer, nᵢ · inner]` and the output as `[outer, Σ nᵢ · inner]`,
/// where `outer` is the product of the axes before the joined one, so any axis costs one block
/// copy per outer index.
public struct ConcatenateOperation: GraphOperation {
  /// The pieces, in output order.
  public let inputs: [GraphValue]
  /// The joined value.
  public let output: GraphValue
  /// The product of the axes before the joined one.
  public let outerCount: Int

  /// Forward: copies each input's blocks into its columns of the output.
  public func forward(_ context: GraphContext) {
    let y = context.pointer(output)
    let stride = output.count / outerCount
    var start = 0
    for input in inputs {
      let width = input.count / outerCount
      transferBlocks(
        context.pointer(input), sourceStride: width, y + start, destinationStride: stride,
        rows: outerCount, width: width, accumulating: false)
      start += width
    }
  }

  /// Backward: adds each input's columns of `dy` into its gradient.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output) else { return }
    let stride = output.count / outerCount
    var start = 0
    for input in inputs {
      let width = input.count / outerCount
      if let dx = context.gradient(input) {
        transferBlocks(
          dy + start, sourceStride: stride, dx, destinationStride: width,
          rows: outerCount, width: width, accumulating: true)
      }
      start += width
    }
  }
}

/// A contiguous range of the last axis: `y[r, j] = x[r, start + j]` (for example the mean
/// and log standard deviation halves of a VAE encoder's output).
public struct SliceOperation: GraphOperation {
  /// The sliced value `[rows…, n]`.
  public let input: GraphValue
  /// The output `[rows…, count]`.
  public let output: GraphValue
  /// The first index kept along the last axis.
  public let start: Int

  private var width: Int { output.shape.last! }
  private var rows: Int { output.count / width }

  /// Forward: copies the kept columns.
  public func forward(_ context: GraphContext) {
    transferBlocks(
      context.pointer(input) + start, sourceStride: input.shape.last!,
      context.pointer(output), destinationStride: width,
      rows: rows, width: width, accumulating: false)
  }

  /// Backward: adds `dy` into the kept columns of `dx`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output), let dx = context.gradient(input) else { return }
    transferBlocks(
      dy, sourceStride: width, dx + start, destinationStride: input.shape.last!,
      rows: rows, width: width, accumulating: true)
  }
}

/// Cuts NHWC images into non-overlapping `p × p` patches, one flattened patch per row (the
/// input of a ViT's patch embedding).
///
/// ```
/// y[b, i·(W/p) + j, (dy·p + dx)·C + c] = x[b, i·p + dy, j·p + dx, c]
/// ```
/// which is `x.reshape(B, H/p, p, W/p, p, C).transpose(0, 1, 3, 2, 4, 5)` flattened; it is the
/// im2col of a VALID convolution with kernel and stride `p`.
public struct PatchifyOperation: GraphOperation {
  /// The images `[B, H, W, C]`.
  public let input: GraphValue
  /// The patches `[B, (H/p)·(W/p), p·p·C]`.
  public let output: GraphValue
  let geometry: WindowGeometry

  /// Forward: a fixed permutation of the input's elements.
  public func forward(_ context: GraphContext) {
    geometry.transferPatches(
      image: context.pointer(input), patches: context.pointer(output), toImage: false)
  }

  /// Backward: the inverse permutation, added into `dx`.
  public func backward(_ context: GraphContext) {
    guard let dy = context.gradient(output), let dx = context.gradient(input) else { return }
    geometry.transferPatches(image: dx, patches: dy, toImage: true)
  }
}

extension GraphBuilder {
  /// Appends the concatenation of `values` along `axis` (negative counts from the end, so the
  /// default `-1` is the last axis); all other axes must agree.
  public mutating func concatenate(_ values: [GraphValue], axis: Int = -1) -> GraphValue {
    guard check(!values.isEmpty, "concatenate needs at least one value") else {
      return makeValue(shape: [1])
    }
    let shape = values[0].shape
    let axis = axis < 0 ? axis + shape.count : axis
    guard check(axis >= 0 && axis < shape.count, "axis out of range for shape \(shape)") else {
      return makeValue(shape: [1])
    }
    var outputShape = shape
    outputShape[axis] = 0
    for value in values {
      guard
        check(
          value.shape.count == shape.count
            && value.shape.indices.allSatisfy { $0 == axis || value.shape[$0] == shape[$0] },
          "cannot concatenate \(value.shape) with \(shape) along axis \(axis)")
      else { return makeValue(shape: [1]) }
      outputShape[axis] += value.shape[axis]
    }
    let output = makeValue(shape: outputShape)
    append(
      ConcatenateOperation(
        inputs: values, output: output, outerCount: shape[..<axis].reduce(1, *)))
    return output
  }

  /// Appends the elements `range` of the last axis of `input`.
  public mutating func slice(_ input: GraphValue, lastAxis range: Range<Int>) -> GraphValue {
    guard
      check(
        !range.isEmpty && range.lowerBound >= 0 && range.upperBound <= input.shape.last!,
        "cannot slice \(range) from a last axis of \(input.shape.last!)")
    else { return makeValue(shape: [1]) }
    let output = makeValue(shape: input.shape.dropLast() + [range.count])
    append(SliceOperation(input: input, output: output, start: range.lowerBound))
    return output
  }

  /// Appends the cutting of NHWC images `[B, H, W, C]` into patches `[B, (H/p)·(W/p), p·p·C]`.
  ///
  /// - Precondition: `patchSize` divides `H` and `W`.
  public mutating func patchify(_ input: GraphValue, patchSize: Int) -> GraphValue {
    guard
      check(
        patchSize > 0 && input.shape.count == 4 && input.shape[1] % patchSize == 0
          && input.shape[2] % patchSize == 0,
        "patches of \(patchSize) do not tile images of shape \(input.shape)")
    else { return makeValue(shape: [1]) }
    let geometry = WindowGeometry(
      inputShape: input.shape, window: patchSize, stride: patchSize, padding: .valid)
    let output = makeValue(
      shape: [
        geometry.batchSize, geometry.outputHeight * geometry.outputWidth, geometry.patchSize,
      ])
    append(PatchifyOperation(input: input, output: output, geometry: geometry))
    return output
  }
}
