// Open MPI's C API (Debian: libopenmpi-dev, pkg-config `mpi`). Handles that are macros are in _MPIShims.
#include <mpi.h>
