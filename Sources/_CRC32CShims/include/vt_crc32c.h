// CRC-32C with the CPU's own instruction (SSE 4.2 `crc32`, x86-64), checked for at run time: about ten
// times the table-driven CRC in Datasets, which stays the fallback and the oracle. Nothing else here.
#ifndef VT_CRC32C_H
#define VT_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the CRC-32C instruction (and this build can use it), else 0.
int vt_crc32c_hardware_available(void);

/// The CRC-32C of `length` bytes at `data`, continuing from `crc` (0 to start), with the usual
/// pre- and post-inversion, so results chain like `CRC32C.checksum(_:continuing:)`. Only call it when
/// `vt_crc32c_hardware_available()` returns 1.
uint32_t vt_crc32c_hardware(uint32_t crc, const void *data, size_t length);

#endif
