#!/usr/bin/env python3
"""Independent float64 reference of the Video Transformer forward pass (docs/design.md section 2).

What it implements, exactly as docs/design.md section 2 defines it:
  * spatio-temporal subscaling into S = st*sh*sw slices, slice index k = (a*sh + b)*sw + c;
  * priming frames (visible to every slice's encoder, excluded from loss and bits/dim);
  * encoder: visibility mask, the one-hot 3-D convolution with stride s written as a gather-sum of
    embedding rows, slice embedding, input projection, per-axis positions, unmasked block-local
    self-attention layers (pre-LayerNorm, relative biases), final LayerNorm;
  * decoder: summed channel embedding, the 13-tap masked 3x3x3 "shift" convolution over the slice
    grid, its own positions, conditioning enc @ W_cond, causally masked block-local layers, final LN;
  * channel head (R, G, B in order, each conditioned on the earlier channels of the same pixel);
  * per-sub-pixel NLL in nats with teacher forcing, bits/dim and per-slice losses.
  * conditioning (section 11): per frame t, c_t = the clip's action t-1 (0 for t = 0), projected per stack
    (c_t @ Wa + ba) and a class-table row (row K = "no label"), added to every position of frame t in the
    encoder (after the input projection, beside the positions) and the decoder (after enc @ W_cond).
What it leaves out: no backward pass, no gradients, no training/optimizer, no sampling, no data
loading, no distribution.  All arithmetic is float64; every parameter is rounded to float32 first,
so a float32 implementation holds exactly the same numbers.

Writes the test fixture Tests/VideoModelTests/Fixtures/reference_tiny.json (compact JSON):
    python3 Tests/Fixtures/Generators/reference_model.py [--output PATH]
Self-checks (run every time): zero logits head => bits/dim == 8; causality of the decoder within a
slice; encoder blind to invisible pixels; gather-sum == dense one-hot strided convolution.
"""
import argparse
import json
import math
import os

import numpy as np

C, VALUES, EPS = 3, 256, 1e-6
DEFAULT_OUTPUT = "Tests/VideoModelTests/Fixtures/reference_tiny.json"
# The 13 shift-convolution taps: offsets in {-1,0,1}^3 lexicographically before (0,0,0), in order.
SHIFT_TAPS = [(dt, dh, dw) for dt in (-1, 0, 1) for dh in (-1, 0, 1) for dw in (-1, 0, 1)
              if (dt, dh, dw) < (0, 0, 0)]
assert len(SHIFT_TAPS) == 13

CASES = [
    ("A", dict(frames=4, height=6, width=8, subscale=[2, 3, 2], prime_frames=[0], embedding_size=3,
               hidden_size=6, heads=2, head_size=4, ffn_size=7, encoder_layers=2, decoder_layers=3,
               encoder_kernel=[3, 3, 3], blocks=[[2, 2, 4], [1, 2, 2], [2, 1, 4]])),
    ("B", dict(frames=4, height=4, width=4, subscale=[1, 2, 2], prime_frames=[0, 3], embedding_size=4,
               hidden_size=5, heads=1, head_size=3, ffn_size=6, encoder_layers=1, decoder_layers=2,
               encoder_kernel=[3, 1, 3], blocks=[[2, 2, 2], [4, 1, 2]])),
    ("C", dict(frames=2, height=4, width=6, subscale=[2, 2, 3], prime_frames=[], embedding_size=2,
               hidden_size=4, heads=2, head_size=2, ffn_size=3, encoder_layers=1, decoder_layers=1,
               encoder_kernel=[1, 3, 5], blocks=[[1, 2, 2]])),
    # Conditioned (section 11): actions (subscale 2 in time, so slices see different frames' actions),
    # classes (one video labelled, one "no label"), and both together.
    ("D", dict(frames=4, height=4, width=4, subscale=[2, 2, 1], prime_frames=[0], embedding_size=3,
               hidden_size=5, heads=1, head_size=3, ffn_size=4, encoder_layers=1, decoder_layers=2,
               encoder_kernel=[3, 3, 1], blocks=[[2, 2, 2]], actions=3)),
    ("E", dict(frames=2, height=4, width=4, subscale=[1, 2, 2], prime_frames=[], embedding_size=2,
               hidden_size=4, heads=2, head_size=2, ffn_size=3, encoder_layers=1, decoder_layers=1,
               encoder_kernel=[1, 3, 3], blocks=[[2, 1, 2]], classes=3)),
    ("F", dict(frames=4, height=2, width=4, subscale=[2, 1, 2], prime_frames=[0], embedding_size=2,
               hidden_size=4, heads=1, head_size=4, ffn_size=5, encoder_layers=1, decoder_layers=1,
               encoder_kernel=[3, 1, 3], blocks=[[2, 2, 2]], actions=2, classes=2)),
]

