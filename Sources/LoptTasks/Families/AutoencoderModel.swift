import Foundation
import LoptCore
import LoptData
import LoptNN

extension TaskSpec {
  /// The MLP autoencoder and VAE families: the model over flattened images, its loss and
  /// normaliser.
  func autoencoder(_ m: inout ModelBuilder, shape: [Int]) -> TaskModel {
    let batch = m.graph.batchSize
    let pixels = shape.reduce(1, *)
    let images = m.graph.input(shape: [batch] + shape)
    let flat = images.reshaped(to: [batch, pixels])
    let isCentered = model.centersData ?? false
    if family == .mlpAutoencoder {
      var output = m.mlp(
        flat, hiddenWidths: model.hiddenWidths ?? [], outputCount: pixels, name: "mlp")
      output = m.activate(output, isCentered ? .tanh : .sigmoid)
      let isLogLoss = model.usesLogLoss ?? false
      let loss = m.graph.meanSquaredError(
        output.reshaped(to: images.shape), target: images,
        logOfMeanOverAxis: isLogLoss ? 1 : nil)
      m.record(output)
      return TaskModel(
        builder: m, inputs: images, loss: loss, lossOffset: 0,
        preparation: .reconstruction(isCentered: isCentered, noiseWidth: 0),
        normalizer: .autoencoder(isLogLoss: isLogLoss))
    }
    let latent = model.latentSize ?? 2
    let encoded = m.mlp(
      flat, hiddenWidths: model.encoderWidths ?? [], outputCount: 2 * latent, name: "encoder")
    let mean = m.graph.slice(encoded, lastAxis: 0..<latent)
    let logScale = m.graph.slice(encoded, lastAxis: latent..<(2 * latent))
    let z = m.graph.gaussianSample(mean: mean, logStandardDeviation: logScale)
    m.record(z, transcendentals: Double(2 * z.count))
    let decoded = m.mlp(
      z, hiddenWidths: model.decoderWidths ?? [], outputCount: 2 * pixels, name: "decoder")
    let decodedScale = m.graph.clip(
      m.graph.slice(decoded, lastAxis: pixels..<(2 * pixels)), to: -10...10)
    let likelihood = m.graph.gaussianLogLikelihood(
      flat, mean: m.graph.slice(decoded, lastAxis: 0..<pixels), logStandardDeviation: decodedScale)
    m.record(decoded, transcendentals: Double(decoded.count))
    let divergence = m.graph.gaussianKL(mean: mean, logStandardDeviation: logScale)
    var loss = m.graph.add(likelihood, divergence)
    // Dequantisation: ln p(x) ≈ ln density + ln(1/255) per pixel (width 2/255 when centred).
    let binWidth: Float = isCentered ? 2 / 255 : 1 / 255
    var offset = -Float(pixels) * Foundation.log(binWidth)
    let isPerDimension = model.usesPerDimensionLoss ?? false
    if isPerDimension {
      loss = m.graph.scale(loss, by: 1 / Float(pixels))
      offset /= Float(pixels)
    }
    return TaskModel(
      builder: m, inputs: images, loss: loss, lossOffset: offset,
      preparation: .reconstruction(isCentered: isCentered, noiseWidth: 1 / 255),
      normalizer: .vae(pixelCount: isPerDimension ? 1 : Float(pixels)))
  }
}
