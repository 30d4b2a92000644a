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

static inline uint16_t round_bf16(float v) {
    uint32_t x;
    memcpy(&x, &v, sizeof x);
    uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    uint32_t quiet = (x >> 16) | 0x0040u;
    return (uint16_t)(((x & 0x7fffffffu) > 0x7f800000u) ? quiet : rounded);
}

__attribute__((target_clones("arch=sapphirerapids", "avx512bw", "avx2", "default")))
void vt_softmax_backward_bf16(const float *restrict p, const float *restrict dP, uint16_t *restrict p16,
                              uint16_t *restrict dS16, float *restrict dBias, size_t nb) {
    for (size_t i = 0; i < nb; i++) {
        const float *pr = p + i * nb, *dr = dP + i * nb;
        float dot = 0;
        for (size_t j = 0; j < nb; j++) dot += pr[j] * dr[j];
        uint16_t *pOut = p16 + i * nb, *dOut = dS16 + i * nb;
        float *bias = dBias + i * nb;
        for (size_t j = 0; j < nb; j++) {
            float value = pr[j] * (dr[j] - dot);
            pOut[j] = round_bf16(pr[j]);
            dOut[j] = round_bf16(value);
            bias[j] += value;
        }
    }
}

#include <math.h>

__attribute__((target_clones("arch=sapphirerapids", "avx512bw", "avx2", "default")))
void vt_softmax_rows_bf16(float *restrict scores, const float *restrict bias, uint16_t *restrict p16, size_t nb, int causal) {
    for (size_t i = 0; i < nb; i++) {
        float *row = scores + i * nb;
        const float *b = bias + i * nb;
        size_t valid = causal ? i + 1 : nb;
        float maximum = -INFINITY;
        for (size_t j = 0; j < valid; j++) { row[j] += b[j]; maximum = row[j] > maximum ? row[j] : maximum; }
        float total = 0;
        for (size_t j = 0; j < valid; j++) { float e = expf(row[j] - maximum); row[j] = e; total += e; }
        float inverse = 1 / total;
        uint16_t *out = p16 + i * nb;
        for (size_t j = 0; j < valid; j++) { row[j] *= inverse; out[j] = round_bf16(row[j]); }
        for (size_t j = valid; j < nb; j++) { row[j] = 0; out[j] = 0; }
    }
}

// Softmax of rows [first, first + count) of one attention block from saved per-row statistics: one code path
// for forward (which first finds each row's maximum and 1/Σexp and saves them) and backward (which reads them),
// so the probabilities backward recomputes are bitwise those forward used. The exponential loop is a plain map
// that the compiler vectorises onto glibc's libmvec (-fveclib=libmvec); both modes run that same loop on the
// same row length, so they evaluate every element with the same routine.
__attribute__((target_clones("arch=sapphirerapids", "avx512bw", "avx2", "default")))
void vt_softmax_tile(float *restrict scores, const float *restrict bias, float *restrict statistics,
                     uint16_t *restrict p16, size_t first, size_t count, size_t columns, size_t ld, float scale,
                     int causal, int recompute) {
    enum { LANES = 16 };
    for (size_t r = 0; r < count; r++) {
        size_t i = first + r;
        float *row = scores + r * ld;
        const float *b = bias + r * ld;
        size_t valid = causal ? i + 1 : columns;
        for (size_t j = 0; j < valid; j++) row[j] = row[j] * scale + b[j];
        float *stats = statistics + 2 * r;
        if (!recompute) {  // maximum over 16 interleaved lanes (order-free), then the row's
            float lanes[LANES];
            for (int l = 0; l < LANES; l++) lanes[l] = -INFINITY;
            size_t j = 0;
            for (; j + LANES <= valid; j += LANES)
                for (int l = 0; l < LANES; l++) lanes[l] = row[j + l] > lanes[l] ? row[j + l] : lanes[l];
            float maximum = -INFINITY;
            for (int l = 0; l < LANES; l++) maximum = lanes[l] > maximum ? lanes[l] : maximum;
            for (; j < valid; j++) maximum = row[j] > maximum ? row[j] : maximum;
            stats[0] = maximum;
        }
        const float maximum = stats[0];
        for (size_t j = 0; j < valid; j++) row[j] = expf(row[j] - maximum);
        if (!recompute) {  // Σ exp in 16 interleaved partial sums, added in a fixed order
            float lanes[LANES] = {0};
            size_t j = 0;
            for (; j + LANES <= valid; j += LANES)
                for (int l = 0; l < LANES; l++) lanes[l] += row[j + l];
            float total = 0;
            for (int l = 0; l < LANES; l++) total += lanes[l];
            for (; j < valid; j++) total += row[j];
            stats[1] = 1 / total;
        }
        const float inverse = stats[1];
        for (size_t j = 0; j < valid; j++) row[j] *= inverse;
        for (size_t j = valid; j < columns; j++) row[j] = 0;
        if (p16) {
            uint16_t *out = p16 + r * ld;
            for (size_t j = 0; j < columns; j++) out[j] = round_bf16(row[j]);
        }
    }
}

