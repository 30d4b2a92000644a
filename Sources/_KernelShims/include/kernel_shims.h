// Kernel shims: the fp32 → bf16 rounding loop in C, so the compiler can vectorise it for the CPU it runs on
// (function multiversioning: AVX-512, AVX2 or baseline chosen at load time). Swift builds for the baseline
// x86-64 ISA and leaves this loop scalar. Same rule as BFloat16.init(_:) (Sources/Kernels/BFloat16.swift).
#pragma once
#include <stddef.h>
#include <stdint.h>

/// target[i] = bf16(source[i]): round to nearest, ties to even; NaN → quiet NaN (sign, top payload kept).
void vt_round_to_bf16(const float *source, uint16_t *target, size_t count);

/// dInput[i] = dOut[i] where bf16 output[i] > 0 (positive, +∞ included, NaN not), else 0. dInput may alias dOut.
void vt_relu_backward_bf16(float *dInput, const float *dOut, const uint16_t *output, size_t count);

/// For rows [0, rows) of a rows × columns fp32 gradient `dOut` (row stride `columns`): v = dOut, or 0 where
/// `mask` (a bf16 ReLU output, may be NULL) is not positive; target[r, c] = bf16(v) and, when `sums` is not
/// NULL, sums[c] += v in row order. One pass for what a bf16 backward needs of a product's output gradient.
void vt_round_rows_with_column_sums(const float *dOut, const uint16_t *mask, uint16_t *target, float *sums,
                                    size_t rows, size_t columns);

/// Softmax backward of one nb × nb attention block for bf16 products: with P (fp32) and dP = dO·Vᵀ (fp32),
/// dS = P ⊙ (dP − Σ_j dP·P) row by row; writes p16 = bf16(P) and dS16 = bf16(dS), adds dS to dBias.
void vt_softmax_backward_bf16(const float *p, const float *dP, uint16_t *p16, uint16_t *dS16, float *dBias, size_t nb);

/// Softmax of one nb × nb block of scores in place (row i: + bias row, over j < valid(i) = causal ? i + 1 : nb,
/// the rest exactly 0) — the same arithmetic as BlockAttention.softmaxRow — and p16 = bf16 of the result.
void vt_softmax_rows_bf16(float *scores, const float *bias, uint16_t *p16, size_t nb, int causal);

/// Rows [first, first + count) of one attention block (row stride `ld`; `scores`, `bias`, `p16` point at row
/// `first`, `statistics` at its 2 floats): x = scores·scale + bias over j < valid(i) = causal ? i + 1 : columns; with
/// `recompute` 0 saves statistics = (max_j x, 1 / Σ_j exp(x − max)) first; then scores = exp(x − max) · (1/Σ),
/// 0 for valid ≤ j < columns, and (p16 not NULL) p16 = bf16 of that. Forward and backward share this code, so
/// recomputed probabilities are bitwise the forward's.
void vt_softmax_tile(float *scores, const float *bias, float *statistics, uint16_t *p16, size_t first, size_t count,
                     size_t columns, size_t ld, float scale, int causal, int recompute);

/// Softmax backward of `count` rows × `columns` of a block (row stride `ld`): dP becomes dS = P ⊙ (dP − Σ_j dP·P)
/// in place, dBias += dS; with p16 (and dS16) not NULL also p16 = bf16(P) and dS16 = bf16(scale16·dS) for the
/// backward products (which then run with alpha 1).
void vt_softmax_backward_tile(const float *p, float *dP, uint16_t *p16, uint16_t *dS16, float *dBias, size_t count,
                              size_t columns, size_t ld, float scale16);

/// Row-deterministic product for the sampler: for each of `rows` rows r, out[r, j] = (accumulate ? out[r, j] : 0)
/// + (Σ_k x[r, k]·w[k, j] + (bias ? bias[j] : 0)), the sum taken over k = 0, 1, … in order, one fused
/// multiply-add per term. Every row is computed the same way whatever the number of rows or its position among them,
/// so a sampled video does not depend on the batch it is drawn in. x has row stride ldx; w is k × n row-major.
/// Columns [0, n) of out and w are computed; both have row stride `ld` (so workers can take column ranges).
void vt_rows_product_f32(float *out, const float *x, size_t ldx, const float *w, const float *bias,
                         size_t rows, size_t k, size_t n, size_t ld, int accumulate);
/// The same with bf16 x and w (bit patterns; products exact in fp32, summed in fp32 in k order).
void vt_rows_product_bf16(float *out, const uint16_t *x, size_t ldx, const uint16_t *w, const float *bias,
                          size_t rows, size_t k, size_t n, size_t ld, int accumulate);
