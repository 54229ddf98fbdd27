import Foundation
import LoptCore
import LoptOptimizers
import Testing

@Suite struct StateCheckpointTests {
  static let layout = ParameterLayout([("w", [3, 4]), ("b", [4])])

  @Test func aStateForOtherShapesIsRefusedWithTheTensorAndBothShapes() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "lopt-state-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("adam.safetensors")
    let adam = Adam()
    let parameters = ParameterSet(layout: Self.layout)
    try adam.saveState(adam.makeState(for: parameters, totalSteps: 1), to: url)
    let other = ParameterSet(layout: ParameterLayout([("w", [4, 3]), ("b", [4])]))
    do {
      _ = try adam.loadState(from: url, for: other, totalSteps: 1)
      Issue.record("a state for other shapes was accepted")
    } catch {
      let message = String(describing: error)
      #expect(message.contains("mu/w") && message.contains("adam.safetensors"), "\(message)")
    }
  }

  @Test func aStateOfAnotherOptimizerIsRefused() throws {
    var file = SafetensorsFile()
    let parameters = ParameterSet(layout: Self.layout)
    Lion().makeState(for: parameters, totalSteps: 1).write(into: &file, prefix: "")
    var state = RMSProp(learningRate: 0.1).makeState(for: parameters, totalSteps: 1)
    #expect(throws: SafetensorsError.self) { try state.restore(from: file, prefix: "") }
  }
}
