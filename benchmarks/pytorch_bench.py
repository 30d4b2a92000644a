#!/usr/bin/env python3
"""PyTorch *eager* CPU baseline for `vt bench --config Configs/bench.yaml`.

The same Video Transformer training step as the Swift trainer (DESIGN.md §2 model, §7 FLOP convention),
written the way a PyTorch user would write it: nn.Module, autograd, torch.optim.RMSprop, no
torch.compile, no custom kernels.

    python3 benchmarks/pytorch_bench.py                  # time bench.yaml, print one JSON line
    python3 benchmarks/pytorch_bench.py --check          # also verify against the NumPy reference fixture
    python3 benchmarks/pytorch_bench.py --attention manual   # explicit matmul/softmax instead of SDPA
    python3 benchmarks/pytorch_bench.py --precision bf16     # the step under torch.autocast("cpu", bfloat16)
    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 python3 benchmarks/pytorch_bench.py
        # glibc keeps freed activations instead of unmapping them every step (see benchmarks/README.md)

Timing: torch.set_num_threads(--threads, default 2); 1 warm-up step, then the median of --steps (default
5) training steps (forward + backward + optimizer). The machine peak is torch.mm on 2048×2048 fp32 in the
same process (median of 5, measured before and after the steps; the larger is used). MFU = achieved /
peak, where achieved = 415.5 GFLOP (3 × forward × 4 videos, DESIGN §7, recomputed below) / step time.

--precision bf16 runs forward and loss under torch.autocast("cpu", dtype=torch.bfloat16) — what a PyTorch
user switches on for bf16 on CPU (matmuls in bf16 through oneDNN, parameters and optimizer fp32) — and
also measures the bf16 peak the same way (torch.mm of 2048×2048 bf16 matrices), reporting MFU against it.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

C, VALUES = 3, 256

# Configs/bench.yaml (model section), written out so the script needs no YAML parser.
BENCH = dict(frames=16, height=64, width=64, subscale=[4, 2, 2], prime_frames=[0], embedding_size=64,
             hidden_size=256, heads=4, head_size=64, ffn_size=1024, encoder_layers=2, decoder_layers=2,
             encoder_kernel=[5, 3, 3], blocks=[[4, 8, 4], [4, 4, 16], [1, 32, 4], [1, 4, 32]])
BATCH = 4
# The 13 shift-convolution taps: offsets in {-1,0,1}^3 lexicographically before (0,0,0), in order.
SHIFT_TAPS = [(dt, dh, dw) for dt in (-1, 0, 1) for dh in (-1, 0, 1) for dw in (-1, 0, 1) if (dt, dh, dw) < (0, 0, 0)]


def slice_grid(cfg):
    return tuple(n // s for n, s in zip((cfg["frames"], cfg["height"], cfg["width"]), cfg["subscale"]))


# ----------------------------------------------------------------------------- model
class BlockLocalLayer(nn.Module):
    """Pre-LN block-local self-attention (per-axis relative biases, optional causal mask) + FFN."""

    def __init__(self, cfg, block, masked, attention):
        super().__init__()
        d, nh, dh, dff = cfg["hidden_size"], cfg["heads"], cfg["head_size"], cfg["ffn_size"]
        self.grid, self.block, self.masked, self.nh, self.dh = slice_grid(cfg), tuple(block), masked, nh, dh
        self.attention = attention
        for g, b in zip(self.grid, self.block):
            if g % b:
                raise ValueError(f"block {block} does not divide the slice grid {self.grid}")
        bt, bh, bw = block
        self.attention_norm = nn.LayerNorm(d, eps=1e-6)
        self.query = nn.Linear(d, nh * dh, bias=False)
        self.key = nn.Linear(d, nh * dh, bias=False)
        self.value = nn.Linear(d, nh * dh, bias=False)
        self.output = nn.Linear(nh * dh, d, bias=False)
        self.relative_t = nn.Parameter(torch.randn(nh, 2 * bt - 1) * 0.02)
        self.relative_h = nn.Parameter(torch.randn(nh, 2 * bh - 1) * 0.02)
        self.relative_w = nn.Parameter(torch.randn(nh, 2 * bw - 1) * 0.02)
        self.ffn_norm = nn.LayerNorm(d, eps=1e-6)
        self.ffn_hidden = nn.Linear(d, dff)
        self.ffn_output = nn.Linear(dff, d)
        # Within-block raster coordinates → relative-bias index tables [L, L] (i = query, j = key).
        t, h, w = torch.meshgrid(torch.arange(bt), torch.arange(bh), torch.arange(bw), indexing="ij")
        t, h, w = t.reshape(-1), h.reshape(-1), w.reshape(-1)
        self.register_buffer("index_t", t[:, None] - t[None, :] + bt - 1, persistent=False)
        self.register_buffer("index_h", h[:, None] - h[None, :] + bh - 1, persistent=False)
        self.register_buffer("index_w", w[:, None] - w[None, :] + bw - 1, persistent=False)
        L = bt * bh * bw
        causal = torch.zeros(L, L)
        if masked:
            causal.masked_fill_(torch.ones(L, L, dtype=torch.bool).triu(1), float("-inf"))
        self.register_buffer("causal", causal, persistent=False)

    def partition(self, z):
        """[B, T', H', W', d] → [B·blocks, L, d], blocks and positions in raster order."""
        (gt, gh, gw), (bt, bh, bw) = self.grid, self.block
        B, d = z.shape[0], z.shape[-1]
        z = z.reshape(B, gt // bt, bt, gh // bh, bh, gw // bw, bw, d).permute(0, 1, 3, 5, 2, 4, 6, 7)
        return z.reshape(-1, bt * bh * bw, d)

    def unpartition(self, z, B):
        (gt, gh, gw), (bt, bh, bw) = self.grid, self.block
        d = z.shape[-1]
        z = z.reshape(B, gt // bt, gh // bh, gw // bw, bt, bh, bw, d).permute(0, 1, 4, 2, 5, 3, 6, 7)
        return z.reshape(B, gt, gh, gw, d)

    def bias(self):
        """Additive attention bias [heads, L, L]: relative biases (+ −∞ above the diagonal if masked)."""
        return (self.relative_t[:, self.index_t] + self.relative_h[:, self.index_h]
                + self.relative_w[:, self.index_w] + self.causal)

    def forward(self, z):
        B = z.shape[0]
        z = self.partition(z)                                   # the whole layer runs in block order
        n, L, _ = z.shape
        a = self.attention_norm(z)
        w_qkv = torch.cat([self.query.weight, self.key.weight, self.value.weight], 0)
        qkv = F.linear(a, w_qkv).view(n, L, 3, self.nh, self.dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                        # [n, heads, L, dh], head-major columns
        bias = self.bias().to(q.dtype)
        if self.attention == "sdpa":
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        else:
            s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh)) + bias
            o = torch.matmul(torch.softmax(s, dim=-1), v)
        o = o.transpose(1, 2).reshape(n, L, self.nh * self.dh)
        z = z + self.output(o)
        z = z + self.ffn_output(F.relu(self.ffn_hidden(self.ffn_norm(z))))
        return self.unpartition(z, B)


class Stack(nn.Module):
    """Per-axis positions are added by the caller; layers i use blocks[i mod len]; final LayerNorm."""

    def __init__(self, cfg, layers, masked, attention):
        super().__init__()
        d = cfg["hidden_size"]
        gt, gh, gw = slice_grid(cfg)
        self.position_t = nn.Parameter(torch.randn(gt, d) * 0.02)
        self.position_h = nn.Parameter(torch.randn(gh, d) * 0.02)
        self.position_w = nn.Parameter(torch.randn(gw, d) * 0.02)
        self.layers = nn.ModuleList(BlockLocalLayer(cfg, cfg["blocks"][i % len(cfg["blocks"])], masked, attention)
                                    for i in range(layers))
        self.final_norm = nn.LayerNorm(d, eps=1e-6)

    def positions(self):
        return self.position_t[:, None, None] + self.position_h[None, :, None] + self.position_w[None, None, :]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.final_norm(x)


class VideoTransformer(nn.Module):
    def __init__(self, cfg, attention="sdpa"):
        super().__init__()
        self.cfg = cfg
        T, H, W = cfg["frames"], cfg["height"], cfg["width"]
        st, sh, sw = cfg["subscale"]
        kt, kh, kw = cfg["encoder_kernel"]
        de, d = cfg["embedding_size"], cfg["hidden_size"]
        self.grid = gt, gh, gw = slice_grid(cfg)
        self.S = st * sh * sw
        # Encoder: one-hot strided 3-D conv as a gather-sum (embedding_bag) over [kt,kh,kw,C,256,de] rows.
        self.encoder_embedding = nn.Parameter(torch.randn(kt * kh * kw * C * VALUES, de) * 0.02)
        self.slice_embedding = nn.Parameter(torch.randn(self.S, de) * 0.02)
        self.encoder_input = nn.Linear(de, d)
        self.encoder = Stack(cfg, cfg["encoder_layers"], False, attention)
        # Decoder.
        self.decoder_embedding = nn.Parameter(torch.randn(C * VALUES, de) * 0.02)
        self.shift_weight = nn.Parameter(torch.randn(len(SHIFT_TAPS) * de, d) / math.sqrt(len(SHIFT_TAPS) * de))
        self.shift_bias = nn.Parameter(torch.zeros(d))
        self.condition = nn.Linear(d, d, bias=False)
        self.decoder = Stack(cfg, cfg["decoder_layers"], True, attention)
        # Channel head.
        self.head_hidden = nn.ModuleList(nn.Linear(d, d) for _ in range(C))
        self.head_previous = nn.ParameterList(nn.Parameter(torch.randn(c * VALUES, d) * 0.02) for c in range(1, C))
        self.head_logits = nn.ModuleList(nn.Linear(d, VALUES) for _ in range(C))

        # Per slice k: for every slice position and kernel offset, the flat source pixel (t·H + h)·W + w
        # and whether it is in range and visible (k(p) < k or p.t primed). [S, N, K] each.
        prime = torch.zeros(T, dtype=torch.bool)
        prime[list(cfg["prime_frames"])] = True
        i, j, l = (x.reshape(-1, 1) for x in torch.meshgrid(torch.arange(gt), torch.arange(gh), torch.arange(gw),
                                                                indexing="ij"))
        dt, dh, dw = (x.reshape(1, -1) for x in torch.meshgrid(torch.arange(kt), torch.arange(kh), torch.arange(kw),
                                                                  indexing="ij"))
        sources, visible = [], []
        for k in range(self.S):
            a, b, c = k // (sh * sw), (k // sw) % sh, k % sw
            t, h, w = a + i * st + dt - kt // 2, b + j * sh + dh - kh // 2, c + l * sw + dw - kw // 2
            inside = (t >= 0) & (t < T) & (h >= 0) & (h < H) & (w >= 0) & (w < W)
            t, h, w = t.clamp(0, T - 1), h.clamp(0, H - 1), w.clamp(0, W - 1)
            of = ((t % st) * sh + h % sh) * sw + w % sw
            sources.append((t * H + h) * W + w)
            visible.append(inside & ((of < k) | prime[t]))
        self.register_buffer("source_index", torch.stack(sources), persistent=False)
        self.register_buffer("source_visible", torch.stack(visible), persistent=False)
        self.register_buffer("kernel_offset", torch.arange(kt * kh * kw)[:, None] * (C * VALUES)
                             + torch.arange(C)[None, :] * VALUES, persistent=False)        # [K, C]
        # Non-primed positions of each slice (the loss mask), [S, N].
        pos_t = torch.stack([(k // (sh * sw) + i.reshape(-1) * st) for k in range(self.S)])
        self.register_buffer("loss_mask", ~prime[pos_t], persistent=False)

    def slices(self, videos, k):
        """videos uint8 [B,T,H,W,C], k long [B] → slice k of each video, long [B,T',H',W',C]."""
        st, sh, sw = self.cfg["subscale"]
        B = videos.shape[0]
        v = videos.reshape(B, self.grid[0], st, self.grid[1], sh, self.grid[2], sw, C)
        v = v.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, self.S, *self.grid, C)
        return v[torch.arange(B), k].long()

    def encode(self, videos, k):
        B, N = videos.shape[0], self.source_index.shape[1]
        flat = videos.reshape(B, -1, C)
        src = self.source_index[k]                                             # [B, N, K]
        values = flat.gather(1, src.reshape(B, -1, 1).expand(-1, -1, C)).reshape(B, N, -1, C).long()
        rows = (values + self.kernel_offset).reshape(B * N, -1)                # [B·N, K·C] embedding rows
        weights = self.source_visible[k].unsqueeze(-1).expand(-1, -1, -1, C).reshape(B * N, -1).to(
            self.encoder_embedding.dtype)                                      # 1 visible, 0 invisible
        E = F.embedding_bag(rows, self.encoder_embedding, per_sample_weights=weights, mode="sum")
        E = E.view(B, *self.grid, -1) + self.slice_embedding[k].view(B, 1, 1, 1, -1)
        return self.encoder(self.encoder_input(E) + self.encoder.positions())

    def decode(self, x, enc):
        B, (gt, gh, gw) = x.shape[0], self.grid
        e = F.embedding(x + torch.arange(C, device=x.device) * VALUES, self.decoder_embedding).sum(-2)
        e = F.pad(e, (0, 0, 1, 1, 1, 1, 1, 1))                                # zero outside the grid
        taps = torch.cat([e[:, 1 + a:1 + a + gt, 1 + b:1 + b + gh, 1 + c:1 + c + gw] for a, b, c in SHIFT_TAPS], -1)
        u = torch.addmm(self.shift_bias, taps.reshape(-1, taps.shape[-1]), self.shift_weight)  # 13 taps, one GEMM
        y0 = u.view(B, gt, gh, gw, -1) + self.decoder.positions() + self.condition(enc)
        return self.decoder(y0)

    def loss(self, videos, k):
        """Mean over videos of the mean NLL (nats) over the non-primed sub-pixels of slice k."""
        x = self.slices(videos, k)                                             # [B,T',H',W',C]
        y = self.decode(x, self.encode(videos, k)).reshape(-1, self.cfg["hidden_size"])
        x = x.reshape(-1, C)
        nll = []
        for c in range(C):
            pre = self.head_hidden[c](y)
            if c:
                pre = pre + F.embedding(x[:, :c] + torch.arange(c, device=x.device) * VALUES,
                                        self.head_previous[c - 1]).sum(1)
            logits = self.head_logits[c](F.relu(pre))
            nll.append(F.cross_entropy(logits, x[:, c], reduction="none"))
        nll = torch.stack(nll, -1).view(videos.shape[0], -1, C)                # [B, N, C]
        mask = self.loss_mask[k].unsqueeze(-1).to(nll.dtype)
        per_video = (nll * mask).sum((1, 2)) / (mask.sum((1, 2)) * C).clamp(min=1)
        return per_video.mean(), nll


# ----------------------------------------------------------------------------- FLOPs (DESIGN §7)
def forward_flops_per_video(cfg):
    n = math.prod(slice_grid(cfg))
    d, e, hd, f = cfg["hidden_size"], cfg["embedding_size"], cfg["heads"] * cfg["head_size"], cfg["ffn_size"]

    def layer(i):
        nb = math.prod(cfg["blocks"][i % len(cfg["blocks"])])
        return 2 * n * d * hd * 3 + 2 * n * hd * d + 2 * n * nb * hd * 2 + 2 * n * d * f * 2

    encoder = 2 * n * e * d + sum(layer(i) for i in range(cfg["encoder_layers"]))
    decoder = 13 * 2 * n * e * d + 2 * n * d * d + sum(layer(i) for i in range(cfg["decoder_layers"]))
    return encoder + decoder + C * (d * d + d * 256) * 2 * n


# ----------------------------------------------------------------------------- fixture check
def load_reference(model, params):
    """Copy DESIGN-named parameters ([in,out] row-major) into the module (nn.Linear is [out,in])."""
    cfg = model.cfg   # values are printed with 9 digits: round to the float32 they denote, as the reference did
    P = {p["name"]: torch.tensor(p["values"], dtype=torch.float32).double().view(p["shape"]) for p in params}
    with torch.no_grad():
        model.encoder_embedding.copy_(P["encoder/embedding"].reshape(-1, cfg["embedding_size"]))
        model.slice_embedding.copy_(P["encoder/slice_embedding"])
        model.encoder_input.weight.copy_(P["encoder/input/weight"].T)
        model.encoder_input.bias.copy_(P["encoder/input/bias"])
        model.decoder_embedding.copy_(P["decoder/embedding"].reshape(-1, cfg["embedding_size"]))
        model.shift_weight.copy_(P["decoder/shift/weight"].reshape(-1, cfg["hidden_size"]))
        model.shift_bias.copy_(P["decoder/shift/bias"])
        model.condition.weight.copy_(P["decoder/condition"].T)
        for name, stack in (("encoder", model.encoder), ("decoder", model.decoder)):
            for a in "thw":
                getattr(stack, "position_" + a).copy_(P[f"{name}/position/{a}"])
            stack.final_norm.weight.copy_(P[f"{name}/final_norm/scale"])
            stack.final_norm.bias.copy_(P[f"{name}/final_norm/bias"])
            for i, layer in enumerate(stack.layers):
                p = f"{name}/layer_{i}/"
                layer.attention_norm.weight.copy_(P[p + "attention_norm/scale"])
                layer.attention_norm.bias.copy_(P[p + "attention_norm/bias"])
                for m in ("query", "key", "value", "output"):
                    getattr(layer, m).weight.copy_(P[p + "attention/" + m].T)
                for a in "thw":
                    getattr(layer, "relative_" + a).copy_(P[p + "attention/relative_" + a])
                layer.ffn_norm.weight.copy_(P[p + "ffn_norm/scale"])
                layer.ffn_norm.bias.copy_(P[p + "ffn_norm/bias"])
                layer.ffn_hidden.weight.copy_(P[p + "ffn/hidden/weight"].T)
                layer.ffn_hidden.bias.copy_(P[p + "ffn/hidden/bias"])
                layer.ffn_output.weight.copy_(P[p + "ffn/output/weight"].T)
                layer.ffn_output.bias.copy_(P[p + "ffn/output/bias"])
        for c in range(C):
            model.head_hidden[c].weight.copy_(P[f"head/channel_{c}/hidden/weight"].T)
            model.head_hidden[c].bias.copy_(P[f"head/channel_{c}/hidden/bias"])
            model.head_logits[c].weight.copy_(P[f"head/channel_{c}/logits/weight"].T)
            model.head_logits[c].bias.copy_(P[f"head/channel_{c}/logits/bias"])
            if c:
                model.head_previous[c - 1].copy_(P[f"head/channel_{c}/previous"].reshape(-1, cfg["hidden_size"]))
    return sum(int(torch.tensor(p["shape"]).prod()) for p in params)


def check(fixture):
    """Float64 forward of every slice of the fixture videos vs the independent NumPy reference; then the
    gradients of the SDPA and the manual attention paths against each other."""
    with open(fixture) as f:
        cases = json.load(f)["cases"]
    worst = 0.0
    for case in cases:
        cfg = case["config"]
        shape = (cfg["frames"], cfg["height"], cfg["width"], C)
        models = {}
        for attention in ("sdpa", "manual"):
            m = VideoTransformer(cfg, attention).double()
            count = load_reference(m, case["parameters"])
            assert count == sum(p.numel() for p in m.parameters()), (case["name"], count)
            models[attention] = m
        for v, video in enumerate(case["videos"]):
            video = torch.tensor(video, dtype=torch.uint8).view(*shape)
            ref = torch.tensor(case["nll"][v], dtype=torch.float64).view(*shape)
            st, sh, sw = cfg["subscale"]
            for attention, m in models.items():
                for k in range(m.S):
                    a, b, c = k // (sh * sw), (k // sw) % sh, k % sw
                    with torch.no_grad():
                        loss, nll = m.loss(video[None], torch.tensor([k]))
                    want = ref[a::st, b::sh, c::sw].reshape(-1, C)
                    keep = m.loss_mask[k]
                    err = (nll[0][keep] - want[keep]).abs().max().item() if keep.any() else 0.0
                    worst = max(worst, err)
                    slice_loss = case["slice_loss"][v][k]
                    if slice_loss is not None:
                        assert abs(loss.item() - slice_loss) < 1e-9, (case["name"], attention, k, loss.item(), slice_loss)
                    assert err < 1e-9, (case["name"], attention, v, k, err)
        # Gradients: SDPA path (incl. d/d relative biases through attn_mask) == manual path.
        video = torch.tensor(case["videos"][0], dtype=torch.uint8).view(1, *shape)
        k = torch.tensor([models["sdpa"].S - 1])
        grads = {}
        for attention, m in models.items():
            m.zero_grad()
            m.loss(video, k)[0].backward()
            grads[attention] = [p.grad.clone() for p in m.parameters()]
        for (name, _), g1, g2 in zip(models["sdpa"].named_parameters(), grads["sdpa"], grads["manual"]):
            assert torch.allclose(g1, g2, rtol=1e-9, atol=1e-11), (case["name"], name)
        print(f"check: case {case['name']}: every slice matches the NumPy reference "
              f"(both attention paths); SDPA and manual gradients agree", file=sys.stderr)
    print(f"check: max |NLL − reference| = {worst:.2e} nats", file=sys.stderr)


# ----------------------------------------------------------------------------- timing
def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def sgemm_peak(size=2048, repeats=5, dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(size, size, generator=g).to(dtype), torch.rand(size, size, generator=g).to(dtype)
    torch.mm(a, b)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        samples.append(time.perf_counter() - start)
    return 2 * size ** 3 / statistics.median(samples) / 1e9


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--attention", choices=["sdpa", "manual"], default="sdpa")
    parser.add_argument("--check", action="store_true", help="verify against the NumPy reference fixture first")
    parser.add_argument("--fixture", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests",
                                                          "VideoModelTests", "Fixtures", "reference_tiny.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: forward and loss under torch.autocast('cpu', dtype=torch.bfloat16)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.check:
        check(args.fixture)
    torch.manual_seed(args.seed)
    rss_import = peak_rss_bytes()

    cfg = BENCH
    model = VideoTransformer(cfg, args.attention)
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters == 6_340_176, parameters
    flops = 3 * forward_flops_per_video(cfg) * BATCH
    assert abs(flops / 1e9 - 415.5) < 0.05, flops
    optimizer = torch.optim.RMSprop(model.parameters(), lr=2e-5, alpha=0.95, momentum=0.9, eps=1e-8)
    videos = torch.randint(0, VALUES, (BATCH, cfg["frames"], cfg["height"], cfg["width"], C), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(args.seed)

    bf16 = args.precision == "bf16"
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    peak_before = sgemm_peak()
    bf16_peak_before = sgemm_peak(dtype=torch.bfloat16) if bf16 else None
    load_before = loadavg()
    steps, phases, losses = [], {"forward": [], "backward": [], "optimizer": []}, []
    for index in range(args.warmup + args.steps):
        k = torch.randint(0, model.S, (BATCH,), generator=generator)        # one random slice per video
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss, _ = model.loss(videos, k)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        losses.append(loss.item())
        print(f"step {index + 1}/{args.warmup + args.steps}{' (warm-up)' if index < args.warmup else ''}: "
              f"{t3 - t0:.3f} s (forward {t1 - t0:.3f}, backward {t2 - t1:.3f}, optimizer {t3 - t2:.3f}) "
              f"loss {loss.item():.4f}  load {loadavg()[0]}", file=sys.stderr)
        if index >= args.warmup:
            steps.append(t3 - t0)
            for name, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2)):
                phases[name].append(value)
    load_after = loadavg()
    peak_after = sgemm_peak()
    peak = max(peak_before, peak_after)
    bf16_peak = max(bf16_peak_before, sgemm_peak(dtype=torch.bfloat16)) if bf16 else None
    step = statistics.median(steps)
    achieved = flops / step / 1e9
    print(json.dumps({
        "implementation": f"pytorch-eager ({args.attention} attention)" + (", autocast bf16" if bf16 else ""),
        "precision": args.precision,
        "bf16_peak_gflops": round(bf16_peak, 2) if bf16 else None,
        "bf16_peak_method": "torch.mm 2048x2048 bf16, median of 5" if bf16 else None,
        "mfu_bf16_peak": round(achieved / bf16_peak, 4) if bf16 else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "config": "Configs/bench.yaml",
        "batch": BATCH,
        "parameters": parameters,
        "steps": args.steps,
        "step_seconds_median": round(step, 4),
        "step_seconds_min": round(min(steps), 4),
        "step_seconds_all": [round(s, 4) for s in steps],
        "phase_seconds_median": {n: round(statistics.median(v), 4) for n, v in phases.items()},
        "model_flops_per_step": flops,
        "achieved_gflops": round(achieved, 2),
        "sgemm_peak_gflops": round(peak, 2),
        "sgemm_peak_gflops_before_after": [round(peak_before, 2), round(peak_after, 2)],
        "sgemm_peak_method": "torch.mm 2048x2048 fp32, median of 5",
        "mfu": round(achieved / peak, 4),
        "peak_resident_bytes": peak_rss_bytes(),
        "resident_bytes_after_import": rss_import,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "losses": [round(x, 4) for x in losses],
    }))


if __name__ == "__main__":
    main()
