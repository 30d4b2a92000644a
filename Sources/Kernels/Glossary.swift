// Kernels: the numerical building blocks of the Video Transformer, each a forward/backward pair.
//
// Glossary (used only inside kernels; the public API uses full words):
//   N  rows (positions × batch)        D  feature width (hidden size)
//   B  batch (videos)                   H  attention heads, Dh head size
//   Nb positions in one attention block d prefix: the gradient of the loss with respect to a value
//
// Conventions: all tensors are row-major Float32; `y = x·W + b` with W stored [in, out]; every
// backward *accumulates* into parameter gradients (`+=`) and into input gradients unless stated.

/// The (t, h, w) coordinates of raster index `index` in a grid of shape `grid` (w fastest).
@inline(__always)
public func rasterCoordinates(_ index: Int, in grid: (t: Int, h: Int, w: Int)) -> (t: Int, h: Int, w: Int) {
    (index / (grid.h * grid.w), (index / grid.w) % grid.h, index % grid.w)
}
