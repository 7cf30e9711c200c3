"""Cases of exercise 09 (multi-scale attention fusion): stage maps and MLP weights from a seed, and the calls.

The grader calls ``make_case`` in its own process (numpy only) and ``run`` in the child that
imports the submission; ``diagnose`` turns a mismatch into a hint. The module runs in inference
mode (``.eval()``; Keras: ``training=False``), where its Dropout is the identity. Outputs
(compared in name order):

* ``scale_weights``: ``w``, ``(B, S)``, from ``module(features, return_attention=True)``;
* ``y``: the fused map, ``(B, sum(in_channels), p, p)`` in NCHW, from ``module(features)``.

A case's stages are given by ``channels`` (``"4,6,4"``: ``C_i``) and ``factors`` (``"4x2,2x3,1x1"``:
stage ``i`` is ``(k_h * p) x (k_w * p)``, ``p = pool_size``). Hidden cases leave both empty and
draw them from the case's seed: every ``C_i`` from 2 to 8; the first stage non-square with both
factors in {2, 3, 4}; the middle stages with factors in {1, 2, 3} (a stage may be ``p x p``
already); the last stage ``2p x p``, ``p x 2p`` or ``2p x 2p``, so it always needs pooling.

The hints compare a wrong answer with the module computed in numpy with one step changed (another
normalisation, another stage, another pooling, the weights left out or misplaced): they say which
step, never how to write it.
"""

import numpy as np

TOL = (1e-5, 1e-4)  # the manifest's atol and rtol, for the hints' own comparisons
_FIT = (1e-4, 1e-3)  # the hints' looser match: "yours is this variant", not "yours is right"


def _parse(text, what):
    return [int(v) for v in text.split(",")] if what == "channels" else [
        tuple(int(k) for k in item.split("x")) for item in text.split(",")]


def _draw_stages(rng, stages):
    channels = [int(c) for c in rng.integers(2, 9, stages)]
    kh = int(rng.choice([2, 3, 4]))
    factors = [(kh, int(rng.choice([k for k in (2, 3, 4) if k != kh])))]
    factors += [tuple(int(k) for k in rng.choice([1, 2, 3], 2)) for _ in range(stages - 2)]
    factors.append([(2, 1), (1, 2), (2, 2)][int(rng.integers(3))])
    return channels, factors


def make_case(rng, batch, stages, pool_size, hidden_width, dropout, channels="", factors=""):
    """Constructor arguments and float32 arrays: stage maps ``f0`` ... ``f{S-1}`` (NCHW) and the
    canonical weights of ``attention_net`` (PyTorch names and layouts). ``hidden_width`` is the
    constructor's ``hidden`` (a case parameter of that name would read as a hidden group)."""
    f32 = np.float32
    if channels or factors:
        channels, factors = _parse(channels, "channels"), _parse(factors, "factors")
    else:
        channels, factors = _draw_stages(rng, stages)
    if not (len(channels) == len(factors) == stages >= 2):
        raise ValueError(f"make_case: {stages} stages need as many channels and factors, got {channels}, {factors}")
    p = pool_size
    arrays = {}
    for i, (c, (kh, kw)) in enumerate(zip(channels, factors)):
        # a per-image, per-channel offset under unit noise: the global averages (the MLP's input)
        # differ between images and channels by about 1, so the weights differ between images
        offset = rng.standard_normal((batch, c, 1, 1))
        arrays[f"f{i}"] = (offset + rng.standard_normal((batch, c, kh * p, kw * p))).astype(f32)
    c_last, hidden = channels[-1], hidden_width
    # weights of variance gain^2 / fan_in (gains 1 and 1.5): logits of order 1, so the softmax neither
    # saturates nor comes out uniform
    arrays["attention_net.0.weight"] = (rng.standard_normal((hidden, c_last)) / np.sqrt(c_last)).astype(f32)
    arrays["attention_net.0.bias"] = (0.3 * rng.standard_normal(hidden)).astype(f32)
    arrays["attention_net.3.weight"] = (1.5 * rng.standard_normal((stages, hidden)) / np.sqrt(hidden)).astype(f32)
    arrays["attention_net.3.bias"] = (0.3 * rng.standard_normal(stages)).astype(f32)
    init = dict(in_channels=channels, hidden=hidden, dropout=dropout, pool_size=pool_size)
    return init, arrays


def _stages(arrays):
    return [arrays[f"f{i}"] for i in range(sum(1 for k in arrays if k[0] == "f" and k[1:].isdigit()))]


