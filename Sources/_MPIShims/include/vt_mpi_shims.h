// Open MPI's predefined handles are macros over link-time objects, which Swift cannot import.
// Each function here returns one of them; nothing else lives in this target.
#ifndef VT_MPI_SHIMS_H
#define VT_MPI_SHIMS_H
#include <mpi.h>

MPI_Comm vt_mpi_comm_world(void);
MPI_Comm vt_mpi_comm_null(void);
MPI_Datatype vt_mpi_float(void);
MPI_Datatype vt_mpi_double(void);
MPI_Datatype vt_mpi_byte(void);
MPI_Datatype vt_mpi_int32(void);
MPI_Datatype vt_mpi_int64(void);
MPI_Datatype vt_mpi_uint64(void);
MPI_Op vt_mpi_sum(void);
MPI_Op vt_mpi_max(void);
MPI_Op vt_mpi_min(void);
MPI_Op vt_mpi_bxor(void);
MPI_Request vt_mpi_request_null(void);
void *vt_mpi_in_place(void);
MPI_Status *vt_mpi_status_ignore(void);
MPI_Errhandler vt_mpi_errors_return(void);
int vt_mpi_success(void);
int vt_mpi_undefined(void);
// Thread support levels for MPI_Init_thread (ordered: single < funneled < serialized < multiple).
int vt_mpi_thread_single(void);
int vt_mpi_thread_funneled(void);
int vt_mpi_thread_serialized(void);
int vt_mpi_thread_multiple(void);
int vt_mpi_max_error_string(void);

#endif
