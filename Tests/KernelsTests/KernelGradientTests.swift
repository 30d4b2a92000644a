// Every kernel's backward against central finite differences, and every fast kernel against its naive twin.

import Foundation
import Testing
import Kernels

@Suite struct KernelGradientTests {
    @Test func gemmMatchesNaiveForAllTranspositions() {
        var random = TestRandom(1)
        for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
            for (m, n, k) in [(3, 5, 7), (130, 70, 90), (300, 20, 600)] {
                let a = random.normals(m * k), b = random.normals(k * n), c0 = random.normals(m * n)
                var fast = c0, slow = c0
                let lda = transA ? m : k, ldb = transB ? k : n
                fast.withUnsafeMutableBufferPointer { c in
                    MatMul.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda, b: b,
                                ldb: ldb, beta: 0.3, c: c.baseAddress!, ldc: n)
                }
                slow.withUnsafeMutableBufferPointer { c in
                    MatMul.naiveGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda,
                                     b: b, ldb: ldb, beta: 0.3, c: c.baseAddress!, ldc: n)
                }
                #expect(maxAbsDifference(fast, slow) < 1e-3, "gemm \(transA) \(transB) \(m)x\(n)x\(k)")
            }
        }
    }

    @Test func linearBackwardMatchesFiniteDifferences() {
        var random = TestRandom(2)
        let rows = 5, inputs = 4, outputs = 3
        var x = random.normals(rows * inputs), w = random.normals(inputs * outputs), b = random.normals(outputs)
        let r = random.normals(rows * outputs)
        func loss(_ x: [Float], _ w: [Float], _ b: [Float]) -> Double {
            var out = [Float](repeating: 0, count: rows * outputs)
            out.withUnsafeMutableBufferPointer {
                Linear.forward(out: $0.baseAddress!, input: x, weight: w, bias: b, rows: rows, inputs: inputs, outputs: outputs)
            }
            return dot(out, r)
        }
        var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count)
        var db = [Float](repeating: 0, count: b.count)
        dx.withUnsafeMutableBufferPointer { dxp in dw.withUnsafeMutableBufferPointer { dwp in db.withUnsafeMutableBufferPointer { dbp in
            Linear.backward(dInput: dxp.baseAddress!, dWeight: dwp.baseAddress!, dBias: dbp.baseAddress!, dOut: r,
                            input: x, weight: w, rows: rows, inputs: inputs, outputs: outputs)
        } } }
        let (w0, b0) = (w, b)
        let checkX = finiteDifferenceCheck(&x, analytic: dx) { loss($0, w0, b0) }
        let xFixed = x
        let checkW = finiteDifferenceCheck(&w, analytic: dw) { loss(xFixed, $0, b) }
        let wFixed = w
        let checkB = finiteDifferenceCheck(&b, analytic: db) { loss(xFixed, wFixed, $0) }
        #expect(checkX.worst < 1e-3, "dInput \(checkX.message)")
        #expect(checkW.worst < 1e-3, "dWeight \(checkW.message)")
        #expect(checkB.worst < 1e-3, "dBias \(checkB.message)")
    }

    @Test func layerNormMatchesNaiveAndFiniteDifferences() {
        var random = TestRandom(3)
        let rows = 6, width = 19
        var x = random.normals(rows * width, scale: 2), scale = random.normals(width), bias = random.normals(width)
        let r = random.normals(rows * width)
        func forward(_ x: [Float], _ scale: [Float], _ bias: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: rows * width), mean = [Float](repeating: 0, count: rows), rstd = mean
            out.withUnsafeMutableBufferPointer { o in mean.withUnsafeMutableBufferPointer { m in rstd.withUnsafeMutableBufferPointer { s in
                LayerNorm.forward(out: o.baseAddress!, mean: m.baseAddress!, rstd: s.baseAddress!, input: x, scale: scale,
                                  bias: bias, rows: rows, width: width)
            } } }
            return out
        }
        #expect(maxAbsDifference(forward(x, scale, bias), LayerNorm.naiveForward(input: x, scale: scale, bias: bias, rows: rows, width: width)) < 1e-5)
        var mean = [Float](repeating: 0, count: rows), rstd = mean, out = [Float](repeating: 0, count: rows * width)
        out.withUnsafeMutableBufferPointer { o in mean.withUnsafeMutableBufferPointer { m in rstd.withUnsafeMutableBufferPointer { s in
            LayerNorm.forward(out: o.baseAddress!, mean: m.baseAddress!, rstd: s.baseAddress!, input: x, scale: scale,
                              bias: bias, rows: rows, width: width)
        } } }
        var dx = [Float](repeating: 0.5, count: x.count), dScale = [Float](repeating: 0, count: width), dBias = dScale
        let dxBefore = dx
        dx.withUnsafeMutableBufferPointer { dxp in dScale.withUnsafeMutableBufferPointer { ds in dBias.withUnsafeMutableBufferPointer { db in
            LayerNorm.backward(dInput: dxp.baseAddress!, dScale: ds.baseAddress!, dBias: db.baseAddress!, dOut: r, input: x,
                               mean: mean, rstd: rstd, scale: scale, rows: rows, width: width, accumulate: true)
        } } }
        let analyticX = zip(dx, dxBefore).map { $0 - $1 }   // backward accumulates onto 0.5
        let (s0, b0) = (scale, bias)
        let checkX = finiteDifferenceCheck(&x, analytic: analyticX, epsilon: 5e-3) { dot(forward($0, s0, b0), r) }
        let x0 = x
        let checkS = finiteDifferenceCheck(&scale, analytic: dScale) { dot(forward(x0, $0, b0), r) }
        let checkB = finiteDifferenceCheck(&bias, analytic: dBias) { dot(forward(x0, s0, $0), r) }
        #expect(checkX.worst < 2e-3, "dInput \(checkX.message)")
        #expect(checkS.worst < 1e-3, "dScale \(checkS.message)")
        #expect(checkB.worst < 1e-3, "dBias \(checkB.message)")
    }

    @Test func reluBackwardMatchesFiniteDifferences() {
        var random = TestRandom(4)
        // Keep entries away from the kink so the central difference is exact.
        var x = random.normals(50).map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 }
        let r = random.normals(50)
        func loss(_ x: [Float]) -> Double {
            var out = [Float](repeating: 0, count: x.count)
            out.withUnsafeMutableBufferPointer { ReLU.forward(out: $0.baseAddress!, input: x, count: x.count) }
            return dot(out, r)
        }
        var dx = [Float](repeating: 0, count: x.count)
        dx.withUnsafeMutableBufferPointer { ReLU.backward(dInput: $0.baseAddress!, dOut: r, input: x, count: x.count) }
        let check = finiteDifferenceCheck(&x, analytic: dx, epsilon: 1e-2) { loss($0) }
        #expect(check.worst < 1e-3, "\(check.message)")
    }

    @Test func crossEntropyMatchesFiniteDifferences() {
        var random = TestRandom(5)
        let rows = 4, classes = 7
        var logits = random.normals(rows * classes, scale: 2)
        let targets: [UInt8] = [0, 6, 3, 3]
        let weights: [Float] = [0.5, 1.0, 0, 2.0]
        func loss(_ logits: [Float]) -> Double {
            var nll = [Double](repeating: 0, count: rows)
            nll.withUnsafeMutableBufferPointer {
                CrossEntropy.forward(nll: $0.baseAddress!, logits: logits, targets: targets, targetStride: 1, rows: rows, classes: classes)
            }
            return zip(nll, weights).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        var nll = [Double](repeating: 0, count: rows), d = [Float](repeating: 0, count: logits.count)
        nll.withUnsafeMutableBufferPointer { n in d.withUnsafeMutableBufferPointer { dp in
            CrossEntropy.forwardBackward(nll: n.baseAddress!, dLogits: dp.baseAddress!, logits: logits, targets: targets,
                                         targetStride: 1, weights: weights, rows: rows, classes: classes)
        } }
        #expect(abs(zip(nll, weights).reduce(0) { $0 + $1.0 * Double($1.1) } - loss(logits)) < 1e-9)
        // Naive twin: −log softmax in Double.
        for row in 0..<rows {
            let values = (0..<classes).map { Double(logits[row * classes + $0]) }
            let m = values.max()!
            let expected = m + Foundation.log(values.map { Foundation.exp($0 - m) }.reduce(0, +)) - values[Int(targets[row])]
            #expect(abs(nll[row] - expected) < 1e-5)
        }
        let check = finiteDifferenceCheck(&logits, analytic: d, epsilon: 1e-2) { loss($0) }
        #expect(check.worst < 1e-3, "\(check.message)")
        // In place (dLogits aliasing logits) gives the same gradient and NLL.
        var inPlace = logits, nll2 = [Double](repeating: 0, count: rows)
        inPlace.withUnsafeMutableBufferPointer { p in nll2.withUnsafeMutableBufferPointer { n in
            CrossEntropy.forwardBackward(nll: n.baseAddress!, dLogits: p.baseAddress!, logits: p.baseAddress!,
                                         targets: targets, targetStride: 1, weights: weights, rows: rows, classes: classes)
        } }
        #expect(inPlace == d && nll2 == nll)
    }

    @Test func embeddingScatterAddIsTheAdjointOfGatherSum() {
        var random = TestRandom(6)
        let tableRows = 9, width = 37, rows = 11, terms = 4
        var table = random.normals(tableRows * width)
        var indices = [Int32](repeating: -1, count: rows * terms)
        for i in 0..<indices.count where i % 5 != 0 { indices[i] = Int32(random.generator.nextInt(below: tableRows)) }
        let r = random.normals(rows * width)
        func loss(_ table: [Float]) -> Double {
            var out = random.normals(0) + [Float](repeating: 0, count: rows * width)
            out.withUnsafeMutableBufferPointer {
                Embedding.gatherSum(out: $0.baseAddress!, table: table, indices: indices, rows: rows, terms: terms,
                                    width: width, accumulate: false)
            }
            return dot(out, r)
        }
        // Naive twin of the gather-sum.
        var out = [Float](repeating: 0, count: rows * width)
        out.withUnsafeMutableBufferPointer {
            Embedding.gatherSum(out: $0.baseAddress!, table: table, indices: indices, rows: rows, terms: terms, width: width, accumulate: false)
        }
        for n in 0..<rows { for c in 0..<width {
            var expected: Float = 0
            for s in 0..<terms where indices[n * terms + s] >= 0 { expected += table[Int(indices[n * terms + s]) * width + c] }
            #expect(abs(out[n * width + c] - expected) < 1e-5)
        } }
        var dTable = [Float](repeating: 0, count: table.count)
        dTable.withUnsafeMutableBufferPointer {
            Embedding.scatterAdd(dTable: $0.baseAddress!, dOut: r, indices: indices, rows: rows, terms: terms, width: width)
        }
        let check = finiteDifferenceCheck(&table, analytic: dTable) { loss($0) }
        #expect(check.worst < 1e-3, "\(check.message)")
    }

    @Test func shiftConvolutionMatchesNaiveAndFiniteDifferences() {
        var random = TestRandom(7)
        let videos = 2, grid = (t: 2, h: 3, w: 4), e = 3, d = 5, n = 24, taps = 13
        var embedded = random.normals(videos * n * e)
        let weight = random.normals(taps * e * d)
        let bias = random.normals(d), r = random.normals(videos * n * d)
        func forward(_ embedded: [Float], _ weight: [Float]) -> [Float] {
            var columns = [Float](repeating: 0, count: videos * n * taps * e), out = [Float](repeating: 0, count: videos * n * d)
            columns.withUnsafeMutableBufferPointer {
                ShiftConvolution.im2col(columns: $0.baseAddress!, embedded: embedded, videos: videos, grid: grid, width: e)
            }
            out.withUnsafeMutableBufferPointer {
                Linear.forward(out: $0.baseAddress!, input: columns, weight: weight, bias: bias, rows: videos * n,
                               inputs: taps * e, outputs: d)
            }
            return out
        }
        let naive = ShiftConvolution.naiveForward(embedded: embedded, weight: weight, bias: bias, videos: videos, grid: grid,
                                                  inputWidth: e, outputWidth: d)
        #expect(maxAbsDifference(forward(embedded, weight), naive) < 1e-4)
        // Backward: dColumns = r·Wᵀ, then col2im.
        var dColumns = [Float](repeating: 0, count: videos * n * taps * e)
        dColumns.withUnsafeMutableBufferPointer {
            MatMul.gemm(transB: true, m: videos * n, n: taps * e, k: d, a: r, lda: d, b: weight, ldb: d, c: $0.baseAddress!, ldc: taps * e)
        }
        var dEmbedded = [Float](repeating: 0, count: embedded.count)
        dEmbedded.withUnsafeMutableBufferPointer {
            ShiftConvolution.col2im(dEmbedded: $0.baseAddress!, dColumns: dColumns, videos: videos, grid: grid, width: e)
        }
        let w0 = weight
        let check = finiteDifferenceCheck(&embedded, analytic: dEmbedded) { dot(forward($0, w0), r) }
        #expect(check.worst < 1e-3, "\(check.message)")   // weight gradients are Linear's, checked above
    }

    @Test(arguments: [false, true])
    func blockAttentionMatchesNaiveAndFiniteDifferences(causal: Bool) {
        var random = TestRandom(causal ? 8 : 9)
        let videos = 2, grid = (t: 2, h: 4, w: 6), block = (t: 2, h: 2, w: 3), heads = 2, dh = 3
        let n = 48, width = heads * dh, partition = BlockPartition(grid: grid, block: block)
        let nb = partition.blockLength, groups = videos * n / nb
        var q = random.normals(videos * n * width), k = random.normals(videos * n * width), v = random.normals(videos * n * width)
        var rt = random.normals(heads * 3), rh = random.normals(heads * 3), rw = random.normals(heads * 5)
        let r = random.normals(videos * n * width)

        // Fast pipeline: raster → block order, bias expansion, attention, back to raster order.
        func forward(_ q: [Float], _ k: [Float], _ v: [Float], _ rt: [Float], _ rh: [Float], _ rw: [Float]) -> [Float] {
            var qb = q, kb = k, vb = v, bias = [Float](repeating: 0, count: heads * nb * nb)
            var out = [Float](repeating: 0, count: q.count), probs = [Float](repeating: 0, count: groups * heads * nb * nb)
            qb.withUnsafeMutableBufferPointer { partition.toBlockOrder(q, $0.baseAddress!, videos: videos, width: width) }
            kb.withUnsafeMutableBufferPointer { partition.toBlockOrder(k, $0.baseAddress!, videos: videos, width: width) }
            vb.withUnsafeMutableBufferPointer { partition.toBlockOrder(v, $0.baseAddress!, videos: videos, width: width) }
            bias.withUnsafeMutableBufferPointer { RelativeBias.expand(rt: rt, rh: rh, rw: rw, heads: heads, block: block, into: $0.baseAddress!) }
            var blockedOut = out
            blockedOut.withUnsafeMutableBufferPointer { o in probs.withUnsafeMutableBufferPointer { p in
                StoredProbabilityAttention.forward(out: o.baseAddress!, probs: p.baseAddress!, q: qb, k: kb, v: vb, bias: bias, shape: kernelShape(groups, nb, heads, dh, causal))
            } }
            out.withUnsafeMutableBufferPointer { partition.toRasterOrder(blockedOut, $0.baseAddress!, videos: videos, width: width, accumulate: false) }
            return out
        }
        let naive = NaiveAttention.forward(q: q, k: k, v: v, videos: videos, grid: grid, block: block, heads: heads,
                                                headSize: dh, rt: rt, rh: rh, rw: rw, causal: causal)
        #expect(maxAbsDifference(forward(q, k, v, rt, rh, rw), naive) < 1e-5)

        // Analytic backward in block order.
        var qb = q, kb = k, vb = v, rb = r, bias = [Float](repeating: 0, count: heads * nb * nb)
        qb.withUnsafeMutableBufferPointer { partition.toBlockOrder(q, $0.baseAddress!, videos: videos, width: width) }
        kb.withUnsafeMutableBufferPointer { partition.toBlockOrder(k, $0.baseAddress!, videos: videos, width: width) }
        vb.withUnsafeMutableBufferPointer { partition.toBlockOrder(v, $0.baseAddress!, videos: videos, width: width) }
        rb.withUnsafeMutableBufferPointer { partition.toBlockOrder(r, $0.baseAddress!, videos: videos, width: width) }
        bias.withUnsafeMutableBufferPointer { RelativeBias.expand(rt: rt, rh: rh, rw: rw, heads: heads, block: block, into: $0.baseAddress!) }
        var out = [Float](repeating: 0, count: q.count), probs = [Float](repeating: 0, count: groups * heads * nb * nb)
        out.withUnsafeMutableBufferPointer { o in probs.withUnsafeMutableBufferPointer { p in
            StoredProbabilityAttention.forward(out: o.baseAddress!, probs: p.baseAddress!, q: qb, k: kb, v: vb, bias: bias, shape: kernelShape(groups, nb, heads, dh, causal))
        } }
        if causal {   // masked probabilities are exactly zero
            for g in 0..<groups { for h in 0..<heads { for i in 0..<nb { for j in (i + 1)..<max(i + 1, nb) {
                #expect(probs[((g * heads + h) * nb + i) * nb + j] == 0)
            } } } }
        }
        var dqb = [Float](repeating: 0, count: q.count), dkb = dqb, dvb = dqb, dBias = [Float](repeating: 0, count: bias.count)
        dqb.withUnsafeMutableBufferPointer { dq in dkb.withUnsafeMutableBufferPointer { dk in dvb.withUnsafeMutableBufferPointer { dv in
            dBias.withUnsafeMutableBufferPointer { db in
                StoredProbabilityAttention.backward(dq: dq.baseAddress!, dk: dk.baseAddress!, dv: dv.baseAddress!, dBias: db.baseAddress!,
                                        dOut: rb, q: qb, k: kb, v: vb, probs: probs, shape: kernelShape(groups, nb, heads, dh, false),
                                        workspace: FloatBuffer(count: StoredProbabilityAttention.backwardWorkspaceCount(kernelShape(groups, nb, heads, dh, false))))
            } } } }
        var drt = [Float](repeating: 0, count: rt.count), drh = [Float](repeating: 0, count: rh.count), drw = [Float](repeating: 0, count: rw.count)
        drt.withUnsafeMutableBufferPointer { a in drh.withUnsafeMutableBufferPointer { b in drw.withUnsafeMutableBufferPointer { c in
            RelativeBias.backward(dBias: dBias, heads: heads, block: block, dRt: a.baseAddress!, dRh: b.baseAddress!, dRw: c.baseAddress!)
        } } }
        func raster(_ blocked: [Float]) -> [Float] {
            var out = blocked
            out.withUnsafeMutableBufferPointer { partition.toRasterOrder(blocked, $0.baseAddress!, videos: videos, width: width, accumulate: false) }
            return out
        }
        let (q0, k0, v0, rt0, rh0, rw0) = (q, k, v, rt, rh, rw)
        let checks = [
            ("dq", finiteDifferenceCheck(&q, analytic: raster(dqb)) { dot(forward($0, k0, v0, rt0, rh0, rw0), r) }),
            ("dk", finiteDifferenceCheck(&k, analytic: raster(dkb)) { dot(forward(q0, $0, v0, rt0, rh0, rw0), r) }),
            ("dv", finiteDifferenceCheck(&v, analytic: raster(dvb)) { dot(forward(q0, k0, $0, rt0, rh0, rw0), r) }),
            ("dRt", finiteDifferenceCheck(&rt, analytic: drt) { dot(forward(q0, k0, v0, $0, rh0, rw0), r) }),
            ("dRh", finiteDifferenceCheck(&rh, analytic: drh) { dot(forward(q0, k0, v0, rt0, $0, rw0), r) }),
            ("dRw", finiteDifferenceCheck(&rw, analytic: drw) { dot(forward(q0, k0, v0, rt0, rh0, $0), r) }),
        ]
        for (name, check) in checks { #expect(check.worst < 2e-3, "\(name) causal=\(causal): \(check.message)") }
    }
}

@Suite struct ParallelTests {
    @Test func workersShareTheCoresAmongLocalRanks() {
        #expect(Parallel.defaultWorkers(environment: [:], cores: 8) == 8)
        #expect(Parallel.defaultWorkers(environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"], cores: 8) == 4)
        #expect(Parallel.defaultWorkers(environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "4"], cores: 2) == 1)
        #expect(Parallel.defaultWorkers(environment: ["VT_THREADS": "3", "OMPI_COMM_WORLD_LOCAL_SIZE": "4"], cores: 2) == 3)
    }

    @Test func fixedChunksPartitionTheRangeWhateverTheWorkerCount() {
        for count in [0, 1, 7, 100] {
            for pieces in [1, 3, 16] {
                let ranges = (0..<pieces).map { Parallel.range(of: $0, pieces: pieces, count: count) }
                #expect(ranges.map(\.count).reduce(0, +) == count)
                #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            }
        }
    }
}
