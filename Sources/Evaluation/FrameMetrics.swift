// FrameMetrics: the field's per-frame video-prediction scores (docs/design.md §10), in Double.
//
//   PSNR  10·log10(255² / MSE), MSE over H·W·3 — scikit-image's peak_signal_noise_ratio(data_range=255);
//         identical frames give +∞ (MSE 0), reported as such.
//   SSIM  Wang et al. 2004 with scikit-image's structural_similarity(gaussian_weights=True, sigma=1.5,
//         use_sample_covariance=False, channel_axis=-1, data_range=255): per RGB channel, local means,
//         variances and covariance under a Gaussian window (σ = 1.5, truncated at 3.5σ: radius 5, 11×11,
//         separable, borders mirrored as scipy.ndimage's 'reflect'), population covariances, K1 = 0.01,
//         K2 = 0.03, the SSIM map averaged away from a 5-pixel border, then over the channels.
//
// The committed fixtures (Tests/EvaluationTests/Fixtures, written by tools/make_metric_fixtures.py with
// scikit-image itself) hold both to 1e-6.

import Foundation

public enum FrameMetrics {
    public static let dataRange = 255.0
    public static let sigma = 1.5
    /// scikit-image's `truncate` for SSIM's Gaussian filter: radius = Int(3.5·σ + 0.5) = 5.
    public static let radius = Int(3.5 * sigma + 0.5)

    /// PSNR of one frame (UInt8 [height, width, 3]) against the real one; +∞ when they are identical.
    public static func psnr(_ real: UnsafePointer<UInt8>, _ generated: UnsafePointer<UInt8>, height: Int, width: Int) -> Double {
        let count = height * width * 3
        var total = 0.0
        for i in 0..<count {
            let d = Double(real[i]) - Double(generated[i])
            total += d * d
        }
        let mse = total / Double(count)
        return mse == 0 ? .infinity : 10 * Foundation.log10(dataRange * dataRange / mse)
    }

    /// The normalised 1-D Gaussian weights (2·radius + 1 of them), as scipy.ndimage builds them.
    static let weights: [Double] = {
        let raw = (-radius...radius).map { Foundation.exp(-0.5 / (sigma * sigma) * Double($0 * $0)) }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }()

    /// scipy.ndimage 'reflect' (d c b a | a b c d | d c b a) for an index up to one length outside.
    @inline(__always)
    static func reflect(_ i: Int, _ n: Int) -> Int {
        var i = i
        while i < 0 || i >= n { i = i < 0 ? -i - 1 : 2 * n - i - 1 }
        return i
    }

    /// Gaussian filter of an H×W plane: along rows (axis 0) first, then along columns (axis 1).
    static func gaussian(_ plane: [Double], height: Int, width: Int) -> [Double] {
        let w = weights, r = radius
        var vertical = [Double](repeating: 0, count: plane.count)
        for y in 0..<height {
            for x in 0..<width {
                var sum = 0.0
                for k in -r...r { sum += w[k + r] * plane[reflect(y + k, height) * width + x] }
                vertical[y * width + x] = sum
            }
        }
        var out = [Double](repeating: 0, count: plane.count)
        for y in 0..<height {
            for x in 0..<width {
                var sum = 0.0
                for k in -r...r { sum += w[k + r] * vertical[y * width + reflect(x + k, width)] }
                out[y * width + x] = sum
            }
        }
        return out
    }

    /// Mean SSIM of one frame (UInt8 [height, width, 3]) against the real one, averaged over the channels.
    /// SSIM needs frames of at least 11×11 (the window); smaller ones give NaN (scikit-image refuses them).
    public static func ssim(_ real: UnsafePointer<UInt8>, _ generated: UnsafePointer<UInt8>, height: Int, width: Int) -> Double {
        guard height >= 2 * radius + 1 && width >= 2 * radius + 1 else { return .nan }
        let c1 = (0.01 * dataRange) * (0.01 * dataRange), c2 = (0.03 * dataRange) * (0.03 * dataRange)
        let n = height * width
        var channels = 0.0
        for channel in 0..<3 {
            let x = (0..<n).map { Double(real[$0 * 3 + channel]) }
            let y = (0..<n).map { Double(generated[$0 * 3 + channel]) }
            let ux = gaussian(x, height: height, width: width), uy = gaussian(y, height: height, width: width)
            let uxx = gaussian(zip(x, x).map { $0 * $1 }, height: height, width: width)
            let uyy = gaussian(zip(y, y).map { $0 * $1 }, height: height, width: width)
            let uxy = gaussian(zip(x, y).map { $0 * $1 }, height: height, width: width)
            var total = 0.0
            for row in radius..<(height - radius) {
                for column in radius..<(width - radius) {
                    let i = row * width + column
                    let vx = uxx[i] - ux[i] * ux[i], vy = uyy[i] - uy[i] * uy[i], vxy = uxy[i] - ux[i] * uy[i]
                    let a1 = 2 * ux[i] * uy[i] + c1, a2 = 2 * vxy + c2
                    let b1 = ux[i] * ux[i] + uy[i] * uy[i] + c1, b2 = vx + vy + c2
                    total += (a1 * a2) / (b1 * b2)
                }
            }
            channels += total / Double((height - 2 * radius) * (width - 2 * radius))
        }
        return channels / 3
    }

    /// PSNR and SSIM of `frames` of a generated clip against the real one (both UInt8 [T, height, width, 3]):
    /// what the sampling job stores per sample and what scoring a file recomputes, so the two agree.
    public static func clipScores(real: UnsafePointer<UInt8>, generated: UnsafePointer<UInt8>, frames: [Int],
                                  height: Int, width: Int) -> (psnr: [Double], ssim: [Double]) {
        let frameBytes = height * width * 3
        return (frames.map { psnr(real + $0 * frameBytes, generated + $0 * frameBytes, height: height, width: width) },
                frames.map { ssim(real + $0 * frameBytes, generated + $0 * frameBytes, height: height, width: width) })
    }
}
