#include "kernel_shims.h"
#include <string.h>

__attribute__((target_clones("arch=sapphirerapids", "avx512bw", "avx2", "default")))
void vt_round_to_bf16(const float *restrict source, uint16_t *restrict target, size_t count) {
    const uint32_t *bits = (const uint32_t *)source;
    for (size_t i = 0; i < count; i++) {
        uint32_t x = bits[i];
        uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
        uint32_t quiet = (x >> 16) | 0x0040u;
        target[i] = (uint16_t)(((x & 0x7fffffffu) > 0x7f800000u) ? quiet : rounded);
    }
}

__attribute__((target_clones("arch=sapphirerapids", "avx512bw", "avx2", "default")))
void vt_relu_backward_bf16(float *dInput, const float *dOut, const uint16_t *restrict output, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint16_t x = output[i];
        dInput[i] = (x != 0 && x <= 0x7f80u) ? dOut[i] : 0.0f;
    }
}
