import LoptCore

/// One array leaf of a flax msgpack tree.
struct FlaxLeaf {
  /// The keys from θ's root to the leaf.
  let keyPath: [String]
  /// The array's shape.
  let shape: [Int]
  /// The elements as `Float`.
  let scalars: [Float]

  /// The reference tree name: the key path joined with `.`.
  var name: String { keyPath.joined(separator: ".") }
}

extension Checkpoint {
  /// Reads a flax msgpack checkpoint tree (`ParameterCheckpoint`, the tuple form, or a bare θ).
  init(flax root: MessagePackValue, expecting expected: LearnedOptimizerConfiguration?) throws {
    let (_, stepValue, stepKey) = try Self.unwrapFlaxRoot(root)
    let leaves = try Self.flaxLeaves(root)
    let configuration: LearnedOptimizerConfiguration
    if let expected {
      configuration = expected
      let inferred = try? Self.inferConfiguration(from: leaves)
      if let inferred, inferred.kind != expected.kind {
        throw CheckpointError.architectureMismatch(
          reason: "the checkpoint holds a \(inferred.kind.rawValue), expected a "
            + "\(expected.kind.rawValue)")
      }
    } else {
      configuration = try Self.inferConfiguration(from: leaves)
    }
    try configuration.validateAsCheckpoint()
    let layout = configuration.metaParameterLayout
    var byName: [String: FlaxLeaf] = [:]
    for leaf in leaves { byName[leaf.name] = leaf }
    try CheckpointError.checkNames(byName.mapValues(\.shape), against: layout)
    var theta = ParameterSet(layout: layout)
    for entry in layout.entries {
      theta[entry.name] = Tensor(shape: entry.shape, scalars: byName[entry.name]!.scalars)
    }
    let step = try stepValue.map { try Self.integer($0, keyPath: [stepKey]) }
    try self.init(configuration: configuration, metaParameters: theta, metaTrainingStep: step)
  }

  /// θ's array leaves in file order, the LSTM-state encodings normalised to `hidden`/`cell`.
  static func flaxLeaves(_ root: MessagePackValue) throws -> [FlaxLeaf] {
    var leaves: [FlaxLeaf] = []
    try flatten(try unwrapFlaxRoot(root).theta, keyPath: [], into: &leaves)
    return leaves
  }

  /// The checkpoint as flax writes a `ParameterCheckpoint`: `{"params": θ, "gen_id": "",
  /// "step": n}` (θ nested by the `.`-separated tree names, arrays as ext type 1).
  func flaxValue() -> MessagePackValue {
    var tree = MessagePackValue.map([])
    for (index, entry) in metaParameters.layout.entries.enumerated() {
      let bytes = metaParameters.withUnsafeBufferPointer(ofTensor: index) { buffer in
        buffer.flatMap { value in
          withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
        }
      }
      let payload = MessagePackValue.array([
        .array(entry.shape.map { .int(Int64($0)) }), .string("float32"), .binary(bytes),
      ])
      Self.insert(
        .ext(type: 1, data: payload.encoded()),
        at: entry.name.split(separator: ".", omittingEmptySubsequences: false).map(String.init),
        into: &tree)
    }
    return .map([
      MessagePackEntry("params", tree), MessagePackEntry("gen_id", .string("")),
      MessagePackEntry("step", .int(Int64(metaTrainingStep ?? 0))),
    ])
  }