# ----------------------------------------------------------------------------- geometry
def slice_grid(cfg):
    st, sh, sw = cfg["subscale"]
    return cfg["frames"] // st, cfg["height"] // sh, cfg["width"] // sw

def num_slices(cfg):
    st, sh, sw = cfg["subscale"]
    return st * sh * sw

def slice_of_pixel(t, h, w, cfg):
    st, sh, sw = cfg["subscale"]
    return ((t % st) * sh + h % sh) * sw + w % sw

def slice_origin(k, cfg):
    """(a, b, c) of slice k, with k = (a*sh + b)*sw + c."""
    _, sh, sw = cfg["subscale"]
    return k // (sh * sw), (k // sw) % sh, k % sw

def extract_slice(video, k, cfg):
    st, sh, sw = cfg["subscale"]
    a, b, c = slice_origin(k, cfg)
    return video[a::st, b::sh, c::sw]

def is_visible(t, h, w, k, cfg):
    return slice_of_pixel(t, h, w, cfg) < k or t in cfg["prime_frames"]

def validate(cfg):
    for n, s in zip((cfg["frames"], cfg["height"], cfg["width"]), cfg["subscale"]):
        assert n % s == 0, "subscale must divide the video"
    assert all(q % 2 == 1 for q in cfg["encoder_kernel"]), "encoder kernel must be odd"
    for block in cfg["blocks"]:
        assert all(g % b == 0 for g, b in zip(slice_grid(cfg), block)), "block must divide slice grid"

def blocks_in_raster_order(grid, block):
    """Lists of grid positions (t,h,w): blocks in raster order over the block grid, positions in
    raster order inside each block."""
    (gt, gh, gw), (bt, bh, bw) = grid, block
    out = []
    for ot in range(0, gt, bt):
        for oh in range(0, gh, bh):
            for ow in range(0, gw, bw):
                out.append([(ot + t, oh + h, ow + w)
                            for t in range(bt) for h in range(bh) for w in range(bw)])
    return out

# ----------------------------------------------------------------------------- parameters
def parameter_specs(cfg):
    """(name, shape, kind) in design.md's table order; kind selects the random initialisation."""
    kt, kh, kw = cfg["encoder_kernel"]
    de, d, nh, dh, dff = (cfg[x] for x in ("embedding_size", "hidden_size", "heads", "head_size", "ffn_size"))
    gt, gh, gw = slice_grid(cfg)
    specs = [("encoder/embedding", [kt, kh, kw, C, VALUES, de], "embed"),
             ("encoder/slice_embedding", [num_slices(cfg), de], "embed"),
             ("encoder/input/weight", [de, d], "weight"), ("encoder/input/bias", [d], "bias")]

    def stack(L):
        s = [(f"{L}/position/t", [gt, d], "embed"), (f"{L}/position/h", [gh, d], "embed"),
             (f"{L}/position/w", [gw, d], "embed")]
        for i in range(cfg[f"{L}_layers"]):
            bt, bh, bw = cfg["blocks"][i % len(cfg["blocks"])]
            p = f"{L}/layer_{i}/"
            s += [(p + "attention_norm/scale", [d], "scale"), (p + "attention_norm/bias", [d], "bias"),
                  (p + "attention/query", [d, nh * dh], "weight"),
                  (p + "attention/key", [d, nh * dh], "weight"),
                  (p + "attention/value", [d, nh * dh], "weight"),
                  (p + "attention/output", [nh * dh, d], "weight"),
                  (p + "attention/relative_t", [nh, 2 * bt - 1], "embed"),
                  (p + "attention/relative_h", [nh, 2 * bh - 1], "embed"),
                  (p + "attention/relative_w", [nh, 2 * bw - 1], "embed"),
                  (p + "ffn_norm/scale", [d], "scale"), (p + "ffn_norm/bias", [d], "bias"),
                  (p + "ffn/hidden/weight", [d, dff], "weight"), (p + "ffn/hidden/bias", [dff], "bias"),
                  (p + "ffn/output/weight", [dff, d], "weight"), (p + "ffn/output/bias", [d], "bias")]
        return s + [(f"{L}/final_norm/scale", [d], "scale"), (f"{L}/final_norm/bias", [d], "bias")]

    def conditioning(L):
        s = []
        if cfg.get("actions", 0):
            s += [(f"{L}/action/weight", [cfg["actions"], d], "weight"), (f"{L}/action/bias", [d], "bias")]
        if cfg.get("classes", 0):
            s.append((f"{L}/class_embedding", [cfg["classes"] + 1, d], "embed"))
        return s

    specs += conditioning("encoder")
    specs += stack("encoder")
    specs += [("decoder/embedding", [C, VALUES, de], "embed"),
              ("decoder/shift/weight", [13, de, d], "weight"), ("decoder/shift/bias", [d], "bias"),
              ("decoder/condition", [d, d], "weight")]
    specs += conditioning("decoder")
    specs += stack("decoder")
    for c in range(C):
        p = f"head/channel_{c}/"
        specs += [(p + "hidden/weight", [d, d], "weight"), (p + "hidden/bias", [d], "bias")]
        if c >= 1:
            specs.append((p + "previous", [c, VALUES, d], "embed"))
        specs += [(p + "logits/weight", [d, VALUES], "weight"), (p + "logits/bias", [VALUES], "logit_bias")]
    return specs

