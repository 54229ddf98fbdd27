import CLoptShims

/// Eight lanes of `Float`: the fused kernel processes eight consecutive elements at a time.
typealias Lanes = SIMD8<Float>

/// The fused per-element work of one tensor (VELO_SPEC.md §1.16), over eight elements at a time.
///
/// ``sumSquares(_:_:_:_:_:_:factored:into:)`` is pass 1 (per-channel Σx² of the 30 features),
/// ``apply(_:_:_:_:_:_:factored:)`` is pass 2 (features → MLP → `p ← p − Δ`). Features live in
/// registers only. For factored tensors the 12 row/column channels are not built per element:
/// their sums of squares and first-layer contributions are computed once per row and column
/// (planes 6…9 of the row and column planes) and added. Pointers and strides come from
/// ``VeLO/State/updateTensor(_:parameters:gradients:configuration:trace:)``.
struct FusedKernel {
  let n: Int
  let p: UnsafeMutablePointer<Float>
  let g: UnsafePointer<Float>
  let m: UnsafePointer<Float>
  let v: UnsafePointer<Float>
  let rows: UnsafePointer<Float>
  let columns: UnsafePointer<Float>
  let full: UnsafePointer<Float>
  let rowPlanes: UnsafePointer<Float>
  let columnPlanes: UnsafePointer<Float>
  let fullPlanes: UnsafePointer<Float>
  let rowCount: Int
  let columnCount: Int
  /// `kernelChunk` floats of scratch: `rsqrt(rms + 1e-6)` for the current chunk.
  let chunk: UnsafeMutablePointer<Float>
  /// The tensor's (normalised) MLP weights, each repeated in 8 lanes.
  let vectorWeights: UnsafeMutablePointer<Float>
  /// 30 × 8 lane accumulators of pass 1.
  let accumulators: UnsafeMutablePointer<Float>
  /// `λ · stepMult`.
  let stepScale: Float
  /// σ_p (or 1 without `paramScaleMult`).
  let sigma: Float
  let expMult: Float
  let preconditionOutput: Bool

  @inline(__always)
  func load(_ base: UnsafePointer<Float>, _ i: Int, _ stride: Int, _ count: Int) -> Lanes {
    if stride == 0 { return Lanes(repeating: base[i]) }
    if count == 8 { return UnsafeRawPointer(base + i).loadUnaligned(as: Lanes.self) }
    var x = Lanes(repeating: 0)
    for lane in 0..<count { x[lane] = base[i + lane] }
    return x
  }

  @inline(__always)
  func weight(_ index: Int) -> Lanes {
    UnsafeRawPointer(vectorWeights + 8 * index).loadUnaligned(as: Lanes.self)
  }

  @inline(__always)
  func clamp(_ x: Lanes, _ low: Float, _ high: Float) -> Lanes {
    let lower = Lanes(repeating: low)
    let upper = Lanes(repeating: high)
    let raised = x.replacing(with: lower, where: x .< lower)
    return raised.replacing(with: upper, where: raised .> upper)
  }

  @inline(__always)
  func relu(_ x: Lanes) -> Lanes { x.replacing(with: 0, where: x .< 0) }

  /// `exp(x)` to ~2 ulp: range reduction by ln 2 and a degree-6 polynomial, all in lanes.
  @inline(__always)
  func exponential(_ x: Lanes) -> Lanes {
    let xc = clamp(x, -87, 88)
    let magic = Lanes(repeating: 12_582_912)  // 1.5 · 2²³: adding it rounds to an integer
    let t = xc * Lanes(repeating: 1.442_695_04) + magic
    let k = t - magic
    let r = xc - k * Lanes(repeating: 0.693_145_75) - k * Lanes(repeating: 1.428_606_8e-6)
    var poly = Lanes(repeating: 1.0 / 720)
    poly = poly * r + Lanes(repeating: 1.0 / 120)
    poly = poly * r + Lanes(repeating: 1.0 / 24)
    poly = poly * r + Lanes(repeating: 1.0 / 6)
    poly = poly * r + Lanes(repeating: 0.5)
    poly = poly * r + Lanes(repeating: 1)
    poly = poly * r + Lanes(repeating: 1)
    let bits = unsafeBitCast(t, to: SIMD8<Int32>.self)
    let scale = (bits &- 0x4B40_0000 &+ 127) &<< 23
    return poly * unsafeBitCast(scale, to: Lanes.self)
  }

