#include "vt_mpi_shims.h"

MPI_Comm vt_mpi_comm_world(void) { return MPI_COMM_WORLD; }
MPI_Comm vt_mpi_comm_null(void) { return MPI_COMM_NULL; }
MPI_Datatype vt_mpi_float(void) { return MPI_FLOAT; }
MPI_Datatype vt_mpi_double(void) { return MPI_DOUBLE; }
MPI_Datatype vt_mpi_byte(void) { return MPI_BYTE; }
MPI_Datatype vt_mpi_int32(void) { return MPI_INT32_T; }
MPI_Datatype vt_mpi_int64(void) { return MPI_INT64_T; }
MPI_Datatype vt_mpi_uint64(void) { return MPI_UINT64_T; }
MPI_Op vt_mpi_sum(void) { return MPI_SUM; }
MPI_Op vt_mpi_max(void) { return MPI_MAX; }
MPI_Op vt_mpi_min(void) { return MPI_MIN; }
MPI_Op vt_mpi_bxor(void) { return MPI_BXOR; }
MPI_Request vt_mpi_request_null(void) { return MPI_REQUEST_NULL; }
void *vt_mpi_in_place(void) { return MPI_IN_PLACE; }
MPI_Status *vt_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
MPI_Errhandler vt_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
int vt_mpi_success(void) { return MPI_SUCCESS; }
int vt_mpi_undefined(void) { return MPI_UNDEFINED; }
int vt_mpi_thread_single(void) { return MPI_THREAD_SINGLE; }
int vt_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
int vt_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
int vt_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
int vt_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