def init_parameters(cfg, rng):
    """Random non-zero parameters, each rounded to float32 and held as float64."""
    params = {}
    for name, shape, kind in parameter_specs(cfg):
        z = rng.standard_normal(shape)
        if kind == "weight":        # fan_in = product of all but the last axis ([13,d_e,d] -> 13*d_e)
            value = z * (1.0 / math.sqrt(int(np.prod(shape[:-1]))))
        elif kind == "scale":
            value = 1.0 + 0.3 * z
        elif kind == "bias":
            value = 0.3 * z
        elif kind == "logit_bias":
            value = 1.0 * z
        else:                       # embeddings, positions, relative biases
            value = 0.5 * z
        params[name] = value.astype(np.float32).astype(np.float64)
    return params

# ----------------------------------------------------------------------------- building blocks
def layer_norm(x, scale, bias):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)   # population variance
    return (x - mean) / np.sqrt(var + EPS) * scale + bias

relu = lambda x: np.maximum(x, 0.0)

def log_softmax(logits):
    m = logits.max()
    return logits - (m + math.log(np.exp(logits - m).sum()))

def add_positions(x, params, stack):
    pt, ph, pw = (params[f"{stack}/position/{a}"] for a in "thw")
    return x + pt[:, None, None, :] + ph[None, :, None, :] + pw[None, None, :, :]

def attention_layer(z, params, prefix, block, cfg, masked):
    """One pre-LN block-local self-attention layer + FFN on a [T',H',W',d] grid."""
    P = lambda n: params[prefix + n]
    nh, dh = cfg["heads"], cfg["head_size"]
    bt, bh, bw = block
    a = layer_norm(z, P("attention_norm/scale"), P("attention_norm/bias"))
    q, k, v = a @ P("attention/query"), a @ P("attention/key"), a @ P("attention/value")
    heads_out = np.zeros(z.shape[:3] + (nh * dh,))
    Rt, Rh, Rw = P("attention/relative_t"), P("attention/relative_h"), P("attention/relative_w")
    for positions in blocks_in_raster_order(z.shape[:3], block):
        local = [(t % bt, h % bh, w % bw) for (t, h, w) in positions]   # within-block coordinates
        for head in range(nh):
            cols = slice(head * dh, (head + 1) * dh)                     # head-major columns
            qb = np.array([q[p][cols] for p in positions])
            kb = np.array([k[p][cols] for p in positions])
            vb = np.array([v[p][cols] for p in positions])
            logits = qb @ kb.T / math.sqrt(dh)
            for i, (ti, hi, wi) in enumerate(local):                    # i = query, j = key
                for j, (tj, hj, wj) in enumerate(local):
                    logits[i, j] += (Rt[head, ti - tj + bt - 1] + Rh[head, hi - hj + bh - 1]
                                     + Rw[head, wi - wj + bw - 1])
                    if masked and j > i:
                        logits[i, j] = -np.inf
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            out = probs @ vb
            for i, p in enumerate(positions):
                heads_out[p][cols] = out[i]
    z = z + heads_out @ P("attention/output")
    f = layer_norm(z, P("ffn_norm/scale"), P("ffn_norm/bias"))
    return z + relu(f @ P("ffn/hidden/weight") + P("ffn/hidden/bias")) @ P("ffn/output/weight") \
        + P("ffn/output/bias")

