// oneDNN's C API (Debian: libdnnl-dev; no pkg-config file, so the header path and library are fixed).
// Debian builds oneDNN with OpenMP (libgomp): the two OpenMP calls vt needs are declared here so that
// each calling thread can pin oneDNN to itself (see Sources/OneDNN/OneDNN.swift, "Threads").
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

extern void omp_set_num_threads(int count);
extern int omp_get_max_threads(void);
