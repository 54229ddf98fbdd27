import Testing

@testable import LoptMeta

/// The parts of ``MPIExchange`` that need no MPI launcher.
///
/// Loading errors, launcher detection and the process-count check; runs under `mpirun` are
/// checked by scripts/test-mpi.sh.
@Suite struct MPIExchangeTests {
  /// An exchange of `size` processes that only answers for its size.
  final class SizedExchange: LaneExchange {
    let rank = 0
    let size: Int

    init(size: Int) { self.size = size }

    func allGather(_ values: [Double]) throws -> [Double] {
      Array([[Double]](repeating: values, count: size).joined())
    }
  }

  @Test func missingRuntimeIsAClearError() {
    do {
      _ = try MPIExchange(libraryNames: ["/nonexistent/lopt-test/libmpi.so.40"])
      Issue.record("loading a nonexistent libmpi succeeded")
    } catch let error as MPIExchangeError {
      guard case .runtimeUnavailable(let reason) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(reason.contains("/nonexistent/lopt-test/libmpi.so.40"))
      #expect(error.description.contains("apt-get install openmpi-bin"))
    } catch {
      Issue.record("unexpected error type \(error)")
    }
  }

  @Test func libraryWithoutMPIIsAClearError() {
    // The C library loads but has no MPI entry points.
    #expect(
      throws: MPIExchangeError.missingSymbol(name: "MPI_Init_thread", library: "libc.so.6")
    ) {
      _ = try MPIExchange(libraryNames: ["/nonexistent/libmpi.so.40", "libc.so.6"])
    }
  }

  @Test func launcherIsDetectedFromTheEnvironment() {
    #expect(!MPIExchange.isStartedByLauncher(environment: [:]))
    #expect(!MPIExchange.isStartedByLauncher(environment: ["OMPI_MCA_foo": "1", "RANK": "0"]))
    #expect(MPIExchange.isStartedByLauncher(environment: ["OMPI_COMM_WORLD_SIZE": "2"]))
    #expect(MPIExchange.isStartedByLauncher(environment: ["PMIX_RANK": "0"]))
    #expect(MPIExchange.isStartedByLauncher(environment: ["PMI_RANK": "3"]))
  }

  @Test func moreProcessesThanLanesIsAClearError() throws {
    var configuration = MetaTrainingConfiguration()
    configuration.estimator.pairs = 4
    try SizedExchange(size: 4).checkProcessCount(for: configuration)
    try LocalExchange().checkProcessCount(for: configuration)
    let error = MPIExchangeError.tooManyProcesses(processes: 5, lanes: 4)
    #expect(throws: error) { try SizedExchange(size: 5).checkProcessCount(for: configuration) }
    #expect(error.description.contains("at most 4 processes"))
  }

  @Test func callErrorsNameTheFunction() {
    let error = MPIExchangeError.callFailed(
      function: "MPI_Allgather", code: 15, message: "MPI_ERR_TRUNCATE: message truncated")
    let expected = "MPI_Allgather failed with MPI error 15: MPI_ERR_TRUNCATE: message truncated"
    #expect(error.description == expected)
  }
}
