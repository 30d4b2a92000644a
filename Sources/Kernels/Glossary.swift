// Kernels: the numerical building blocks of the Video Transformer, each a forward/backward pair.
//
// Glossary (used only inside kernels; the public API uses full words):
//   N  rows (positions × batch)        D  feature width (hidden size)
//   B  batch (videos)                   H  attention heads, Dh head size
//   Nb positions in one attention block d prefix: the gradient of the loss with respect to a value
//
// Conventions: all tensors are row-major Float32; `y = x·W + b` with W stored [in, out]; every
// backward *accumulates* into parameter gradients (`+=`) and into input gradients unless stated.