def _single(y):
    if isinstance(y, (tuple, list, dict)):
        raise TypeError(f"module(features) returned a {type(y).__name__}: without return_attention, return y alone")
    return y


def _pair(out):
    if not isinstance(out, (tuple, list)) or len(out) != 2 or not isinstance(out[1], dict) \
            or "scale_weights" not in out[1]:
        raise TypeError(f"module(features, return_attention=True) returned {type(out).__name__}; "
                        'return the pair (y, {"scale_weights": w})')
    return out[1]["scale_weights"]


def run(framework, submission, init, arrays):
    """Build ``MultiScaleAttention(**init)``, load the weights; ``{"scale_weights": w, "y": y}``, NCHW."""
    import harness

    stages = _stages(arrays)
    weights = {k: v for k, v in arrays.items() if k.startswith("attention_net.")}
    module = submission.MultiScaleAttention(**init)
    if framework == "torch":
        import torch

        harness.set_torch(module, weights)
        module.eval()
        with torch.no_grad():
            feats = [torch.from_numpy(f) for f in stages]
            y = _single(module(feats))
            w = _pair(module(feats, return_attention=True))
        return {"scale_weights": harness.to_numpy(w), "y": harness.to_numpy(y)}
    if framework == "paddle":
        import paddle

        harness.set_paddle(module, weights)
        module.eval()
        with paddle.no_grad():
            feats = [paddle.to_tensor(f) for f in stages]
            y = _single(module(feats))
            w = _pair(module(feats, return_attention=True))
        return {"scale_weights": harness.to_numpy(w), "y": harness.to_numpy(y)}
    import tensorflow as tf

    feats = [tf.constant(harness.nchw_to_nhwc(f)) for f in stages]
    harness.set_keras(module, weights)
    y = harness.to_numpy(_single(module(feats, training=False)))
    w = harness.to_numpy(_pair(module(feats, return_attention=True, training=False)))
    return {"scale_weights": w, "y": harness.nhwc_to_nchw(y) if y.ndim == 4 else y}


# --- hints -----------------------------------------------------------------------------

def _close(got, ref, tol=TOL):
    atol, rtol = tol
    return got.shape == ref.shape and bool(np.all(np.abs(got - ref) <= atol + rtol * np.abs(ref)))


