extension TaskSpec {
  /// The model fields each family uses; the first group is required, the second optional.
  private var modelFields: (required: Set<String>, optional: Set<String>) {
    switch family {
    case .imageMLP: (["hiddenWidths"], [])
    case .imageConv: (["convWidths"], ["strideCount"])
    case .mlpAutoencoder: (["hiddenWidths"], ["centersData", "usesLogLoss"])
    case .mlpVAE:
      (["encoderWidths", "decoderWidths", "latentSize"], ["centersData", "usesPerDimensionLoss"])
    case .vit: (["layers", "heads", "headSize", "mlpWidth", "patchSize"], ["dropoutRate"])
    case .lstmLM: (["hiddenSize", "embeddingSize"], [])
    case .transformerLM: (["layers", "heads", "headSize"], ["dropoutRate"])
    case .resnet:
      (
        [
          "blocksPerGroup", "baseChannels", "channelPattern", "initialKernelSize",
          "initialChannels",
        ],
        ["hasMaxPool"]
      )
    }
  }

  /// Which model fields are set, by name.
  private var setModelFields: [String: Bool] {
    let m = model
    return [
      "hiddenWidths": m.hiddenWidths != nil, "convWidths": m.convWidths != nil,
      "strideCount": m.strideCount != nil, "encoderWidths": m.encoderWidths != nil,
      "decoderWidths": m.decoderWidths != nil, "latentSize": m.latentSize != nil,
      "centersData": m.centersData != nil, "usesLogLoss": m.usesLogLoss != nil,
      "usesPerDimensionLoss": m.usesPerDimensionLoss != nil, "layers": m.layers != nil,
      "heads": m.heads != nil, "headSize": m.headSize != nil, "mlpWidth": m.mlpWidth != nil,
      "patchSize": m.patchSize != nil, "dropoutRate": m.dropoutRate != nil,
      "hiddenSize": m.hiddenSize != nil, "embeddingSize": m.embeddingSize != nil,
      "blocksPerGroup": m.blocksPerGroup != nil, "baseChannels": m.baseChannels != nil,
      "channelPattern": m.channelPattern != nil, "initialKernelSize": m.initialKernelSize != nil,
      "initialChannels": m.initialChannels != nil, "hasMaxPool": m.hasMaxPool != nil,
    ]
  }

  /// Checks that every field the family needs is present and in range and that no other is
  /// set.
  ///
  /// The ranges are generous bounds on what a model may be, not the sampling ranges.
  /// - Throws: ``TaskSpecError`` naming the first offending field.
  public func validate() throws {
    let (required, optional) = modelFields
    for (field, isSet) in setModelFields.sorted(by: { $0.key < $1.key }) {
      if isSet && !required.contains(field) && !optional.contains(field) {
        throw TaskSpecError.unusedField(field: "model.\(field)", family: family)
      }
      if !isSet && required.contains(field) { throw TaskSpecError.missingField("model.\(field)") }
    }
    try Self.check(batchSize, in: 1...4096, "batchSize")
    try validateData()
    try validateModel()
    let usesActivation: Set<TaskFamily> = [
      .imageMLP, .imageConv, .mlpAutoencoder, .mlpVAE, .resnet,
    ]
    if activation != nil && !usesActivation.contains(family) {
      throw TaskSpecError.unusedField(field: "activation", family: family)
    }
    let usesInitializer: Set<TaskFamily> = [
      .imageMLP, .imageConv, .mlpAutoencoder, .mlpVAE, .lstmLM,
    ]
    if let initializer {
      guard usesInitializer.contains(family) else {
        throw TaskSpecError.unusedField(field: "initializer", family: family)
      }
      try Self.check(initializer.scale, in: 1e-3...100, "initializer.scale")
    }
    try validateAugmentation()
  }