  /// The per-element channels of 8 elements from `e`: channels 0–10 and 14 (always), 11–13 and
  /// 27–29 (Adafactor-scaled gradient and momentum), and for rank ≤ 1 tensors 15–26.
  @inline(__always)
  func features(
    _ e: Int, _ count: Int, _ ri: Int, _ rs: Int, _ ci: Int, _ cs: Int, factored: Bool,
    u: Lanes
  ) -> FeatureLanes {
    var f = FeatureLanes()
    let gc = clamp(load(g, e, 1, count), -1000, 1000)
    f.m0 = load(m, e, 1, count)
    f.m1 = load(m + n, e, 1, count)
    f.m2 = load(m + 2 * n, e, 1, count)
    f.g = gc
    f.clippedG = clamp(gc, -0.1, 0.1)
    f.p = load(UnsafePointer(p), e, 1, count)
    f.rms = load(v, e, 1, count)
    f.m0u = f.m0 * u
    f.m1u = f.m1 * u
    f.m2u = f.m2 * u
    f.u = u
    f.gu = gc * u
    if factored {
      let s0 =
        load(rowPlanes + 3 * rowCount, ri, rs, count)
        * load(columnPlanes + 3 * columnCount, ci, cs, count)
      let s1 =
        load(rowPlanes + 4 * rowCount, ri, rs, count)
        * load(columnPlanes + 4 * columnCount, ci, cs, count)
      let s2 =
        load(rowPlanes + 5 * rowCount, ri, rs, count)
        * load(columnPlanes + 5 * columnCount, ci, cs, count)
      f.fg0 = gc * s0
      f.fg1 = gc * s1
      f.fg2 = gc * s2
      f.fm0 = f.m0 * s0
      f.fm1 = f.m1 * s1
      f.fm2 = f.m2 * s2
    } else {
      f.fg0 = gc * load(fullPlanes + 3 * n, e, 1, count)
      f.fg1 = gc * load(fullPlanes + 4 * n, e, 1, count)
      f.fg2 = gc * load(fullPlanes + 5 * n, e, 1, count)
      f.fm0 = f.m0 * load(fullPlanes + 6 * n, e, 1, count)
      f.fm1 = f.m1 * load(fullPlanes + 7 * n, e, 1, count)
      f.fm2 = f.m2 * load(fullPlanes + 8 * n, e, 1, count)
      f.v0 = load(full, e, 1, count)
      f.v1 = load(full + n, e, 1, count)
      f.v2 = load(full + 2 * n, e, 1, count)
      f.r0 = load(fullPlanes, e, 1, count)
      f.r1 = load(fullPlanes + n, e, 1, count)
      f.r2 = load(fullPlanes + 2 * n, e, 1, count)
    }
    return f
  }

  /// Fills the chunk scratch with `rsqrt(rms + 1e-6)` for `length` elements from `e`.
  @inline(__always)
  func prepareChunk(_ e: Int, _ length: Int) {
    for j in 0..<length { chunk[j] = lopt_rsqrtf(v[e + j] + 1e-6) }
  }

  @inline(__always)
  func square(_ x: Lanes, _ channel: Int) {
    let slot = UnsafeMutableRawPointer(accumulators + 8 * channel)
    slot.storeBytes(of: slot.loadUnaligned(as: Lanes.self) + x * x, as: Lanes.self)
  }