def _pool(f, p, mode="avg"):
    """``f`` (B, C, kh * p, kw * p) pooled to (B, C, p, p) over non-overlapping windows."""
    b, c, h, w = f.shape
    windows = f.reshape(b, c, p, h // p, p, w // p)
    return windows.mean(axis=(3, 5)) if mode == "avg" else windows.max(axis=(3, 5))


def _weights(arrays, p, pool="avg", stage=-1, gap="mean", norm="softmax"):
    """The weights ``w`` (B, S) in float64 with one step changed (the hints' yardstick).

    ``pool``: how the stages are pooled (``"avg"``, ``"max"``); ``stage``: the stage whose global
    pooling feeds the MLP; ``gap``: ``"mean"`` or ``"max"`` over the positions; ``norm``:
    ``"softmax"`` over the stages, ``"batch"`` (a softmax over the images), ``"sigmoid"`` or
    ``"none"``."""
    a = {k: v.astype(np.float64) for k, v in arrays.items()}
    pooled = _pool(_stages(a)[stage], p, pool)
    g = pooled.mean(axis=(2, 3)) if gap == "mean" else pooled.max(axis=(2, 3))
    hid = np.maximum(g @ a["attention_net.0.weight"].T + a["attention_net.0.bias"], 0.0)
    z = hid @ a["attention_net.3.weight"].T + a["attention_net.3.bias"]
    if norm == "none":
        return z
    if norm == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    axis = 0 if norm == "batch" else 1
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _fused(arrays, p, w, pool="avg", scale="weights", order="forward"):
    """``y`` (B, sum C, p, p) in float64 from the weights ``w``, with one step changed:
    ``scale`` ``"weights"``, ``"none"`` or ``"reversed"`` (stage i scaled by w[:, S-1-i]);
    ``order`` of the concatenation ``"forward"`` or ``"reverse"``."""
    pooled = [_pool(f.astype(np.float64), p, pool) for f in _stages(arrays)]
    s = len(pooled)
    if scale != "none":
        pooled = [f * w[:, (s - 1 - i if scale == "reversed" else i), None, None, None] for i, f in enumerate(pooled)]
    return np.concatenate(pooled[::-1] if order == "reverse" else pooled, axis=1)


def _weights_hint(arrays, p, w):
    stages = _stages(arrays)
    b, s = stages[0].shape[0], len(stages)
    if w.shape != (b, s):
        if w.shape == (s, b):
            return f"scale_weights is (S, B) = {(s, b)}: one row per image, one column per stage, (B, S)"
        return f"scale_weights holds one weight per image and stage: (B, S) = {(b, s)} here, got {w.shape}"
    if not np.isfinite(w).all():
        return "scale_weights holds inf or NaN"
    if _close(w, _weights(arrays, p, norm="batch"), _FIT):
        return ("each stage's weights sum to 1 over the images of the batch; the stages compete for an "
                "image's weight, not the images for a stage's: each image's S weights sum to 1")
    if _close(w, _weights(arrays, p, norm="sigmoid"), _FIT):
        return ("your weights are a sigmoid of the MLP's outputs: each lies in (0, 1) on its own, but an "
                "image's weights must compete, positive and summing to 1 over the stages")
    if _close(w, _weights(arrays, p, norm="none"), _FIT):
        return "your weights are the MLP's raw outputs: they are normalised over the stages (positive, summing to 1)"
    if stages[0].shape[1] == stages[-1].shape[1] and _close(w, _weights(arrays, p, stage=0), _FIT):
        return ("your weights are computed from the first (finest) stage; in this module the last "
                "(coarsest) stage's content decides the weights")
    if _close(w, _weights(arrays, p, pool="max"), _FIT):
        return "your weights come from a max-pooled last stage: each stage is pooled by averaging its windows"
    if _close(w, _weights(arrays, p, gap="max"), _FIT):
        return "your weights come from a global maximum of the last stage: the MLP reads its global average"
    sums = w.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-4) or w.min() < 0:
        return (f"each image's weights are positive and sum to 1 over the stages; yours sum to "
                f"[{sums.min():.4g}, {sums.max():.4g}] (smallest weight {w.min():.4g})")
    return ("your weights sum to 1 per image but are not this module's: check the MLP's input, the "
            "global average over height and width of the last (coarsest) stage, (B, C_last)")


def _y_hint(arrays, p, y, w):
    stages = _stages(arrays)
    b, total = stages[0].shape[0], sum(f.shape[1] for f in stages)
    if y.shape != (b, total, p, p):
        if y.ndim == 4 and y.shape[1] == total:
            return (f"y's maps are {y.shape[2]} x {y.shape[3]}: every stage is pooled to pool_size x pool_size "
                    f"= {p} x {p} before the concatenation")
        if y.ndim == 4 and y.shape[2:] == (p, p):
            return (f"y has {y.shape[1]} channels: it holds every pooled stage, concatenated along the channels "
                    f"(sum(in_channels) = {total}; the last axis in TensorFlow)")
        return f"y is (B, sum(in_channels), p, p) = {(b, total, p, p)} in NCHW ((B, p, p, sum) in TensorFlow)"
    if not np.isfinite(y).all():
        return "y holds inf or NaN"
    if _close(y, _fused(arrays, p, w, scale="none"), _FIT):
        return "y is the pooled stages concatenated without their weights: each stage is scaled by its weight"
    if _close(y, _fused(arrays, p, w, scale="reversed"), _FIT):
        return ("stage i is scaled by the weight of stage S-1-i: w[:, i] belongs to features[i], in the "
                "order features lists them (finest first)")
    if _close(y, _fused(arrays, p, w, order="reverse"), _FIT):
        return "y holds the stages in reverse order: the concatenation follows features' order, finest first"
    if _close(y, _fused(arrays, p, w, pool="max"), _FIT):
        return "your stages are max-pooled: this module averages each (H/p) x (W/p) window"
    return ("the weights are right but y is not: y concatenates the stages in their order, each pooled "
            "to p x p by averaging its windows and scaled by its image's weight")


def diagnose(params, arrays, expected, got):
    """A hint from the shape of the mistake (never the solution)."""
    w, y = got.get("scale_weights"), got.get("y")
    if w is None or y is None:
        return None
    p = params["pool_size"]
    w = w.astype(np.float64)
    if not _close(w, expected["scale_weights"].astype(np.float64)):
        return _weights_hint(arrays, p, w)
    return _y_hint(arrays, p, y.astype(np.float64), w)
