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
