// BlockPartition and RelativeBias: the named helpers of block-local 3-D attention (docs/design.md §2), in the
// tensor2tensor style (`break_into_blocks_nd`, `put_back_blocks_nd`, the relative-position bias):
//
//   BlockPartition   raster ⇄ block order: blocks in raster order over the block grid, positions in raster
//                    order inside a block
//   RelativeBias     Rt, Rh, Rw [H, 2b−1]  ⇄  bias[H, Nb, Nb] (i = query, j = key)
//
// Leaves out: the attention itself (BlockAttention.swift).

import Foundation

public struct BlockPartition: Equatable, Sendable {
    public let grid: (t: Int, h: Int, w: Int)
    public let block: (t: Int, h: Int, w: Int)
    /// rasterIndex[r] = raster index (within one video) of the r-th position in block order.
    public let rasterIndex: [Int32]

    public var positions: Int { grid.t * grid.h * grid.w }
    public var blockLength: Int { block.t * block.h * block.w }
    public var blocksPerVideo: Int { positions / blockLength }

    public static func == (a: BlockPartition, b: BlockPartition) -> Bool {
        a.grid == b.grid && a.block == b.block
    }

    public init(grid: (t: Int, h: Int, w: Int), block: (t: Int, h: Int, w: Int)) {
        precondition(grid.t % block.t == 0 && grid.h % block.h == 0 && grid.w % block.w == 0,
                     "BlockPartition: block \(block) does not divide grid \(grid)")
        self.grid = grid; self.block = block
        var order: [Int32] = []
        order.reserveCapacity(grid.t * grid.h * grid.w)
        for bt in 0..<(grid.t / block.t) { for bh in 0..<(grid.h / block.h) { for bw in 0..<(grid.w / block.w) {
            for ti in 0..<block.t { for hi in 0..<block.h { for wi in 0..<block.w {
                let t = bt * block.t + ti, h = bh * block.h + hi, w = bw * block.w + wi
                order.append(Int32((t * grid.h + h) * grid.w + w))
            } } }
        } } }
        rasterIndex = order
    }

    /// blocked[v, r, :] = raster[v, rasterIndex[r], :] for every video.
    public func toBlockOrder(_ raster: UnsafePointer<Float>, _ blocked: UnsafeMutablePointer<Float>,
                             videos: Int, width: Int) {
        let n = positions
        rasterIndex.withUnsafeBufferPointer { index in
            Parallel.rows(videos * n, grain: 256) { rows in
                for row in rows {
                    let v = row / n, r = row % n
                    (blocked + row * width).update(from: raster + (v * n + Int(index[r])) * width, count: width)
                }
            }
        }
    }

    /// raster[v, rasterIndex[r], :] (+)= blocked[v, r, :] for every video.
    public func toRasterOrder(_ blocked: UnsafePointer<Float>, _ raster: UnsafeMutablePointer<Float>,
                              videos: Int, width: Int, accumulate: Bool) {
        let n = positions
        rasterIndex.withUnsafeBufferPointer { index in
            Parallel.rows(videos * n, grain: 256) { rows in
                for row in rows {
                    let v = row / n, r = row % n
                    let source = blocked + row * width, target = raster + (v * n + Int(index[r])) * width
                    if accumulate { for c in 0..<width { target[c] += source[c] } }
                    else { target.update(from: source, count: width) }
                }
            }
        }
    }
}

public enum RelativeBias {
    /// bias[h, i, j] = Rt[h, ti−tj+bt−1] + Rh[h, hi−hj+bh−1] + Rw[h, wi−wj+bw−1].
    public static func expand(rt: UnsafePointer<Float>, rh: UnsafePointer<Float>, rw: UnsafePointer<Float>,
                              heads: Int, block: (t: Int, h: Int, w: Int), into bias: UnsafeMutablePointer<Float>) {
        let nb = block.t * block.h * block.w
        let lt = 2 * block.t - 1, lh = 2 * block.h - 1, lw = 2 * block.w - 1
        for head in 0..<heads {
            for i in 0..<nb {
                let (ti, hi, wi) = (i / (block.h * block.w), (i / block.w) % block.h, i % block.w)
                let row = bias + (head * nb + i) * nb
                for j in 0..<nb {
                    let (tj, hj, wj) = (j / (block.h * block.w), (j / block.w) % block.h, j % block.w)
                    row[j] = rt[head * lt + ti - tj + block.t - 1] + rh[head * lh + hi - hj + block.h - 1]
                        + rw[head * lw + wi - wj + block.w - 1]
                }
            }
        }
    }

    /// dRt, dRh, dRw += the sums of dBias over the entries each table element feeds.
    public static func backward(dBias: UnsafePointer<Float>, heads: Int, block: (t: Int, h: Int, w: Int),
                                dRt: UnsafeMutablePointer<Float>, dRh: UnsafeMutablePointer<Float>,
                                dRw: UnsafeMutablePointer<Float>) {
        let nb = block.t * block.h * block.w
        let lt = 2 * block.t - 1, lh = 2 * block.h - 1, lw = 2 * block.w - 1
        for head in 0..<heads {
            for i in 0..<nb {
                let (ti, hi, wi) = (i / (block.h * block.w), (i / block.w) % block.h, i % block.w)
                let row = dBias + (head * nb + i) * nb
                for j in 0..<nb {
                    let (tj, hj, wj) = (j / (block.h * block.w), (j / block.w) % block.h, j % block.w)
                    let g = row[j]
                    dRt[head * lt + ti - tj + block.t - 1] += g
                    dRh[head * lh + hi - hj + block.h - 1] += g
                    dRw[head * lw + wi - wj + block.w - 1] += g
                }
            }
        }
    }
}