  /// The architecture a flax tree is for, from its tree names and shapes.
  ///
  /// - VeLO: `ff_mod_stack` present; `H` from `lstm_init_state.hidden`, `P` from
  ///   `ff_mod_stack.~.b0`; every other setting the released VeLO's.
  /// - AdafacMLP: `nn` and `momentum_decays`; widths from `nn.~.w<i>`; reference decays.
  /// - MLPLOpt: `mlp/~/linear_0` (haiku's flat module names); widths from `mlp/~/linear_<i>.w`; reference momentum decays.
  ///
  /// - Throws: ``CheckpointError/architectureMismatch(reason:)`` if the tree matches none, or
  ///   ``CheckpointError/missingTensor(_:)`` for a leaf the inference needs.
  static func inferConfiguration(from leaves: [FlaxLeaf]) throws -> LearnedOptimizerConfiguration {
    var shapes: [String: [Int]] = [:]
    for leaf in leaves { shapes[leaf.name] = leaf.shape }
    let roots = Set(leaves.compactMap(\.keyPath.first))
    func shape(_ name: String, rank: Int) throws -> [Int] {
      guard let shape = shapes[name] else { throw CheckpointError.missingTensor(name) }
      guard shape.count == rank else {
        throw CheckpointError.architectureMismatch(
          reason: "'\(name)' has shape \(shape), expected rank \(rank)")
      }
      return shape
    }
    func layerCount(_ prefix: String) -> Int {
      var count = 0
      while shapes["\(prefix)\(count)"] != nil || shapes["\(prefix)\(count).w"] != nil {
        count += 1
      }
      return count
    }
    if roots.contains("ff_mod_stack") {
      let hidden = try shape("lstm_init_state.hidden", rank: 2)[1]
      let templates = try shape("ff_mod_stack.~.b0", rank: 2)[0]
      return .velo(VeLO.Configuration(lstmHiddenSize: hidden, paramInits: templates))
    }
    if roots.contains("nn") && roots.contains("momentum_decays") {
      let first = try shape("nn.~.w0", rank: 2)
      let decays = try shape("momentum_decays", rank: 1)[0]
      let reference = AdafacMLP.Configuration()
      guard decays == reference.decayCount else {
        throw CheckpointError.architectureMismatch(
          reason: "AdafacMLP with \(decays) decays: the initial decays are not stored in the "
            + "file and only the reference's 3 are known")
      }
      return .adafacMLP(
        AdafacMLP.Configuration(hiddenSize: first[1], hiddenLayers: layerCount("nn.~.w") - 1))
    }
    if roots.contains("mlp/~/linear_0") {
      let first = try shape("mlp/~/linear_0.w", rank: 2)
      let reference = MLPLOpt.Configuration()
      guard first[0] == reference.widths[0] else {
        throw CheckpointError.architectureMismatch(
          reason: "MLPLOpt with \(first[0]) inputs: the momentum decays are not stored in the "
            + "file and only the reference's 6 (19 inputs) are known")
      }
      return .mlpLOpt(
        MLPLOpt.Configuration(
          hiddenSize: first[1], hiddenLayers: layerCount("mlp/~/linear_") - 1))
    }
    throw CheckpointError.architectureMismatch(
      reason: "the tree's top-level keys \(roots.sorted()) match no known learned optimizer "
        + "(VeLO: ff_mod_stack, lstm_init_state, rnn_params; AdafacMLP: nn, *_decays; "
        + "MLPLOpt: mlp/~/linear_0, …)")
  }

  /// θ, the step value (if any) and the step's key, from the three root layouts.
  private static func unwrapFlaxRoot(
    _ root: MessagePackValue
  ) throws -> (theta: MessagePackValue, step: MessagePackValue?, stepKey: String) {
    guard case .map = root else {
      throw CheckpointError.malformed(keyPath: "", reason: "the root is not a map")
    }
    if let params = root["params"] { return (params, root["step"], "step") }
    if let theta = root["0"], root["1"] != nil { return (theta, root["2"], "2") }
    return (root, nil, "")
  }

  /// Appends every array leaf under `value`, normalising the LSTM-state encodings.
  private static func flatten(
    _ value: MessagePackValue, keyPath: [String], into leaves: inout [FlaxLeaf]
  ) throws {
    let path = keyPath.joined(separator: "/")
    switch value {
    case .map(var entries):
      if entries.contains(where: { $0.key == "__msgpack_chunked_array__" }) {
        throw CheckpointError.malformed(
          keyPath: path, reason: "chunked arrays (over 1 GiB) are not supported")
      }
      if let fields = value["fields"], let values = value["values"], value["name"] != nil {
        entries = try namedTupleEntries(fields: fields, values: values, keyPath: keyPath)
      } else if keyPath.last == "lstm_init_state" {
        // A plain-tuple LSTM state: "0" is hidden, "1" is cell.
        let names = ["0": "hidden", "1": "cell"]
        entries = entries.map { MessagePackEntry(names[$0.key] ?? $0.key, $0.value) }
      }
      for entry in entries {
        try flatten(entry.value, keyPath: keyPath + [entry.key], into: &leaves)
      }
    case .ext(let type, let data) where type == 1 || type == 3:
      let (shape, scalars) = try decodeArray(data, keyPath: keyPath)
      leaves.append(FlaxLeaf(keyPath: keyPath, shape: shape, scalars: scalars))
    default:
      throw CheckpointError.malformed(
        keyPath: path, reason: "expected a map or an array (ext type 1), found \(describe(value))")
    }
  }

  /// The entries of a pre-2022 flax named tuple `{"name", "fields": {"0": f0, …},
  /// "values": {"0": v0, …}}`, keyed by field name.
  private static func namedTupleEntries(
    fields: MessagePackValue, values: MessagePackValue, keyPath: [String]
  ) throws -> [MessagePackEntry] {
    guard case .map(let fieldEntries) = fields, case .map = values else {
      throw CheckpointError.malformed(
        keyPath: keyPath.joined(separator: "/"),
        reason: "a named tuple's 'fields' and 'values' must be maps")
    }
    return try fieldEntries.map { field in
      guard case .string(let name) = field.value, let value = values[field.key] else {
        throw CheckpointError.malformed(
          keyPath: (keyPath + ["fields", field.key]).joined(separator: "/"),
          reason: "a named-tuple field without a name or a value")
      }
      return MessagePackEntry(name, value)
    }
  }

