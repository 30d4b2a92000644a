// What vt needs from C beyond the libraries' own headers: CRC-32C with the CPU's own instruction (SSE 4.2
// `crc32`, x86-64, checked for at run time; about ten times the table-driven CRC in Common, which stays the
// fallback and the oracle), and reserving a file's disk space before writing it (Linux fallocate with
// FALLOC_FL_KEEP_SIZE, which Swift's Glibc module does not export). Nothing else here.
#ifndef VT_SYSTEM_SHIMS_H
#define VT_SYSTEM_SHIMS_H
#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the CRC-32C instruction (and this build can use it), else 0.
int vt_crc32c_hardware_available(void);

/// The CRC-32C of `length` bytes at `data`, continuing from `crc` (0 to start), with the usual
/// pre- and post-inversion, so results chain like `CRC32C.checksum(_:continuing:)`. Only call it when
/// `vt_crc32c_hardware_available()` returns 1.
uint32_t vt_crc32c_hardware(uint32_t crc, const void *data, size_t length);

/// Allocates disk blocks for bytes [0, length) of the open file `descriptor` without changing its size,
/// so later writes there cannot fail for lack of space. Returns 0, or an errno: ENOSPC/EDQUOT (no room),
/// EOPNOTSUPP (the filesystem cannot reserve; writes proceed unreserved).
int vt_reserve_space(int descriptor, long long length);

#endif
