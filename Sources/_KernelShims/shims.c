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

__attribute__((target_clones("arch=sapphirerapids", "avx512bw", "avx2", "default")))
void vt_round_rows_with_column_sums(const float *restrict dOut, const uint16_t *restrict mask, uint16_t *restrict target,
                                    float *restrict sums, size_t rows, size_t columns) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = dOut + r * columns;
        const uint16_t *keep = mask ? mask + r * columns : 0;
        uint16_t *out = target + r * columns;
        for (size_t c = 0; c < columns; c++) {
            float v = row[c];
            if (keep) v = (keep[c] != 0 && keep[c] <= 0x7f80u) ? v : 0.0f;
            uint32_t x;
            memcpy(&x, &v, sizeof x);
            uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
            uint32_t quiet = (x >> 16) | 0x0040u;
            out[c] = (uint16_t)(((x & 0x7fffffffu) > 0x7f800000u) ? quiet : rounded);
            if (sums) sums[c] += v;
        }
    }
}
