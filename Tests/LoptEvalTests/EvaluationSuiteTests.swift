import Foundation
import LoptEval
import LoptTasks
import Testing

@Suite struct EvaluationSuiteTests {
  @Test(arguments: EvaluationSuite.builtInNames)
  func theBuiltInSuitesParse(name: String) throws {
    let suite = try EvaluationSuite.load(name)
    #expect(suite.name == name && !suite.tasks.isEmpty && suite.steps == 1000)
  }

  @Test func fixedSmallHoldsEveryNamedTask() throws {
    let suite = try EvaluationSuite.load("fixed-small")
    #expect(Set(suite.tasks.map(\.name)) == Set(TaskSpec.named.keys))
  }

  @Test func readsNamedAndInlineTasksWithDefaults() throws {
    let suite = try EvaluationSuite(
      yaml: """
        steps: 50
        firstSeed: 9
        tasks:
          - task: mlp-fashion8-relu32
          - name: wide
            stepMultiple: 10
            spec: {family: image-mlp, model: {hiddenWidths: [64]},
                   data: {dataset: digits, imageSize: 8}, batchSize: 16, activation: tanh}
        """, name: "mine")
    #expect(suite.steps == 50 && suite.seeds == nil && suite.firstSeed == 9)
    #expect(suite.tasks.map(\.name) == ["mlp-fashion8-relu32", "wide"])
    #expect(suite.tasks[1].stepMultiple == 10 && suite.tasks[1].spec.model.hiddenWidths == [64])
    #expect(suite.tasks[1].spec.augmentation.isEmpty)
  }

  @Test(arguments: [
    ("tasks:\n  - task: mlp-nowhere\n", "tasks[0]: unknown task 'mlp-nowhere'; the named tasks"),
    ("tasks:\n  - task: ae-mnist8\n    colour: red\n", "unknown key 'tasks[0].colour'"),
    ("stepz: 3\ntasks:\n  - task: ae-mnist8\n", "unknown key 'stepz'"),
    (
      "tasks:\n  - task: ae-mnist8\n    spec: {family: image-mlp, model: {hiddenWidths: [4]}, "
        + "data: {dataset: digits, imageSize: 8}, batchSize: 8, activation: relu}\n",
      "tasks[0]: give either 'task: NAME'"
    ),
    (
      "tasks:\n  - spec: {family: image-mlp, model: {hiddenWidths: [0]}, "
        + "data: {dataset: digits, imageSize: 8}, batchSize: 8, activation: relu}\n",
      "tasks[0]: task spec: model.hiddenWidths"
    ),
    ("tasks:\n  - task: ae-mnist8\n  - task: ae-mnist8\n", "'ae-mnist8' is used twice"),
    ("tasks: []\n", "the 'tasks' list is empty"),
    ("- just a list\n", "a suite is a YAML map with a 'tasks' list"),
    ("steps: 0\ntasks:\n  - task: ae-mnist8\n", "steps must be in 1...10000000, got 0"),
    ("seeds: 1000000000\ntasks:\n  - task: ae-mnist8\n", "seeds must be in 1...1000"),
    (
      "tasks:\n  - task: ae-mnist8\n    stepMultiple: 4611686018427387904\n",
      "stepMultiple must be in 1...1000"
    ),
  ])
  func rejectsBadSuitesNamingTheProblem(yaml: String, message: String) {
    do {
      _ = try EvaluationSuite(yaml: yaml, name: "bad.yaml")
      Issue.record("accepted:\n\(yaml)")
    } catch {
      let text = "\(error)"
      #expect(text.hasPrefix("suite bad.yaml") && text.contains(message), "\(text)")
    }
  }

  @Test func anUnknownSuiteNamesTheBuiltInOnes() {
    #expect(throws: SuiteError.notFound(name: "nope", builtIn: EvaluationSuite.builtInNames)) {
      try EvaluationSuite.load("nope")
    }
  }
}
