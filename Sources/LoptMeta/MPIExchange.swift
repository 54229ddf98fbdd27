import CMPI
import Foundation
import Synchronization

/// Why an MPI exchange could not be set up or used.
public enum MPIExchangeError: Error, Equatable, CustomStringConvertible {
  /// No MPI runtime library could be loaded; `reason` is the loader's last message.
  case runtimeUnavailable(reason: String)
  /// The loaded library lacks an entry point (not Open MPI 4.x or later).
  case missingSymbol(name: String, library: String)
  /// An MPI call returned an error code.
  case callFailed(function: String, code: Int, message: String)
  /// The exchange was used after ``MPIExchange/finalize()``.
  case finalized
  /// More processes than lanes: some process would have nothing to do.
  case tooManyProcesses(processes: Int, lanes: Int)

  /// What went wrong and what to do about it.
  public var description: String {
    switch self {
    case .runtimeUnavailable(let reason):
      return "this process was started by an MPI launcher but Lopt cannot load Open MPI's "
        + "libmpi.so.40 (\(reason)); install the runtime (apt-get install openmpi-bin "
        + "libopenmpi3, or `make deps`) or load your cluster's Open MPI module, and start "
        + "lopt with that Open MPI's mpirun"
    case .missingSymbol(let name, let library):
      return "\(library) has no symbol \(name); Lopt needs Open MPI 4 or later (MPICH and "
        + "Intel MPI are not supported)"
    case .callFailed(let function, let code, let message):
      return "\(function) failed with MPI error \(code): \(message)"
    case .finalized:
      return "the MPI exchange was used after MPI_Finalize; start a new process"
    case .tooManyProcesses(let processes, let lanes):
      return "\(processes) processes but only \(lanes) lanes (estimator.pairs) per outer step; "
        + "start at most \(lanes) processes (mpirun -np \(lanes)) or raise estimator.pairs"
    }
  }
}

/// The lane exchange of a run started by an MPI launcher (`mpirun`, `srun`): one process per
/// rank of `MPI_COMM_WORLD`, results shared with `MPI_Allgather`.
///
/// Lopt does not link MPI: this class loads Open MPI's `libmpi.so.40` with `dlopen` when it is
/// created, so `lopt` runs on machines without MPI, and only runs started by a launcher need
/// it. Errors that MPI reports are thrown (the communicator's error handler is set to
/// `MPI_ERRORS_RETURN`); after one, call ``abort(code:)`` so that the other ranks, which may
/// be waiting in a collective, end too.
///
/// Calls are serialised by a lock, and MPI is initialised with `MPI_THREAD_SERIALIZED`, so
/// any thread may use the exchange.
public final class MPIExchange: LaneExchange, @unchecked Sendable {
  /// Where ``init(libraryNames:)`` looks for Open MPI, in order (the dynamic loader's search
  /// path first, then Debian's and Ubuntu's multiarch directories).
  public static let defaultLibraryNames = [
    "libmpi.so.40",
    "/usr/lib/x86_64-linux-gnu/libmpi.so.40",
    "/usr/lib/aarch64-linux-gnu/libmpi.so.40",
  ]

  /// This process's rank in `MPI_COMM_WORLD`.
  public let rank: Int
  /// The number of ranks in `MPI_COMM_WORLD`.
  public let size: Int

  /// Wall seconds spent in ``allGather(_:)`` so far, waiting for slower ranks included.
  ///
  /// A rank whose lanes are cheaper than others' waits longer: the spread of this value over
  /// ranks measures the load imbalance of a run.
  public var exchangeSeconds: Double { state.withLock { $0.exchangeSeconds } }

  private let library: MPILibrary
  /// Held while calling MPI.
  private let state = Mutex(ExchangeState())

  /// What the exchange has done so far.
  private struct ExchangeState {
    var isFinalized = false
    var exchangeSeconds = 0.0
  }

