"""Cases of exercise 05 (SimAM): inputs from a seed, and the call into a submission.

SimAM has no weights, so a case is an input ``x`` and the constructor's ``e_lambda``. Some
cases hold a constant channel (its variance is 0, so only ``e_lambda`` keeps the energy
finite) and some a tiny H x W (2 x 2, 1 x 3), where ``n = H * W - 1`` and ``H * W`` differ
most. The grader calls ``make_case`` in its own process (numpy only) and ``run`` in the child
that imports the submission; ``diagnose`` turns a mismatch into a hint.
"""

import numpy as np

# sigmoid(0.5): the smallest weight y / x that SimAM can give (e_inv >= 0.5).
LOWEST_WEIGHT = float(1 / (1 + np.exp(-0.5)))


def make_case(rng, batch, channels, height, width, e_lambda, scale, constant_channel):
    """Constructor arguments and a float32 ``x`` (B, C, H, W) with per-channel offsets."""
    offset = rng.standard_normal((1, channels, 1, 1))
    x = scale * (rng.standard_normal((batch, channels, height, width)) + offset)
    if constant_channel:
        # the last channel constant in every image (values exact in float32, so is their mean)
        x[:, -1] = 0.75 * (-1.0) ** np.arange(batch)[:, None, None]
    return {"e_lambda": float(e_lambda)}, {"x": x.astype(np.float32)}


def run(framework, submission, init, arrays):
    """Build the submission's ``SimAM(**init)``, apply it to ``x``, return ``{"y": NCHW}``."""
    import harness

    x = arrays["x"]
    if framework == "torch":
        import torch

        module = submission.SimAM(**init)
        with torch.no_grad():
            return {"y": harness.to_numpy(module(torch.from_numpy(x)))}
    if framework == "paddle":
        import paddle

        module = submission.SimAM(**init)
        module.eval()
        with paddle.no_grad():
            return {"y": harness.to_numpy(module(paddle.to_tensor(x)))}
    import tensorflow as tf

    module = submission.SimAM(**init)
    y = module(tf.constant(harness.nchw_to_nhwc(x)))
    return {"y": harness.nhwc_to_nchw(harness.to_numpy(y))}


def _logit(s):
    return np.log(s) - np.log1p(-s)


def diagnose(params, arrays, expected, got):
    """A hint from simple properties of the output (never the solution)."""
    x, y, ref = arrays["x"].astype(np.float64), got.get("y"), expected["y"].astype(np.float64)
    if y is None or y.shape != ref.shape:
        if y is not None and y.shape == ref.shape[:2] + (1, 1):
            return "that is one value per channel: SimAM weights every element, (B, C, H, W)"
        return None
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        if params.get("constant_channel"):
            return ("this case has a constant channel: its d and v are 0, so e_lambda must be "
                    "added to v inside the denominator, 4 * (v + e_lambda), to keep it finite")
        return "inf or NaN: check the denominators (n = H * W - 1 and 4 * (v + e_lambda))"
    if np.allclose(y, x, atol=1e-6):
        return "the output equals the input: return x * sigmoid(e_inv)"
    mask = np.abs(x) > 1e-2
    s, s_ref = y[mask] / x[mask], ref[mask] / x[mask]
    # The reference's inverse energy, read back through its sigmoid where that is precise.
    ok = s_ref < 0.999
    e_ref = _logit(np.clip(s_ref[ok], 0.5 + 1e-12, 0.999))
    if ok.sum() >= 3 and np.allclose(s[ok], e_ref, rtol=1e-3, atol=1e-3):
        return "your weights y / x equal e_inv itself: apply the sigmoid, y = x * sigmoid(e_inv)"
    inside = (s[ok] > 0.5) & (s[ok] < 0.999)
    if inside.sum() >= 3 and np.allclose(_logit(s[ok][inside]), e_ref[inside] - 0.5,
                                         rtol=1e-3, atol=1e-3):
        return "your sigmoid gets e_inv - 0.5: did you forget the + 0.5 in e_inv?"
    if s.size and (s.min() < -1e-4 or s.max() > 1 + 1e-4):
        return ("your weights y / x leave (0, 1): SimAM returns x times a sigmoid; did you "
                "forget the sigmoid, or return something other than x * sigmoid(e_inv)?")
    if s.size and s.min() < LOWEST_WEIGHT - 1e-4:
        return (f"some weights y / x are below sigmoid(0.5) = {LOWEST_WEIGHT:.3f}, the least "
                "SimAM can give since e_inv >= 0.5: check the + 0.5 and the sigmoid")
    # Compare the inverse energies above 0.5 (read back through the sigmoid) where it is precise.
    keep = (s_ref < 0.999) & (s < 0.999) & (s > 0.5) & (_logit(np.clip(s_ref, 0.5, 0.999)) > 0.55)
    if keep.sum() < 3:
        return None
    ratio = (_logit(s[keep]) - 0.5) / (_logit(s_ref[keep]) - 0.5)
    med, hw = float(np.median(ratio)), params["height"] * params["width"]
    bound = hw / (hw - 1)  # the ratio that dividing by H*W gives when e_lambda << v
    if np.all(ratio > 1.0001) and 1 + 0.3 * (bound - 1) <= med <= bound * 1.01:
        return (f"your e_inv - 0.5 is slightly too large everywhere, by up to H*W/(H*W-1) = "
                f"{hw / (hw - 1):.3g} here: did you divide by H*W instead of n = H*W - 1 for v?")
    if np.all(ratio > 1.0001) and abs(med - 4) < 0.2:
        return "your e_inv - 0.5 is about 4 times too large: the denominator is 4 * (v + e_lambda)"
    if np.all(ratio > 1.0001):
        return ("your e_inv - 0.5 is too large everywhere, so its denominator is too small: "
                "check v = (sum of d over H, W) / (H*W - 1), the factor 4, and + e_lambda")
    if np.all(ratio < 0.9999):
        return ("your e_inv - 0.5 is too small everywhere, so its denominator is too large: "
                "check v = (sum of d over H, W) / (H*W - 1), the factor 4, and + e_lambda")
    return ("the mean and v are taken per image and per channel, over H and W only "
            "(axes 2, 3 of NCHW; 1, 2 of NHWC): check the axes and that they are kept for "
            "broadcasting")