  /// Pass 1 for one block of 8 (or `count` < 8 when not `full`) elements.
  @inline(__always)
  func squareBlock(
    _ e: Int, _ count: Int, _ ri: Int, _ rs: Int, _ ci: Int, _ cs: Int, factored: Bool,
    u: Lanes, mask: Lanes
  ) {
    var f = features(e, count, ri, rs, ci, cs, factored: factored, u: u)
    if count < 8 { f.mask(mask) }
    square(f.g, 0)
    square(f.clippedG, 1)
    square(f.p, 2)
    square(f.m0, 3)
    square(f.m1, 4)
    square(f.m2, 5)
    square(f.rms, 6)
    square(f.m0u, 7)
    square(f.m1u, 8)
    square(f.m2u, 9)
    square(f.u, 10)
    square(f.fg0, 11)
    square(f.fg1, 12)
    square(f.fg2, 13)
    square(f.gu, 14)
    square(f.fm0, 27)
    square(f.fm1, 28)
    square(f.fm2, 29)
    if !factored {
      square(f.v0, 15)
      square(f.v1, 16)
      square(f.v2, 17)
      square(f.v0, 18)
      square(f.v1, 19)
      square(f.v2, 20)
      square(f.r0, 21)
      square(f.r1, 22)
      square(f.r2, 23)
      square(f.r0, 24)
      square(f.r1, 25)
      square(f.r2, 26)
    }
  }

  /// Pass 1 over `length` elements from `start`: adds each channel's Σx² to `totals`.
  @inline(__always)
  func sumSquares(
    _ start: Int, _ length: Int, _ row: Int, _ rs: Int, _ column: Int, _ cs: Int,
    factored: Bool, into totals: UnsafeMutablePointer<Double>
  ) {
    var done = 0
    while done < length {
      let size = min(kernelChunk, length - done)
      prepareChunk(start + done, size)
      accumulators.update(repeating: 0, count: 8 * 30)
      var j = 0
      while j + 8 <= size {
        let offset = done + j
        squareBlock(
          start + offset, 8, row + offset * rs, rs, column + offset * cs, cs, factored: factored,
          u: UnsafeRawPointer(chunk + j).loadUnaligned(as: Lanes.self), mask: Lanes(repeating: 1))
        j += 8
      }
      if j < size {
        let count = size - j
        let offset = done + j
        var mask = Lanes(repeating: 0)
        for lane in 0..<count { mask[lane] = 1 }
        squareBlock(
          start + offset, count, row + offset * rs, rs, column + offset * cs, cs,
          factored: factored, u: load(UnsafePointer(chunk), j, 1, count), mask: mask)
      }
      for channel in 0..<30 {
        let lanes = UnsafeRawPointer(accumulators + 8 * channel).loadUnaligned(as: Lanes.self)
        totals[channel] += Double(lanes.sum())
      }
      done += size
    }
  }

  @inline(__always)
  func mac(_ h: inout (Lanes, Lanes, Lanes, Lanes), _ x: Lanes, _ channel: Int) {
    h.0 += x * weight(4 * channel)
    h.1 += x * weight(4 * channel + 1)
    h.2 += x * weight(4 * channel + 2)
    h.3 += x * weight(4 * channel + 3)
  }

