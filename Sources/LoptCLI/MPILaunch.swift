import Foundation
import LoptMeta

/// How a command finds the other processes of its run.
enum MPILaunch {
  /// The exchange of this process: an ``MPIExchange`` over `MPI_COMM_WORLD` when an MPI
  /// launcher (`mpirun`, `srun`) started it, else a ``LocalExchange``.
  ///
  /// `LOPT_MPI_LIBRARY` in the environment names the `libmpi` to load instead of Open MPI's
  /// usual `libmpi.so.40` (for an Open MPI installed elsewhere, or to test the error).
  ///
  /// - Throws: ``MPIExchangeError`` when the launcher's MPI runtime cannot be loaded or
  ///   initialised.
  static func makeExchange(
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws -> any LaneExchange {
    guard MPIExchange.isStartedByLauncher(environment: environment) else {
      return LocalExchange()
    }
    if let library = environment["LOPT_MPI_LIBRARY"], !library.isEmpty {
      return try MPIExchange(libraryNames: [library])
    }
    return try MPIExchange()
  }

  /// Runs `body`, the collective part of a command, then ends MPI.
  ///
  /// With `LOPT_MPI_TIMING` set in the environment, every rank then prints on standard error
  /// the seconds it spent in `MPI_Allgather` (its waits for slower ranks included).
  ///
  /// When `body` throws in a run of several processes, this process prints the error on
  /// standard error and ends every process with `MPI_Abort` (exit status 1): the others may
  /// be waiting for it in an exchange, and would otherwise hang. In a single process the
  /// error is rethrown, for the command's usual error report.
  static func run<Result>(
    on exchange: any LaneExchange, _ body: () throws -> Result
  ) throws -> Result {
    guard let mpi = exchange as? MPIExchange else { return try body() }
    let result: Result
    do {
      result = try body()
    } catch {
      guard mpi.size > 1 else {
        try? mpi.finalize()
        throw error
      }
      FileHandle.standardError.write(
        Data("error (rank \(mpi.rank) of \(mpi.size)): \(error)\n".utf8))
      mpi.abort(code: 1)
    }
    if ProcessInfo.processInfo.environment["LOPT_MPI_TIMING"] != nil {
      FileHandle.standardError.write(
        Data(
          String(
            format: "rank %d of %d: %.3f s in MPI_Allgather\n", mpi.rank, mpi.size,
            mpi.exchangeSeconds
          ).utf8))
    }
    try mpi.finalize()
    return result
  }
}