  /// Decodes an ext-type-1/3 payload `[shape, dtype, bytes]` into floats.
  private static func decodeArray(
    _ data: [UInt8], keyPath: [String]
  ) throws -> (shape: [Int], scalars: [Float]) {
    let path = keyPath.joined(separator: "/")
    let payload = try MessagePackValue.decode(data, keyPath: keyPath)
    guard case .array(let parts) = payload, parts.count == 3,
      case .array(let extents) = parts[0], case .string(let dtype) = parts[1],
      case .binary(let bytes) = parts[2]
    else {
      throw CheckpointError.malformed(
        keyPath: path, reason: "an array payload must be [shape, dtype name, bytes]")
    }
    var shape: [Int] = []
    var count = 1
    for extent in extents {
      guard case .int(let value) = extent, value >= 0, value <= Int64(Int32.max) else {
        throw CheckpointError.malformed(keyPath: path, reason: "invalid shape \(extents)")
      }
      let (product, overflow) = count.multipliedReportingOverflow(by: Int(value))
      guard !overflow else {
        throw CheckpointError.malformed(keyPath: path, reason: "shape overflows")
      }
      shape.append(Int(value))
      count = product
    }
    let sizes = ["float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int32": 4, "int64": 8]
    guard let size = sizes[dtype] else {
      throw CheckpointError.unsupportedDType(keyPath: path, dtype: dtype)
    }
    let (byteCount, overflow) = count.multipliedReportingOverflow(by: size)
    guard !overflow, bytes.count == byteCount else {
      throw CheckpointError.malformed(
        keyPath: path,
        reason:
          "shape \(shape) of \(dtype) needs \(overflow ? "more than Int.max" : "\(byteCount)") "
          + "bytes, the array has \(bytes.count)")
    }
    let scalars = bytes.withUnsafeBytes { raw -> [Float] in
      func convert<Bits: FixedWidthInteger>(_: Bits.Type, _ transform: (Bits) -> Float) -> [Float] {
        (0..<count).map {
          transform(Bits(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: Bits.self)))
        }
      }
      switch dtype {
      case "float64": return convert(UInt64.self) { Float(Double(bitPattern: $0)) }
      case "float16": return convert(UInt16.self) { Float(Float16(bitPattern: $0)) }
      case "bfloat16": return convert(UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
      case "int32": return convert(Int32.self) { Float($0) }
      case "int64": return convert(Int64.self) { Float($0) }
      default: return convert(UInt32.self) { Float(bitPattern: $0) }
      }
    }
    return (shape, scalars)
  }

  /// The largest step a checkpoint may record (2³¹ − 1; no run takes that many outer steps).
  private static let maximumStep = Int(Int32.max)

  /// A step from a msgpack int or a one-element array (ext type 1 or 3), in 0...2³¹ − 1.
  private static func integer(_ value: MessagePackValue, keyPath: [String]) throws -> Int {
    var step: Int?
    switch value {
    case .int(let number): step = Int(exactly: number)
    case .uint(let number): step = Int(exactly: number)
    case .float(let number): step = Int(exactly: number)
    case .ext(let type, let data) where type == 1 || type == 3:
      let (shape, scalars) = try decodeArray(data, keyPath: keyPath)
      if shape.reduce(1, *) == 1, let number = scalars.first { step = Int(exactly: number) }
    default: break
    }
    guard let step, (0...maximumStep).contains(step) else {
      throw CheckpointError.malformed(
        keyPath: keyPath.joined(separator: "/"),
        reason: "expected an integer step in 0...\(maximumStep), found \(describe(value))")
    }
    return step
  }

  /// A short description of a value's kind, for messages.
  private static func describe(_ value: MessagePackValue) -> String {
    switch value {
    case .null: return "nil"
    case .bool: return "a boolean"
    case .int(let number): return "the integer \(number)"
    case .uint(let number): return "the integer \(number)"
    case .float(let number): return "the float \(number)"
    case .string: return "a string"
    case .binary: return "binary data"
    case .array: return "an array"
    case .map: return "a map"
    case .ext(let type, _): return "extension type \(type)"
    }
  }

  /// Inserts `leaf` at `keyPath` into a tree of maps, creating maps on the way.
  private static func insert(
    _ leaf: MessagePackValue, at keyPath: [String], into tree: inout MessagePackValue
  ) {
    guard case .map(var entries) = tree, let key = keyPath.first else { return }
    if keyPath.count == 1 {
      entries.append(MessagePackEntry(key, leaf))
    } else {
      let index =
        entries.firstIndex { $0.key == key }
        ?? {
          entries.append(MessagePackEntry(key, .map([])))
          return entries.count - 1
        }()
      insert(leaf, at: Array(keyPath.dropFirst()), into: &entries[index].value)
    }
    tree = .map(entries)
  }
}
