// The few MPI declarations Lopt's MPIExchange needs, written out so that building Lopt needs no
// MPI headers and no `lopt` binary links libmpi: LoptMeta loads Open MPI's libmpi.so.40 with
// dlopen when a run is started by an MPI launcher. This module links nothing.
//
// The signatures are those of MPI 3.1 as declared by Open MPI 4.x
// (/usr/include/x86_64-linux-gnu/openmpi/mpi.h on Debian 12). Open MPI's handles are pointers:
// MPI_COMM_WORLD is `&ompi_mpi_comm_world`, MPI_DOUBLE is `&ompi_mpi_double` and
// MPI_ERRORS_RETURN is `&ompi_mpi_errors_return` (checked with `mpicc -E`), so they are the
// addresses dlsym returns for those global symbols. MPICH's handles are integers instead; its ABI
// is not supported.
#ifndef LOPT_CMPI_SHIM_H
#define LOPT_CMPI_SHIM_H

/// An Open MPI handle (MPI_Comm, MPI_Datatype, MPI_Errhandler): a pointer to a library object.
typedef void *lopt_mpi_handle;

/// MPI_SUCCESS.
#define LOPT_MPI_SUCCESS 0
/// MPI_THREAD_SERIALIZED: any thread may call MPI, one at a time.
#define LOPT_MPI_THREAD_SERIALIZED 2
/// MPI_MAX_ERROR_STRING in Open MPI.
#define LOPT_MPI_MAX_ERROR_STRING 256

/// int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
typedef int (*lopt_mpi_init_thread_fn)(int *argc, char ***argv, int required, int *provided);
/// int MPI_Initialized(int *flag), int MPI_Finalized(int *flag)
typedef int (*lopt_mpi_flag_fn)(int *flag);
/// int MPI_Comm_rank(MPI_Comm comm, int *rank), int MPI_Comm_size(MPI_Comm comm, int *size)
typedef int (*lopt_mpi_comm_int_fn)(lopt_mpi_handle comm, int *value);
/// int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler)
typedef int (*lopt_mpi_set_errhandler_fn)(lopt_mpi_handle comm, lopt_mpi_handle errhandler);
/// int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
///                   int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
typedef int (*lopt_mpi_allgather_fn)(
  const void *sendbuf, int sendcount, lopt_mpi_handle sendtype, void *recvbuf, int recvcount,
  lopt_mpi_handle recvtype, lopt_mpi_handle comm);
/// int MPI_Abort(MPI_Comm comm, int errorcode)
typedef int (*lopt_mpi_abort_fn)(lopt_mpi_handle comm, int errorcode);
/// int MPI_Finalize(void)
typedef int (*lopt_mpi_finalize_fn)(void);
/// int MPI_Error_string(int errorcode, char *string, int *resultlen)
typedef int (*lopt_mpi_error_string_fn)(int errorcode, char *string, int *resultlen);

#endif