  private func validateData() throws {
    let shape = try dataShape
    if family.isImageFamily {
      if data.sequenceLength != nil {
        throw TaskSpecError.unusedField(field: "data.sequenceLength", family: family)
      }
      if data.vocabularySize != nil {
        throw TaskSpecError.unusedField(field: "data.vocabularySize", family: family)
      }
      try Self.check(shape.imageShape[0], in: 1...256, "data.imageSize")
    } else {
      if data.imageSize != nil {
        throw TaskSpecError.unusedField(field: "data.imageSize", family: family)
      }
      guard let length = data.sequenceLength else {
        throw TaskSpecError.missingField("data.sequenceLength")
      }
      guard let vocabulary = data.vocabularySize else {
        throw TaskSpecError.missingField("data.vocabularySize")
      }
      try Self.check(length, in: 1...4096, "data.sequenceLength")
      try Self.check(vocabulary, in: 2...65_536, "data.vocabularySize")
    }
  }

  private func validateModel() throws {
    let m = model
    let width = 1...16_384
    for (name, widths) in [
      ("hiddenWidths", m.hiddenWidths), ("convWidths", m.convWidths),
      ("encoderWidths", m.encoderWidths), ("decoderWidths", m.decoderWidths),
    ] {
      guard let widths else { continue }
      try Self.check(widths.count, in: 0...64, "model.\(name).count")
      for (k, w) in widths.enumerated() { try Self.check(w, in: width, "model.\(name)[\(k)]") }
    }
    if let strides = m.strideCount {
      try Self.check(strides, in: 0...(m.convWidths?.count ?? 0), "model.strideCount")
    }
    for (name, value, range) in [
      ("latentSize", m.latentSize, width), ("layers", m.layers, 1...64),
      ("heads", m.heads, 1...256), ("headSize", m.headSize, 1...1024),
      ("mlpWidth", m.mlpWidth, width), ("hiddenSize", m.hiddenSize, width),
      ("embeddingSize", m.embeddingSize, width), ("baseChannels", m.baseChannels, 1...4096),
      ("initialKernelSize", m.initialKernelSize, 1...15),
      ("initialChannels", m.initialChannels, 1...4096),
    ] {
      if let value { try Self.check(value, in: range, "model.\(name)") }
    }
    if let rate = m.dropoutRate { try Self.check(rate, in: 0...0.99, "model.dropoutRate") }
    if let patch = m.patchSize {
      let size = try dataShape.imageShape[0]
      guard patch >= 1 && size % patch == 0 else {
        throw TaskSpecError.outOfRange(
          field: "model.patchSize", value: "\(patch)", range: "the divisors of \(size)")
      }
    }
    for (name, groups) in [
      ("blocksPerGroup", m.blocksPerGroup), ("channelPattern", m.channelPattern),
    ] {
      guard let groups else { continue }
      try Self.check(groups.count, in: 4...4, "model.\(name).count")
      for (k, n) in groups.enumerated() { try Self.check(n, in: 1...64, "model.\(name)[\(k)]") }
    }
  }

  private func validateAugmentation() throws {
    let a = augmentation
    if let r = a.reparameterization {
      try Self.check(r.low, in: 1e-6...1e6, "augmentation.reparameterization.low")
      try Self.check(r.high, in: r.low...1e6, "augmentation.reparameterization.high")
    }
    if let es = a.esGradient {
      try Self.check(
        es.standardDeviation, in: 1e-6...10, "augmentation.esGradient.standardDeviation")
      try Self.check(es.pairs, in: 1...1024, "augmentation.esGradient.pairs")
    }
    if let fraction = a.batchFraction {
      try Self.check(fraction, in: 1e-6...1, "augmentation.batchFraction")
    }
    if let s = a.subsampledDirections {
      try Self.check(s.count, in: 1...1_000_000, "augmentation.subsampledDirections.count")
    }
    if let delay = a.gradientDelay {
      try Self.check(delay, in: 1...64, "augmentation.gradientDelay")
    }
  }

  private static func check<T: Comparable>(
    _ value: T, in range: ClosedRange<T>, _ field: String
  ) throws {
    guard range.contains(value) else {
      throw TaskSpecError.outOfRange(
        field: field, value: "\(value)", range: "\(range.lowerBound)...\(range.upperBound)")
    }
  }
}