def run_stack(x, params, stack, cfg, masked):
    for i in range(cfg[f"{stack}_layers"]):
        block = cfg["blocks"][i % len(cfg["blocks"])]
        x = attention_layer(x, params, f"{stack}/layer_{i}/", block, cfg, masked)
    return layer_norm(x, params[f"{stack}/final_norm/scale"], params[f"{stack}/final_norm/bias"])

# ----------------------------------------------------------------------------- conditioning (section 11)
def conditioning_term(cond, params, stack, cfg):
    """[T', H', W', d] for slice (a, b, c) positions: term[t] = c_t @ Wa + ba + class_embedding[label],
    with c_t = actions[t-1] (t >= 1), c_0 = 0; position (i, j, l) of the slice lies in frame a + i*st."""
    k, actions, label = cond
    st = cfg["subscale"][0]
    a = slice_origin(k, cfg)[0]
    gt, gh, gw = slice_grid(cfg)
    term = np.zeros((gt, gh, gw, cfg["hidden_size"]))
    for i in range(gt):
        t = a + i * st
        v = np.zeros(cfg["hidden_size"])
        if cfg.get("actions", 0):
            c = actions[t - 1] if t >= 1 else np.zeros(cfg["actions"])
            v = v + c @ params[f"{stack}/action/weight"] + params[f"{stack}/action/bias"]
        if cfg.get("classes", 0):
            v = v + params[f"{stack}/class_embedding"][label]
        term[i] = v
    return term

def is_conditioned(cfg):
    return bool(cfg.get("actions", 0) or cfg.get("classes", 0))

# ----------------------------------------------------------------------------- encoder
def encoder_embedding(video, k, params, cfg):
    """E[i,j,l] = sum over window offsets, channels of visible in-range p of Wemb[dt,dh,dw,ch,V[p,ch]],
    plus slice_embedding[k] (a gather-sum, i.e. the one-hot strided convolution)."""
    st, sh, sw = cfg["subscale"]
    kt, kh, kw = cfg["encoder_kernel"]
    a, b, c = slice_origin(k, cfg)
    W = params["encoder/embedding"]
    E = np.zeros(slice_grid(cfg) + (cfg["embedding_size"],))
    for (i, j, l), _ in np.ndenumerate(E[..., 0]):
        for dt in range(kt):
            for dh in range(kh):
                for dw in range(kw):
                    t, h, w = a + i * st + dt - kt // 2, b + j * sh + dh - kh // 2, c + l * sw + dw - kw // 2
                    if not (0 <= t < cfg["frames"] and 0 <= h < cfg["height"] and 0 <= w < cfg["width"]) \
                            or not is_visible(t, h, w, k, cfg):
                        continue
                    for ch in range(C):
                        E[i, j, l] += W[dt, dh, dw, ch, video[t, h, w, ch]]
    return E + params["encoder/slice_embedding"][k]

def encode(video, k, params, cfg, cond=None):
    E = encoder_embedding(video, k, params, cfg)
    x = add_positions(E @ params["encoder/input/weight"] + params["encoder/input/bias"], params, "encoder")
    if is_conditioned(cfg):
        x = x + conditioning_term((k,) + cond, params, "encoder", cfg)
    return run_stack(x, params, "encoder", cfg, masked=False)

