// HDF5's predefined type ids and file-access flags are macros (some expand to calls that open the
// library), which Swift cannot import. Each function here returns one of them; nothing else lives here.
#ifndef VT_HDF5_SHIMS_H
#define VT_HDF5_SHIMS_H
#include <hdf5.h>

hid_t vt_h5t_native_float(void);
hid_t vt_h5t_native_double(void);
hid_t vt_h5t_native_uint8(void);
hid_t vt_h5t_native_int32(void);
hid_t vt_h5t_native_int64(void);
hid_t vt_h5t_native_uint32(void);
hid_t vt_h5t_native_uint64(void);
hid_t vt_h5t_c_s1(void);
hid_t vt_h5p_default(void);
hid_t vt_h5p_file_create(void);
hid_t vt_h5p_file_access(void);
hid_t vt_h5p_dataset_create(void);
hid_t vt_h5p_link_create(void);
hid_t vt_h5s_all(void);
unsigned vt_h5f_acc_trunc(void);
unsigned vt_h5f_acc_excl(void);
unsigned vt_h5f_acc_rdonly(void);
unsigned vt_h5f_acc_rdwr(void);
size_t vt_h5t_variable(void);
/// H5S_UNLIMITED: the maximum size of a dimension that may grow without bound.
hsize_t vt_h5s_unlimited(void);
/// Turns off HDF5's automatic error-stack printing, so failures surface only as Swift errors.
void vt_h5_silence_errors(void);

#endif
