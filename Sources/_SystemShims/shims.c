// Hardware CRC-32C: the SSE 4.2 `crc32` instruction, 8 bytes at a time, in a function compiled for that
// instruction set only (the rest of the package stays baseline x86-64); callers check availability first.
// Space reservation: fallocate(FALLOC_FL_KEEP_SIZE) on Linux.
#define _GNU_SOURCE
#include "vt_system_shims.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>

int vt_reserve_space(int descriptor, long long length) {
#if defined(__linux__)
    if (fallocate(descriptor, FALLOC_FL_KEEP_SIZE, 0, (off_t)length) == 0) return 0;
    return errno;
#else
    (void)descriptor; (void)length;
    return EOPNOTSUPP;
#endif
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

int vt_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t vt_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t c = (uint32_t)~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);  // unaligned load
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        length -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (length > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p);
        p += 1;
        length -= 1;
    }
    return ~c32;
}

#else

int vt_crc32c_hardware_available(void) { return 0; }

uint32_t vt_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    (void)data; (void)length;
    return crc;  // never called: availability is 0
}

#endif
