import Foundation
import LoptCore
import LoptData
import LoptTasks
import Testing

@Suite struct TaskSpecTests {
  private func decode(_ text: String) throws -> TaskSpec { try TaskSpec(json: Data(text.utf8)) }

  private var celoJSON: String {
    """
    {"family": "image-mlp", "model": {"hiddenWidths": [32]}, "batchSize": 64,
     "data": {"dataset": "fashion8", "imageSize": 8}, "activation": "relu",
     "augmentation": {}, "seed": 3}
    """
  }

  @Test func decodesAHandWrittenSpec() throws {
    let spec = try decode(celoJSON)
    #expect(spec.family == .imageMLP && spec.seed == 3 && spec.augmentation.isEmpty)
  }

  @Test func rejectsAnUnknownKeyNamingIt() {
    let text = celoJSON.replacingOccurrences(of: "\"hiddenWidths\"", with: "\"hiddenWidth\"")
    #expect(throws: TaskSpecError.unknownField("model.hiddenWidth")) { try decode(text) }
    let top = celoJSON.replacingOccurrences(of: "\"seed\"", with: "\"colour\": 1, \"seed\"")
    #expect(throws: TaskSpecError.unknownField("colour")) { try decode(top) }
  }

  @Test func rejectsAnUnknownFamily() {
    let text = celoJSON.replacingOccurrences(of: "image-mlp", with: "image-gan")
    let error = #expect(throws: TaskSpecError.self) { try decode(text) }
    #expect(error?.description.contains("family 'image-gan'") == true)
  }

  @Test func rejectsOutOfRangeSizesNamingTheField() {
    var spec = TaskSpec.named["mlp-fashion8-relu32"]!
    spec.model.hiddenWidths = [32, 0]
    #expect(throws: TaskSpecError.self) { try spec.validate() }
    let error = #expect(throws: TaskSpecError.self) { try spec.validate() }
    #expect(error?.description.contains("model.hiddenWidths[1]") == true)
    spec.model.hiddenWidths = [32]
    spec.batchSize = 0
    #expect(throws: TaskSpecError.outOfRange(field: "batchSize", value: "0", range: "1...4096")) {
      try spec.validate()
    }
  }

  @Test func rejectsFieldsTheFamilyDoesNotUseAndMissingOnes() {
    var spec = TaskSpec.named["mlp-fashion8-relu32"]!
    spec.model.latentSize = 4
    #expect(throws: TaskSpecError.unusedField(field: "model.latentSize", family: .imageMLP)) {
      try spec.validate()
    }
    spec.model = ModelSpec()
    #expect(throws: TaskSpecError.missingField("model.hiddenWidths")) { try spec.validate() }
    var vit = TaskSpec.named["vit-mnist16"]!
    vit.model.patchSize = 3
    let error = #expect(throws: TaskSpecError.self) { try vit.validate() }
    #expect(error?.description.contains("model.patchSize") == true)
  }

  @Test func reportsAMissingDataSetNamingTheField() throws {
    let empty = FileManager.default.temporaryDirectory.appendingPathComponent("lopt-empty-data")
    try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
    let locator = DataLocator(roots: [.init(directory: empty, origin: "test")])
    var spec = TaskSpec.named["mlp-fashion8-relu32"]!
    spec.data = DataSpec(dataset: "cifar10", imageSize: 8)
    let error = #expect(throws: TaskSpecError.self) { _ = try spec.makeTask(locator: locator) }
    guard case .dataUnavailable(let field, _)? = error else {
      Issue.record("expected a data error, got \(String(describing: error))")
      return
    }
    #expect(field == "data.dataset")
    spec.data.dataset = "imagenet"
    #expect(throws: TaskSpecError.self) { try spec.validate() }
  }
}

@Suite struct LossNormalizerTests {
  @Test func classificationFollowsTheSpec() {
    let n = LossNormalizer.classification(classCount: 10)
    #expect(abs(n(log(20)) - 10) < 1e-5)  // the clip at ln 2C gives 10·ln(10)/ln(10)
    #expect(abs(n(0) - 10 * (-log(2)) / log(10)) < 1e-5)  // 10·(0 − ln 2)/ln 10 ≈ −3.0103
    #expect(abs(n(.nan) - 10) < 1e-5)
    #expect(abs(n(100) - 10) < 1e-5)
    #expect(abs(n(log(2)) - 0) < 1e-5)  // ln(C/5) = ln 2 maps to 0
  }

  @Test func scaledClassificationFollowsTheSpec() {
    let n = LossNormalizer.scaledClassification(classCount: 10)
    #expect(abs(n(log(20) / 2) - 5) < 1e-5)
    #expect(n(.infinity) == 10 && n(-1) == 0 && n(50) == 10)
  }

  @Test func autoencoderFollowsTheSpec() {
    let plain = LossNormalizer.autoencoder(isLogLoss: false)
    #expect(abs(plain(1) - (0.5 * log(1 + 1e-8) + 10)) < 1e-5)
    #expect(plain(0) == 0.5 * -12 + 10)  // ln(1e-8) ≈ −18.4 clips at −12
    #expect(plain(.nan) == 0.5 * 1 + 10)
    let logLoss = LossNormalizer.autoencoder(isLogLoss: true)
    #expect(logLoss(-3) == 0.5 * -3 + 10 && logLoss(5) == 10.5)
  }

  @Test func vaeFollowsTheSpec() {
    let n = LossNormalizer.vae(pixelCount: 64)
    #expect(n(320) == 5 && n(6400) == 10 && n(-5) == 0 && n(.nan) == 10)
    #expect(LossNormalizer.vae(pixelCount: 1)(3.5) == 3.5)
  }

  @Test func wrappersInheritTheInnerNormalizer() throws {
    var spec = TinySpecs.spec(.imageMLP)
    spec.augmentation.normalizesGradient = true
    spec.augmentation.gradientDelay = 3
    let task = try spec.makeTask()
    #expect(task.normalize(0) == LossNormalizer.classification(classCount: 10)(0))
  }
}