  /// Loads Open MPI, initialises it (unless this process already did) and reads the rank and
  /// size of `MPI_COMM_WORLD`.
  ///
  /// - Parameter libraryNames: file names or paths of `libmpi` to try, in order.
  /// - Throws: ``MPIExchangeError/runtimeUnavailable(reason:)`` when no library loads,
  ///   ``MPIExchangeError/missingSymbol(name:library:)`` when it is not Open MPI,
  ///   ``MPIExchangeError/callFailed(function:code:message:)`` when MPI reports an error.
  public init(libraryNames: [String] = MPIExchange.defaultLibraryNames) throws {
    let library = try MPILibrary(names: libraryNames)
    self.library = library
    var flag: Int32 = 0
    try library.check("MPI_Finalized", library.finalized(&flag))
    if flag != 0 { throw MPIExchangeError.finalized }
    try library.check("MPI_Initialized", library.initialized(&flag))
    if flag == 0 {
      var provided: Int32 = 0
      try library.check(
        "MPI_Init_thread", library.initThread(nil, nil, LOPT_MPI_THREAD_SERIALIZED, &provided))
    }
    try library.check(
      "MPI_Comm_set_errhandler", library.setErrorHandler(library.world, library.errorsReturn))
    var value: Int32 = 0
    try library.check("MPI_Comm_rank", library.commRank(library.world, &value))
    rank = Int(value)
    try library.check("MPI_Comm_size", library.commSize(library.world, &value))
    size = Int(value)
  }

  /// Every rank passes the same number of values and receives all of them, rank 0's first.
  ///
  /// - Throws: ``MPIExchangeError/callFailed(function:code:message:)`` when `MPI_Allgather`
  ///   fails, ``MPIExchangeError/finalized`` after ``finalize()``.
  /// - Complexity: one `MPI_Allgather` of `values.count` doubles per rank.
  public func allGather(_ values: [Double]) throws -> [Double] {
    precondition(values.count * size <= Int(Int32.max), "allGather payload too large for MPI")
    return try state.withLock { state -> [Double] in
      if state.isFinalized { throw MPIExchangeError.finalized }
      let start = ContinuousClock.now
      defer {
        let elapsed = (ContinuousClock.now - start).components
        state.exchangeSeconds += Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
      }
      var all = [Double](repeating: 0, count: values.count * size)
      let count = Int32(values.count)
      let code = values.withUnsafeBufferPointer { send in
        all.withUnsafeMutableBufferPointer { receive in
          library.allGather(
            send.baseAddress, count, library.double, receive.baseAddress, count, library.double,
            library.world)
        }
      }
      try library.check("MPI_Allgather", code)
      return all
    }
  }

  /// Ends MPI in this process.
  ///
  /// Every rank calls it once, after its last exchange; later calls do nothing.
  ///
  /// - Throws: ``MPIExchangeError/callFailed(function:code:message:)``.
  public func finalize() throws {
    try state.withLock { state in
      if state.isFinalized { return }
      state.isFinalized = true
      try library.check("MPI_Finalize", library.finalize())
    }
  }

  /// Ends every rank of the run with exit status `code` (`MPI_Abort` on `MPI_COMM_WORLD`).
  ///
  /// Use it after an error that this rank alone may have met, so that no rank is left
  /// waiting in a collective.
  public func abort(code: Int32 = 1) -> Never {
    _ = library.abort(library.world, code)
    exit(code)
  }

  /// Whether the environment shows that this process was started by an MPI launcher: Open
  /// MPI's `mpirun` sets `OMPI_COMM_WORLD_SIZE`, Slurm's `srun` sets `PMIX_RANK` (PMIx) or
  /// `PMI_RANK` (PMI-2).
  public static func isStartedByLauncher(environment: [String: String]) -> Bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { environment[$0] != nil }
  }
}

extension LaneExchange {
  /// Checks that every process of this exchange owns at least one lane of an outer step.
  ///
  /// Call it before ``metaTrain(_:directory:resume:exchange:observer:)``: every process
  /// reaches the same verdict, so none is left waiting.
  ///
  /// - Throws: ``MPIExchangeError/tooManyProcesses(processes:lanes:)`` when there are more
  ///   processes than `configuration.estimator.pairs`.
  public func checkProcessCount(for configuration: MetaTrainingConfiguration) throws {
    let lanes = configuration.estimator.pairs
    if size > lanes { throw MPIExchangeError.tooManyProcesses(processes: size, lanes: lanes) }
  }
}

