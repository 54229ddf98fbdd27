import ArgumentParser
import Foundation
import LoptCore
import LoptTasks
import Testing

@testable import LoptCLI

@Suite struct TasksCommandTests {
  @Test func parsesSampleOptions() throws {
    let command = try LoptCommand.parseAsRoot([
      "tasks", "sample", "--family", "image-conv", "--seed", "4", "--count", "3", "--measure",
    ])
    let sample = try #require(command as? TasksSample)
    #expect(sample.family == .imageConv && sample.seed == 4 && sample.count == 3 && sample.measure)
  }

  @Test(arguments: [
    (["tasks", "sample"], "give exactly one of --family and --distribution"),
    (["tasks", "sample", "--family", "vit", "--distribution", "phase-one"], "exactly one"),
    (
      ["tasks", "sample", "--family", "vit", "--count", "0"], "--count must be in 1...100000, got 0"
    ),
    (["train", "--task", "nope"], "unknown task 'nope'"),
    (["train", "--task", "ae-mnist8", "--spec", "x.json"], "give --task or --spec, not both"),
  ])
  func rejectsBadValuesWithAClearMessage(arguments: [String], message: String) {
    do {
      _ = try LoptCommand.parseAsRoot(arguments)
      Issue.record("\(arguments) was accepted")
    } catch {
      #expect(
        LoptCommand.message(for: error).contains(message), "\(LoptCommand.message(for: error))")
    }
  }

  @Test func trainAcceptsANamedTaskOrASpecFile() throws {
    let named = try #require(
      try LoptCommand.parseAsRoot(["train", "--task", "conv-mnist16"]) as? Train)
    #expect(try named.task.chosenSpec() == TaskSpec.named["conv-mnist16"])
    let file = FileManager.default.temporaryDirectory
      .appendingPathComponent("lopt-spec-\(UUID().uuidString).json")
    defer { try? FileManager.default.removeItem(at: file) }
    let spec = TaskFamily.lstmLM.sample(key: .init(seed: 3))
    try spec.json().write(to: file)
    let fromFile = try #require(
      try LoptCommand.parseAsRoot(["train", "--spec", file.path]) as? Train)
    #expect(try fromFile.task.chosenSpec() == spec)
    let defaults = try #require(try LoptCommand.parseAsRoot(["train"]) as? Train)
    #expect(try defaults.task.chosenSpec() == nil)
  }

  @Test func builtInDistributionsSampleWithinTheirBudgets() throws {
    for (name, distribution) in TaskDistribution.builtIn {
      for seed in 0..<10 as Range<UInt64> {
        let spec = try distribution.sample(key: .init(seed: seed))
        let largest = distribution.budgets.map(\.seconds).max()!
        #expect(CostModel.default.seconds(for: try spec.cost()) <= largest, "\(name)")
      }
    }
    #expect(try TasksSample.loadDistribution("phase-two") == TaskDistribution.builtIn["phase-two"])
    #expect(throws: ValidationError.self) { try TasksSample.loadDistribution("phase-nine") }
  }

  @Test func distributionJSONRejectsUnknownKeys() throws {
    let json = try JSONEncoder().encode(TaskDistribution.builtIn["phase-one"]!)
    #expect(try TaskDistribution(json: json) == TaskDistribution.builtIn["phase-one"])
    var object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
    object["budget"] = 1
    let bad = try JSONSerialization.data(withJSONObject: object)
    #expect(throws: TaskSpecError.unknownField("budget")) { try TaskDistribution(json: bad) }
  }
}