# ----------------------------------------------------------------------------- decoder + head
def shift_convolution(e, params):
    """u[p] = sum_taps e[p + tap] @ Wshift[tap] + bshift, zero outside the slice grid."""
    W, bias = params["decoder/shift/weight"], params["decoder/shift/bias"]
    gt, gh, gw, _ = e.shape
    u = np.zeros((gt, gh, gw, W.shape[2])) + bias
    for (t, h, w), _ in np.ndenumerate(e[..., 0]):
        for n, (dt, dh, dw) in enumerate(SHIFT_TAPS):
            tt, hh, ww = t + dt, h + dh, w + dw
            if 0 <= tt < gt and 0 <= hh < gh and 0 <= ww < gw:
                u[t, h, w] += e[tt, hh, ww] @ W[n]
    return u

def decode(x_slice, enc, params, cfg, k=None, cond=None):
    Wdec = params["decoder/embedding"]
    e = sum(Wdec[ch][x_slice[..., ch]] for ch in range(C))          # [T',H',W',d_e]
    y0 = add_positions(shift_convolution(e, params), params, "decoder") + enc @ params["decoder/condition"]
    if is_conditioned(cfg):
        y0 = y0 + conditioning_term((k,) + cond, params, "decoder", cfg)
    return run_stack(y0, params, "decoder", cfg, masked=True)

def channel_head_nll(y, x_slice, params):
    """NLL (nats) of every sub-pixel of the slice, [T',H',W',C]."""
    nll = np.zeros(x_slice.shape)
    for (t, h, w), _ in np.ndenumerate(x_slice[..., 0]):
        for ch in range(C):
            p = f"head/channel_{ch}/"
            pre = y[t, h, w] @ params[p + "hidden/weight"] + params[p + "hidden/bias"]
            for prev in range(ch):
                pre = pre + params[p + "previous"][prev, x_slice[t, h, w, prev]]
            logits = relu(pre) @ params[p + "logits/weight"] + params[p + "logits/bias"]
            nll[t, h, w, ch] = -log_softmax(logits)[x_slice[t, h, w, ch]]
    return nll

def slice_nll(video, k, params, cfg, cond=None):
    """cond = (actions [T, A] or None, label or None) for a conditioned model."""
    x_slice = extract_slice(video, k, cfg)
    enc = encode(video, k, params, cfg, cond)
    return channel_head_nll(decode(x_slice, enc, params, cfg, k, cond), x_slice, params)

# ----------------------------------------------------------------------------- whole video
def primed_mask(cfg):
    m = np.zeros((cfg["frames"], cfg["height"], cfg["width"], C), dtype=bool)
    m[cfg["prime_frames"]] = True
    return m

def video_nll(video, params, cfg, cond=None):
    """NLL of every sub-pixel at its video position (teacher forcing, every slice); 0 at primed."""
    st, sh, sw = cfg["subscale"]
    out = np.zeros(video.shape)
    for k in range(num_slices(cfg)):
        a, b, c = slice_origin(k, cfg)
        out[a::st, b::sh, c::sw] = slice_nll(video, k, params, cfg, cond)
    out[primed_mask(cfg)] = 0.0
    return out

def summarize(nll, cfg):
    keep = ~primed_mask(cfg)
    bits = math.fsum(nll[keep].tolist()) / int(keep.sum()) / math.log(2.0)
    losses = []
    for k in range(num_slices(cfg)):
        vals, mask = extract_slice(nll, k, cfg), extract_slice(keep, k, cfg)
        losses.append(math.fsum(vals[mask].tolist()) / int(mask.sum()) if mask.any() else None)
    return bits, losses

# ----------------------------------------------------------------------------- self-checks
def check_zero_head(video, params, cfg, cond=None):
    zeroed = dict(params)
    for c in range(C):
        for n in ("logits/weight", "logits/bias"):
            zeroed[f"head/channel_{c}/{n}"] = np.zeros_like(params[f"head/channel_{c}/{n}"])
    bits, _ = summarize(video_nll(video, zeroed, cfg, cond), cfg)
    assert bits == 8.0, f"zero head must give exactly 8 bits/dim, got {bits!r}"

