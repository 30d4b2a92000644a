// The HDF5 C library (Debian: libhdf5-dev, serial flavour). Type ids that are macros are in _HDF5Shims.
#include <hdf5.h>