  /// Pass 2 for one block: features, MLP, `p ← p − Δ`.
  @inline(__always)
  func applyBlock(
    _ e: Int, _ count: Int, _ ri: Int, _ rs: Int, _ ci: Int, _ cs: Int, factored: Bool, u: Lanes
  ) {
    var h = (weight(120), weight(121), weight(122), weight(123))
    if factored {
      h.0 +=
        load(rowPlanes + 6 * rowCount, ri, rs, count)
        + load(columnPlanes + 6 * columnCount, ci, cs, count)
      h.1 +=
        load(rowPlanes + 7 * rowCount, ri, rs, count)
        + load(columnPlanes + 7 * columnCount, ci, cs, count)
      h.2 +=
        load(rowPlanes + 8 * rowCount, ri, rs, count)
        + load(columnPlanes + 8 * columnCount, ci, cs, count)
      h.3 +=
        load(rowPlanes + 9 * rowCount, ri, rs, count)
        + load(columnPlanes + 9 * columnCount, ci, cs, count)
    }
    let f = features(e, count, ri, rs, ci, cs, factored: factored, u: u)
    mac(&h, f.g, 0)
    mac(&h, f.clippedG, 1)
    mac(&h, f.p, 2)
    mac(&h, f.m0, 3)
    mac(&h, f.m1, 4)
    mac(&h, f.m2, 5)
    mac(&h, f.rms, 6)
    mac(&h, f.m0u, 7)
    mac(&h, f.m1u, 8)
    mac(&h, f.m2u, 9)
    mac(&h, f.u, 10)
    mac(&h, f.fg0, 11)
    mac(&h, f.fg1, 12)
    mac(&h, f.fg2, 13)
    mac(&h, f.gu, 14)
    if !factored {
      mac(&h, f.v0, 15)
      mac(&h, f.v1, 16)
      mac(&h, f.v2, 17)
      mac(&h, f.v0, 18)
      mac(&h, f.v1, 19)
      mac(&h, f.v2, 20)
      mac(&h, f.r0, 21)
      mac(&h, f.r1, 22)
      mac(&h, f.r2, 23)
      mac(&h, f.r0, 24)
      mac(&h, f.r1, 25)
      mac(&h, f.r2, 26)
    }
    mac(&h, f.fm0, 27)
    mac(&h, f.fm1, 28)
    mac(&h, f.fm2, 29)
    var s = (weight(140), weight(141), weight(142), weight(143))
    mac(&s, relu(h.0), 31)
    mac(&s, relu(h.1), 32)
    mac(&s, relu(h.2), 33)
    mac(&s, relu(h.3), 34)
    let (b0, b1, b2, b3) = (relu(s.0), relu(s.1), relu(s.2), relu(s.3))
    let direction =
      weight(156) + b0 * weight(144) + b1 * weight(147) + b2 * weight(150) + b3 * weight(153)
    let magnitude =
      weight(157) + b0 * weight(145) + b1 * weight(148) + b2 * weight(151) + b3 * weight(154)
    var step =
      direction * (Lanes(repeating: sigma) * exponential(Lanes(repeating: expMult) * magnitude))
      * Lanes(repeating: stepScale)
    if preconditionOutput { step *= u }
    if count == 8 {
      let target = UnsafeMutableRawPointer(p + e)
      target.storeBytes(of: target.loadUnaligned(as: Lanes.self) - step, as: Lanes.self)
    } else {
      for lane in 0..<count { p[e + lane] -= step[lane] }
    }
  }

  /// Pass 2 over `length` elements from `start`: features, MLP, `p ← p − Δ`.
  @inline(__always)
  func apply(
    _ start: Int, _ length: Int, _ row: Int, _ rs: Int, _ column: Int, _ cs: Int,
    factored: Bool
  ) {
    var done = 0
    while done < length {
      let size = min(kernelChunk, length - done)
      prepareChunk(start + done, size)
      var j = 0
      while j + 8 <= size {
        let offset = done + j
        applyBlock(
          start + offset, 8, row + offset * rs, rs, column + offset * cs, cs, factored: factored,
          u: UnsafeRawPointer(chunk + j).loadUnaligned(as: Lanes.self))
        j += 8
      }
      if j < size {
        let offset = done + j
        let count = size - j
        applyBlock(
          start + offset, count, row + offset * rs, rs, column + offset * cs, cs,
          factored: factored, u: load(UnsafePointer(chunk), j, 1, count))
      }
      done += size
    }
  }
}

/// The per-element MLP inputs of 8 elements (channel numbers in VELO_SPEC.md §1.9).
struct FeatureLanes {
  var g = Lanes(), clippedG = Lanes(), p = Lanes(), m0 = Lanes(), m1 = Lanes(), m2 = Lanes()
  var rms = Lanes(), m0u = Lanes(), m1u = Lanes(), m2u = Lanes(), u = Lanes()
  var fg0 = Lanes(), fg1 = Lanes(), fg2 = Lanes(), gu = Lanes()
  var v0 = Lanes(), v1 = Lanes(), v2 = Lanes(), r0 = Lanes(), r1 = Lanes(), r2 = Lanes()
  var fm0 = Lanes(), fm1 = Lanes(), fm2 = Lanes()

  /// Zeroes the lanes past the end of a partial block.
  @inline(__always)
  mutating func mask(_ mask: Lanes) {
    g *= mask
    clippedG *= mask
    p *= mask
    m0 *= mask
    m1 *= mask
    m2 *= mask
    rms *= mask
    m0u *= mask
    m1u *= mask
    m2u *= mask
    u *= mask
    fg0 *= mask
    fg1 *= mask
    fg2 *= mask
    gu *= mask
    v0 *= mask
    v1 *= mask
    v2 *= mask
    r0 *= mask
    r1 *= mask
    r2 *= mask
    fm0 *= mask
    fm1 *= mask
    fm2 *= mask
  }
}