/// Open MPI's entry points and predefined handles, resolved with `dlsym`.
private struct MPILibrary {
  let path: String
  let initThread: lopt_mpi_init_thread_fn
  let initialized: lopt_mpi_flag_fn
  let finalized: lopt_mpi_flag_fn
  let commRank: lopt_mpi_comm_int_fn
  let commSize: lopt_mpi_comm_int_fn
  let setErrorHandler: lopt_mpi_set_errhandler_fn
  let allGather: lopt_mpi_allgather_fn
  let abort: lopt_mpi_abort_fn
  let finalize: lopt_mpi_finalize_fn
  let errorString: lopt_mpi_error_string_fn
  /// `MPI_COMM_WORLD`: the address of `ompi_mpi_comm_world`.
  let world: lopt_mpi_handle
  /// `MPI_DOUBLE`: the address of `ompi_mpi_double`.
  let double: lopt_mpi_handle
  /// `MPI_ERRORS_RETURN`: the address of `ompi_mpi_errors_return`.
  let errorsReturn: lopt_mpi_handle

  /// Loads the first of `names` that `dlopen` accepts.
  ///
  /// With `RTLD_GLOBAL`, because Open MPI's plug-ins (loaded by `MPI_Init`) resolve libmpi's
  /// symbols globally.
  init(names: [String]) throws {
    var reasons: [String] = []
    var loaded: (UnsafeMutableRawPointer, String)?
    for name in names {
      if let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) {
        loaded = (handle, name)
        break
      }
      reasons.append(dlerror().map { String(cString: $0) } ?? "\(name): not found")
    }
    guard let (handle, path) = loaded else {
      throw MPIExchangeError.runtimeUnavailable(
        reason: reasons.last ?? "no library names were given")
    }
    func symbol<T>(_ name: String, as type: T.Type) throws -> T {
      guard let address = dlsym(handle, name) else {
        throw MPIExchangeError.missingSymbol(name: name, library: path)
      }
      return unsafeBitCast(address, to: type)
    }
    self.path = path
    initThread = try symbol("MPI_Init_thread", as: lopt_mpi_init_thread_fn.self)
    initialized = try symbol("MPI_Initialized", as: lopt_mpi_flag_fn.self)
    finalized = try symbol("MPI_Finalized", as: lopt_mpi_flag_fn.self)
    commRank = try symbol("MPI_Comm_rank", as: lopt_mpi_comm_int_fn.self)
    commSize = try symbol("MPI_Comm_size", as: lopt_mpi_comm_int_fn.self)
    setErrorHandler = try symbol("MPI_Comm_set_errhandler", as: lopt_mpi_set_errhandler_fn.self)
    allGather = try symbol("MPI_Allgather", as: lopt_mpi_allgather_fn.self)
    abort = try symbol("MPI_Abort", as: lopt_mpi_abort_fn.self)
    finalize = try symbol("MPI_Finalize", as: lopt_mpi_finalize_fn.self)
    errorString = try symbol("MPI_Error_string", as: lopt_mpi_error_string_fn.self)
    world = try symbol("ompi_mpi_comm_world", as: lopt_mpi_handle.self)
    double = try symbol("ompi_mpi_double", as: lopt_mpi_handle.self)
    errorsReturn = try symbol("ompi_mpi_errors_return", as: lopt_mpi_handle.self)
  }

  /// Throws unless `code` is `MPI_SUCCESS`, with MPI's own description of the error.
  func check(_ function: String, _ code: Int32) throws {
    guard code != LOPT_MPI_SUCCESS else { return }
    var buffer = [CChar](repeating: 0, count: Int(LOPT_MPI_MAX_ERROR_STRING) + 1)
    var length: Int32 = 0
    let message =
      errorString(code, &buffer, &length) == LOPT_MPI_SUCCESS
      ? String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
      : "unknown error"
    throw MPIExchangeError.callFailed(function: function, code: Int(code), message: message)
  }
}
