"""Cases of exercise 01 (SEBlock): inputs and weights from a seed, and the call into a submission.

The grader calls ``make_case`` in its own process (numpy only) and ``run`` in the child
that imports the submission; ``diagnose`` turns a mismatch into a hint.
"""

import numpy as np


def make_case(rng, batch, channels, reduction_ratio, height, width):
    """Constructor arguments and float32 arrays: ``x`` (B, C, H, W) and canonical weights."""
    hidden = channels // reduction_ratio
    f32 = np.float32
    arrays = {
        "x": rng.standard_normal((batch, channels, height, width)).astype(f32),
        "fc1.weight": (rng.standard_normal((hidden, channels)) / np.sqrt(channels)).astype(f32),
        "fc1.bias": (0.1 * rng.standard_normal(hidden)).astype(f32),
        "fc2.weight": (rng.standard_normal((channels, hidden)) * (2 / np.sqrt(hidden))).astype(f32),
        "fc2.bias": (0.1 * rng.standard_normal(channels)).astype(f32),
    }
    return {"in_channels": channels, "reduction_ratio": reduction_ratio}, arrays


def run(framework, submission, init, arrays):
    """Build the submission's ``SEBlock(**init)``, load the weights, return ``{"y": NCHW}``."""
    import harness

    x = arrays.pop("x")
    if framework == "torch":
        import torch

        block = submission.SEBlock(**init)
        harness.set_torch(block, arrays)
        with torch.no_grad():
            return {"y": harness.to_numpy(block(torch.from_numpy(x)))}
    if framework == "paddle":
        import paddle

        block = submission.SEBlock(**init)
        harness.set_paddle(block, arrays)
        block.eval()
        with paddle.no_grad():
            return {"y": harness.to_numpy(block(paddle.to_tensor(x)))}
    import tensorflow as tf

    block = submission.SEBlock(**init)
    xt = tf.constant(harness.nchw_to_nhwc(x))
    block(xt)  # builds the sub-layers
    harness.set_keras(block, arrays)
    return {"y": harness.nhwc_to_nchw(harness.to_numpy(block(xt)))}


def diagnose(params, arrays, expected, got):
    """A hint from the shape of the mistake (never the solution)."""
    x, y, ref = arrays["x"], got.get("y"), expected["y"]
    if y is None or y.shape != ref.shape:
        if y is not None and y.shape == ref.shape[:2] + (1, 1):
            return "that is the shape of the channel weights s: return x * s, not s"
        return None
    if x.shape[2] * x.shape[3] > 1 and np.allclose(y, y.mean(axis=(2, 3), keepdims=True), atol=1e-6):
        return "your output is constant over H and W: did you return the weights s instead of x * s?"
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(np.abs(x) > 1e-3, y / x, np.nan)
    s = s[np.isfinite(s)]
    if s.size and (s.min() < -1e-4 or s.max() > 1 + 1e-4):
        return "your channel weights y / x leave (0, 1): did you forget the sigmoid?"
    if s.size and np.allclose(y, x, atol=1e-6):
        return "the output equals the input: did you multiply x by the weights s?"
    return None
