"""Cases of exercise 03 (CBAM spatial attention): inputs and weights from a seed, and the call.

The grader calls ``make_case`` in its own process (numpy only) and ``run`` in the child
that imports the submission; ``diagnose`` turns a mismatch into a hint. The layer runs in
inference mode (``.eval()``; Keras: ``training=False``) with the BatchNorm's running
statistics loaded from the case.
"""

import numpy as np


def make_case(rng, batch, channels, height, width, kernel_size):
    """Constructor arguments and float32 arrays: ``x`` (B, C, H, W) and canonical weights."""
    k = kernel_size
    f32 = np.float32
    arrays = {
        "x": rng.standard_normal((batch, channels, height, width)).astype(f32),
        "conv.weight": (rng.standard_normal((1, 2, k, k)) * (0.3 / k)).astype(f32),
        "bn.weight": rng.uniform(0.5, 1.5, 1).astype(f32),
        "bn.bias": (0.2 * rng.standard_normal(1)).astype(f32),
        "bn.running_mean": (0.2 * rng.standard_normal(1)).astype(f32),
        # small variances, so that an epsilon other than 1e-5 changes the output visibly
        "bn.running_var": rng.uniform(0.05, 0.3, 1).astype(f32),
    }
    return {"kernel_size": kernel_size}, arrays


def run(framework, submission, init, arrays):
    """Build ``SpatialAttention(**init)``, load the weights, return ``{"y": NCHW}`` (inference)."""
    import harness

    x = arrays.pop("x")
    if framework == "torch":
        import torch

        layer = submission.SpatialAttention(**init)
        harness.set_torch(layer, arrays)
        layer.eval()
        with torch.no_grad():
            return {"y": harness.to_numpy(layer(torch.from_numpy(x)))}
    if framework == "paddle":
        import paddle

        layer = submission.SpatialAttention(**init)
        harness.set_paddle(layer, arrays)
        layer.eval()
        with paddle.no_grad():
            return {"y": harness.to_numpy(layer(paddle.to_tensor(x)))}
    import tensorflow as tf

    layer = submission.SpatialAttention(**init)
    xt = tf.constant(harness.nchw_to_nhwc(x))
    layer(xt, training=False)  # builds the sub-layers
    harness.set_keras(layer, arrays)
    y = harness.to_numpy(layer(xt, training=False))
    return {"y": harness.nhwc_to_nchw(y) if y.ndim == 4 else y}


def _logit(p):
    return np.log(p) - np.log1p(-p)


def diagnose(params, arrays, expected, got):
    """A hint from the shape of the mistake (never the solution)."""
    x, y, ref = arrays["x"], got.get("y"), expected["y"]
    if y is None or y.shape != ref.shape:
        if y is not None and y.shape == (ref.shape[0], 1) + ref.shape[2:]:
            return "that is the shape of the spatial map Ms: return x * Ms, not Ms"
        if y is not None and y.ndim == 4 and y.shape[:2] == ref.shape[:2]:
            return ("the output's H x W differs from the input's: pad the convolution with "
                    "(k - 1) // 2 zeros on every side")
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ms = np.where(np.abs(x) > 1e-3, y / x, np.nan)
        ms_ref = np.where(np.abs(x) > 1e-3, ref / x, np.nan)
    finite = ms[np.isfinite(ms)]
    if finite.size and (finite.min() < -1e-4 or finite.max() > 1 + 1e-4):
        return "your attention y / x leaves (0, 1): did you forget the sigmoid?"
    if np.allclose(y, x, atol=1e-6):
        return "the output equals the input: did you multiply x by the map Ms?"
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(ms, axis=1) - np.nanmin(ms, axis=1)
    if np.nanmax(spread) > 1e-4:
        return ("y / x differs between the channels of one pixel: Ms is one (B, 1, H, W) map, "
                "computed from maps pooled over the channel axis and broadcast over C")
    m, m_ref = np.nanmedian(ms, axis=1), np.nanmedian(ms_ref, axis=1)  # (B, H, W)
    bad = np.abs(m - m_ref) > 1e-4
    p = (params["kernel_size"] - 1) // 2
    h, w = bad.shape[1:]
    interior = h > 2 * p and w > 2 * p
    if p and interior and bad.any() and not bad[:, p:h - p, p:w - p].any():
        return (f"only pixels within {p} of the border are off: pad the convolution with "
                f"(k - 1) // 2 = {p} zero{'s' * (p > 1)} on every side")
    ok = np.isfinite(m) & np.isfinite(m_ref) & (m > 1e-4) & (m < 1 - 1e-4) & (m_ref > 1e-4)
    ok &= m_ref < 1 - 1e-4
    if ok.sum() >= 4:
        lg, lr = _logit(m[ok].astype(np.float64)), _logit(m_ref[ok].astype(np.float64))
        scale, shift = np.polyfit(lr, lg, 1)
        if np.abs(lg - (scale * lr + shift)).max() < 1e-3 * (1 + np.abs(lr).max()):
            if abs(scale - 1) < 1e-3:
                return (f"your attention logits are the reference's shifted by {shift:+.3g}: the "
                        "conv has no bias; check bn's bias and running mean")
            return (f"your attention logits are the reference's times {scale:.3g} plus a constant: "
                    "check bn (after conv, inference mode with its running statistics, eps=1e-5)")
    hint = ("the attention map is in (0, 1) but wrong: check the order of the two pooled maps "
            "(the official code stacks max first, then mean) and that both pool over channels")
    if p and not interior:  # every pixel of this small map is within reach of the padding
        hint += f"; on a map this small also check the zero padding of (k - 1) // 2 = {p}"
    return hint