def check_dense_convolution(video, k, params, cfg):
    """The gather-sum equals an explicit strided convolution of the masked one-hot video."""
    st, sh, sw = cfg["subscale"]
    kt, kh, kw = cfg["encoder_kernel"]
    T, H, W = cfg["frames"], cfg["height"], cfg["width"]
    onehot = np.zeros((T, H, W, C, VALUES))
    for (t, h, w, ch), value in np.ndenumerate(video):
        if is_visible(t, h, w, k, cfg):
            onehot[t, h, w, ch, value] = 1.0
    pad = np.pad(onehot, [(kt // 2,) * 2, (kh // 2,) * 2, (kw // 2,) * 2, (0, 0), (0, 0)])
    gt, gh, gw = slice_grid(cfg)
    a, b, c = slice_origin(k, cfg)
    E = np.zeros((gt, gh, gw, cfg["embedding_size"])) + params["encoder/slice_embedding"][k]
    for dt in range(kt):
        for dh in range(kh):
            for dw in range(kw):
                win = pad[a + dt: a + dt + gt * st: st, b + dh: b + dh + gh * sh: sh,
                          c + dw: c + dw + gw * sw: sw]
                E += np.einsum("ijlcv,cvd->ijld", win, params["encoder/embedding"][dt, dh, dw])
    assert np.allclose(E, encoder_embedding(video, k, params, cfg), rtol=0, atol=1e-12)

def check_conditioning_matters(video, params, cfg, cond, rng):
    """Changing the actions of a frame >= 1, or the label, changes the NLL; a conditioned model with zero
    conditioning tensors equals the same model without them."""
    base = video_nll(video, params, cfg, cond)
    actions, label = cond
    if cfg.get("actions", 0):
        moved = actions.copy()
        moved[0] += 1.0                      # action 0 leads to frame 1
        assert not np.array_equal(base, video_nll(video, params, cfg, (moved, label))), "actions had no effect"
        last = actions.copy()
        last[-1] += 1.0                      # the last action leads to no frame of the clip
        assert np.array_equal(base, video_nll(video, params, cfg, (last, label))), "the last action leaked"
    if cfg.get("classes", 0):
        other = (label + 1) % (cfg["classes"] + 1)
        assert not np.array_equal(base, video_nll(video, params, cfg, (actions, other))), "the label had no effect"
    plain_cfg = {key: value for key, value in cfg.items() if key not in ("actions", "classes")}
    zeroed = {name: (np.zeros_like(value) if ("/action/" in name or "class_embedding" in name) else value)
              for name, value in params.items()}
    plain = {name: value for name, value in params.items() if "/action/" not in name and "class_embedding" not in name}
    assert np.array_equal(video_nll(video, zeroed, cfg, cond), video_nll(video, plain, plain_cfg)), \
        "zero conditioning must be the unconditioned model"

def check_causality(video, params, cfg, rng):
    st, sh, sw = cfg["subscale"]
    gt, gh, gw = slice_grid(cfg)
    for k in range(num_slices(cfg)):
        a, b, c = slice_origin(k, cfg)
        # (1) decoder: perturbing sub-pixel (i, ch) leaves earlier sub-pixels of slice k unchanged.
        base = slice_nll(video, k, params, cfg).reshape(-1)
        i = int(rng.integers(gt * gh * gw))
        ti, hi, wi = np.unravel_index(i, (gt, gh, gw))
        t, h, w = a + ti * st, b + hi * sh, c + wi * sw
        if t not in cfg["prime_frames"]:   # a primed pixel is visible to the encoder: no claim
            ch = int(rng.integers(C))
            changed = video.copy()
            changed[t, h, w, ch] = (int(video[t, h, w, ch]) + 1 + int(rng.integers(255))) % VALUES
            after = slice_nll(changed, k, params, cfg).reshape(-1)
            n = i * C + ch
            assert np.array_equal(base[:n], after[:n]), f"slice {k}: earlier sub-pixels changed"
            assert not np.array_equal(base[n:], after[n:]), f"slice {k}: perturbation had no effect"
        # (2) encoder: changing an invisible pixel leaves enc unchanged; a visible one changes it.
        enc, E, seen = encode(video, k, params, cfg), encoder_embedding(video, k, params, cfg), 0
        for (t, h, w) in np.ndindex(video.shape[:3]):
            changed = video.copy()
            changed[t, h, w] = (video[t, h, w].astype(int) + 1 + rng.integers(255, size=C)) % VALUES
            same = np.array_equal(enc, encode(changed, k, params, cfg))
            if not is_visible(t, h, w, k, cfg):
                assert same, f"slice {k}: invisible pixel {(t, h, w)} changed the encoder"
            else:   # a visible pixel matters iff it lies in some convolution window
                assert same == np.array_equal(E, encoder_embedding(changed, k, params, cfg))
                seen += not same
        assert seen > 0, f"slice {k}: no visible pixel reaches the encoder"

# ----------------------------------------------------------------------------- fixture
def fmt(values, digits):
    return "[" + ",".join(("%." + str(digits) + "g") % v for v in np.asarray(values).reshape(-1)) + "]"

def case_json(name, cfg, params, videos, results, conds):
    compact = lambda x: json.dumps(x, separators=(",", ":"))
    plist = ",".join('{"name":%s,"shape":%s,"values":%s}' % (compact(n), compact(s), fmt(params[n], 9))
                     for n, s, _ in parameter_specs(cfg))
    vids = ",".join("[" + ",".join(str(int(x)) for x in v.reshape(-1)) + "]" for v in videos)
    nll = ",".join(fmt(r[0], 17) for r in results)
    bits = fmt([r[1] for r in results], 17)
    loss = ",".join("[" + ",".join("null" if x is None else "%.17g" % x for x in r[2]) + "]"
                    for r in results)
    extra = ""
    if cfg.get("actions", 0):
        extra += ',"actions":[%s]' % ",".join(fmt(c[0], 9) for c in conds)
    if cfg.get("classes", 0):
        extra += ',"labels":%s' % compact([int(c[1]) for c in conds])
    return ('{"name":%s,"config":%s,"parameters":[%s],"videos":[%s],"nll":[%s],"bits_per_dim":%s,'
            '"slice_loss":[%s]%s}' % (compact(name), compact(cfg), plist, vids, nll, bits, loss, extra))

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    cases = []
    for index, (name, cfg) in enumerate(CASES):
        validate(cfg)
        rng = np.random.default_rng(1906_02634 + index)
        params = init_parameters(cfg, rng)
        shape = (cfg["frames"], cfg["height"], cfg["width"], C)
        videos = [rng.integers(0, VALUES, size=shape).astype(np.uint8) for _ in range(2)]
        conds = [None, None]
        if is_conditioned(cfg):      # actions float32-exact; video 0 labelled, video 1 "no label" (row K)
            conds = [((rng.standard_normal((cfg["frames"], cfg["actions"])).astype(np.float32).astype(np.float64)
                       if cfg.get("actions", 0) else None),
                      (int(rng.integers(cfg["classes"])) if v == 0 else cfg["classes"]) if cfg.get("classes", 0) else None)
                     for v in range(2)]
        results = []
        for video, cond in zip(videos, conds):
            nll = video_nll(video, params, cfg, cond)
            results.append((nll,) + summarize(nll, cfg))
        spread = np.std(np.concatenate([r[0][~primed_mask(cfg)] for r in results]))
        assert spread > 0.3, f"case {name}: NLL spread {spread} too small"
        check_zero_head(videos[0], params, cfg, conds[0])
        for k in range(num_slices(cfg)):
            check_dense_convolution(videos[0], k, params, cfg)
        if name == "A":
            check_causality(videos[0], params, cfg, np.random.default_rng(7))
        if is_conditioned(cfg):
            check_conditioning_matters(videos[0], params, cfg, conds[0], np.random.default_rng(8))
        count = sum(p.size for p in params.values())
        print(f"case {name}: {count} parameters, bits/dim " + ", ".join("%.6f" % r[1] for r in results)
              + f", NLL std {spread:.3f}")
        cases.append(case_json(name, cfg, params, videos, results, conds))
    description = ("Float64 reference forward pass of the Video Transformer (docs/design.md sections 2 and 11): "
                   "per-sub-pixel NLL in nats (teacher forcing, every slice; 0 at primed sub-pixels), "
                   "bits/dim over non-primed sub-pixels, mean NLL per slice (null if fully primed). "
                   "Parameters are float32 values; videos and nll are flat row-major [T,H,W,C]; conditioned "
                   "cases add actions (flat [T,A] per video, clip-aligned) and labels (K = no label).")
    text = '{"generator":%s,"description":%s,"cases":[%s]}\n' % (
        json.dumps("Tests/Fixtures/Generators/reference_model.py"), json.dumps(description), ",".join(cases))
    json.loads(text)
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        f.write(text)
    print(f"wrote {args.output} ({len(text)} bytes); all self-checks passed")

if __name__ == "__main__":
    main()