__attribute__((target_clones("arch=sapphirerapids", "avx512bw", "avx2", "default")))
void vt_softmax_backward_tile(const float *restrict p, float *restrict dP, uint16_t *restrict p16,
                              uint16_t *restrict dS16, float *restrict dBias, size_t count, size_t columns, size_t ld,
                              float scale16) {
    for (size_t r = 0; r < count; r++) {
        const float *pr = p + r * ld;
        float *dr = dP + r * ld, *bias = dBias + r * ld;
        float dot = 0;
        for (size_t j = 0; j < columns; j++) dot += pr[j] * dr[j];
        for (size_t j = 0; j < columns; j++) {
            float value = pr[j] * (dr[j] - dot);
            dr[j] = value;
            bias[j] += value;
        }
        if (p16) {
            uint16_t *pOut = p16 + r * ld, *dOut = dS16 + r * ld;
            for (size_t j = 0; j < columns; j++) { pOut[j] = round_bf16(pr[j]); dOut[j] = round_bf16(dr[j] * scale16); }
        }
    }
}

// Row-deterministic products (see the header): tiles of 4 rows × 64 columns held in accumulators, the
// weights' row k read once per tile; the same k-ordered sum for every element of every row. Each step is a
// fused multiply-add (one rounding): an FMA instruction on x86-64-v3/v4, libm's exact fmaf elsewhere, so the
// bits are the same on every x86-64 CPU. (-ffp-contract=off keeps the compiler from fusing anything else.)
#define VT_TILE_ROWS 4
#define VT_TILE_COLUMNS 64

static inline float bf16_to_float(uint16_t v) {
    uint32_t x = (uint32_t)v << 16;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

// Full 64-column tiles take a branch-free inner loop (which vectorises); edge tiles and padding rows the
// general one. Both add the same products in the same k order, so a row's result never depends on the path.
#define VT_ROWS_PRODUCT_BODY(LOAD_X, LOAD_W)                                                              \
    for (size_t r0 = 0; r0 < rows; r0 += VT_TILE_ROWS) {                                                  \
        size_t tileRows = rows - r0 < VT_TILE_ROWS ? rows - r0 : VT_TILE_ROWS;                            \
        for (size_t j0 = 0; j0 < n; j0 += VT_TILE_COLUMNS) {                                              \
            size_t width = n - j0 < VT_TILE_COLUMNS ? n - j0 : VT_TILE_COLUMNS;                           \
            float acc[VT_TILE_ROWS][VT_TILE_COLUMNS];                                                     \
            memset(acc, 0, sizeof acc);                                                                   \
            if (width == VT_TILE_COLUMNS) {                                                               \
                float xs[VT_TILE_ROWS];                                                                   \
                for (size_t p = 0; p < k; p++) {                                                          \
                    for (size_t r = 0; r < VT_TILE_ROWS; r++)                                             \
                        xs[r] = r < tileRows ? LOAD_X(x[(r0 + r) * ldx + p]) : 0.0f;                      \
                    for (size_t r = 0; r < VT_TILE_ROWS; r++) {                                           \
                        float xv = xs[r];                                                                 \
                        for (size_t j = 0; j < VT_TILE_COLUMNS; j++)                                      \
                            acc[r][j] = __builtin_fmaf(xv, LOAD_W(w[p * ld + j0 + j]), acc[r][j]);       \
                    }                                                                                     \
                }                                                                                         \
            } else {                                                                                      \
                for (size_t p = 0; p < k; p++) {                                                          \
                    for (size_t r = 0; r < tileRows; r++) {                                               \
                        float xv = LOAD_X(x[(r0 + r) * ldx + p]);                                         \
                        for (size_t j = 0; j < width; j++)                                                \
                            acc[r][j] = __builtin_fmaf(xv, LOAD_W(w[p * ld + j0 + j]), acc[r][j]);       \
                    }                                                                                     \
                }                                                                                         \
            }                                                                                             \
            for (size_t r = 0; r < tileRows; r++) {                                                       \
                float *o = out + (r0 + r) * ld + j0;                                                      \
                for (size_t j = 0; j < width; j++) {                                                      \
                    float v = acc[r][j] + (bias ? bias[j0 + j] : 0.0f);                                   \
                    o[j] = accumulate ? o[j] + v : v;                                                     \
                }                                                                                         \
            }                                                                                             \
        }                                                                                                 \
    }

#define VT_IDENTITY(v) (v)

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void vt_rows_product_f32(float *out, const float *x, size_t ldx, const float *w, const float *bias,
                         size_t rows, size_t k, size_t n, size_t ld, int accumulate) {
    VT_ROWS_PRODUCT_BODY(VT_IDENTITY, VT_IDENTITY)
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void vt_rows_product_bf16(float *out, const uint16_t *x, size_t ldx, const uint16_t *w, const float *bias,
                          size_t rows, size_t k, size_t n, size_t ld, int accumulate) {
    VT_ROWS_PRODUCT_BODY(bf16_to_float, bf16_to_float)
}
