"""Cases of exercise 06 (embedded-Gaussian non-local block): weights from a seed, and the calls.

The grader calls ``make_case`` in its own process (numpy only) and ``run`` in the child
that imports the submission; ``diagnose`` turns a mismatch into a hint. The block runs in
inference mode (``.eval()``; Keras: ``training=False``) with the BatchNorm's running
statistics loaded from the case. Outputs (compared in name order):

* ``attention``: ``A``, ``(B, N, N)``, from ``block(x, return_attention=True)``;
* ``z``: the block's output, NCHW, from ``block(x)``.

No case has ``H == W`` (a height/width or query/key mix-up can hide on square maps) nor an
embedding width of 1.
"""

import numpy as np

TOL = (1e-5, 1e-4)  # the manifest's atol and rtol, for the hints' own comparisons
BN_EPS = 1e-5


def make_case(rng, batch, channels, inter_channels, height, width):
    """Constructor arguments and float32 arrays: ``x`` (B, C, H, W) and canonical weights.

    ``inter_channels = 0`` stands for ``None`` (the default ``max(C // 2, 1)``).
    """
    f32 = np.float32
    c = channels
    d = inter_channels or max(c // 2, 1)
    arrays = {"x": rng.standard_normal((batch, c, height, width)).astype(f32)}
    for name, cin, cout in (("theta", c, d), ("phi", c, d), ("g", c, d), ("W", d, c)):
        # 1x1 convolutions with weights of variance 1 / C_in: activations of order 1, so the
        # affinities (sums of d products) are of order sqrt(d) and the softmax is neither
        # uniform nor one-hot
        arrays[f"{name}.weight"] = (rng.standard_normal((cout, cin, 1, 1)) / np.sqrt(cin)).astype(f32)
        arrays[f"{name}.bias"] = (0.1 * rng.standard_normal(cout)).astype(f32)
    arrays |= {
        "bn.weight": rng.uniform(0.5, 1.5, c).astype(f32),
        "bn.bias": (0.2 * rng.standard_normal(c)).astype(f32),
        "bn.running_mean": (0.2 * rng.standard_normal(c)).astype(f32),
        "bn.running_var": rng.uniform(0.5, 2.0, c).astype(f32),
    }
    init = {"in_channels": c, "inter_channels": int(inter_channels) if inter_channels else None}
    return init, arrays


def _single(z):
    if isinstance(z, (tuple, list)):
        raise TypeError("block(x) returned a tuple: without return_attention, return z alone")
    return z


def _pair(out):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"block(x, return_attention=True) returned {type(out).__name__}; "
                        "return the pair (z, A)")
    return out[1]


def run(framework, submission, init, arrays):
    """Build ``NonLocalBlock(**init)``, load the weights; ``{"attention": A, "z": NCHW}``."""
    import harness

    x = arrays["x"]
    weights = {k: v for k, v in arrays.items() if k != "x"}
    block = submission.NonLocalBlock(**init)
    if framework == "torch":
        import torch

        harness.set_torch(block, weights)
        block.eval()
        with torch.no_grad():
            xt = torch.from_numpy(x)
            z = _single(block(xt))
            a = _pair(block(xt, return_attention=True))
        return {"attention": harness.to_numpy(a), "z": harness.to_numpy(z)}
    if framework == "paddle":
        import paddle

        harness.set_paddle(block, weights)
        block.eval()
        with paddle.no_grad():
            xt = paddle.to_tensor(x)
            z = _single(block(xt))
            a = _pair(block(xt, return_attention=True))
        return {"attention": harness.to_numpy(a), "z": harness.to_numpy(z)}
    import tensorflow as tf

    xt = tf.constant(harness.nchw_to_nhwc(x))
    block(xt, training=False)  # builds the sub-layers
    harness.set_keras(block, weights)
    z = harness.to_numpy(_single(block(xt, training=False)))
    a = _pair(block(xt, return_attention=True, training=False))
    return {"attention": harness.to_numpy(a), "z": harness.nhwc_to_nchw(z) if z.ndim == 4 else z}


def _close(got, ref):
    atol, rtol = TOL
    return got.shape == ref.shape and bool(np.all(np.abs(got - ref) <= atol + rtol * np.abs(ref)))


def _scale_of_logits(a, a_ref):
    """``s`` when ``log a`` is ``s`` times the reference's logits (each row up to a constant)."""
    with np.errstate(divide="ignore"):
        la, lr = np.log(a), np.log(a_ref)
    top = np.argmax(a_ref, axis=-1)[..., None]  # per row, the reference's largest weight
    da = la - np.take_along_axis(la, top, axis=-1)
    dr = lr - np.take_along_axis(lr, top, axis=-1)
    ok = np.isfinite(da) & np.isfinite(dr) & (a > 1e-30) & (a_ref > 1e-30)
    if ok.sum() < 4 or not np.any(dr[ok] < -1e-3):
        return None
    s = float(np.sum(da[ok] * dr[ok]) / np.sum(dr[ok] ** 2))
    if np.abs(da[ok] - s * dr[ok]).max() > 1e-3 * (1 + np.abs(dr[ok]).max()):
        return None
    return s


def _attention_hint(params, a, a_ref):
    n = a_ref.shape[1]
    if a.shape != a_ref.shape:
        if a.shape == (a_ref.shape[0], 1, n, n):
            return "return A with shape (B, N, N), without a head axis"
        return (f"A has one row per query position and one column per key position: "
                f"(B, N, N) with N = H * W = {n} here")
    if not np.isfinite(a).all():
        return ("A holds inf or NaN: use the framework's softmax (it subtracts each row's maximum "
                "before the exponential)")
    rows, cols = a.sum(axis=-1), a.sum(axis=1)
    rows_ok, cols_ok = np.allclose(rows, 1, atol=1e-4), np.allclose(cols, 1, atol=1e-4)
    if cols_ok and not rows_ok:
        return ("the columns of your A sum to 1, not its rows: the softmax runs over the query "
                "axis (or you return A transposed); take it over the last axis (the keys j), so "
                "that every row A[b, i, :], one query position, sums to 1")
    if not rows_ok:
        return (f"each row A[b, i, :] should sum to 1 (a softmax over the last axis, the keys); "
                f"yours sum to between {rows.min():.4g} and {rows.max():.4g}")
    s = _scale_of_logits(a, a_ref)
    d = params["inter_channels"] or max(params["channels"] // 2, 1)
    if s is not None and abs(s - 1 / np.sqrt(d)) < 1e-3:
        return (f"your affinities are scaled by 1 / sqrt(C_inter) = {1 / np.sqrt(d):.3g}: that "
                "is the official code's USE_SCALE option; this block follows the paper, "
                "f = theta(x_i)^T phi(x_j) with no scaling")
    if s is not None and abs(s - 1) > 1e-3:
        return (f"your affinities are the reference's times {s:.3g}: f = theta(x_i)^T phi(x_j) "
                "with no scaling, then the softmax")
    return ("the rows of A sum to 1 but the weights are wrong: check that theta gives the queries "
            "(the rows i) and phi the keys (the columns j), that all three projections flatten "
            "the positions in the same row-major order n = h * W + w, and that f contracts the "
            "C_inter channels, not the positions")


def _z_hint(params, arrays, z, z_ref):
    x = arrays["x"].astype(np.float64)
    if z.shape != z_ref.shape:
        b, c, h, w = z_ref.shape
        if z.shape == (b, c, w, h):
            return "z has H and W swapped: y goes back to the input's (H, W), row-major"
        return None
    r, r_ref = z - x, z_ref - x
    if np.allclose(z, r_ref, rtol=1e-3, atol=1e-4):
        return "z = bn(W(y)) + x: the residual + x is missing"
    # bn in inference mode: r_ref = scale * W(y) + shift, per channel
    g, beta = arrays["bn.weight"], arrays["bn.bias"]
    mean, var = arrays["bn.running_mean"], arrays["bn.running_var"]
    scale = (g / np.sqrt(var.astype(np.float64) + BN_EPS))[None, :, None, None]
    shift = (beta - mean * scale[0, :, 0, 0])[None, :, None, None]
    if np.allclose(r_ref, scale * r + shift, rtol=1e-3, atol=1e-4):
        return "z - x equals W(y) before the BatchNorm: apply bn after W (inference mode)"
    if np.allclose(z, x, atol=1e-6):
        return "z equals x: add bn(W(y)) to it"
    return ("A is right but z is not: check how y = A @ values, (B, N, C_inter), goes back to the "
            "feature map (in NCHW a transpose to (B, C_inter, N) before the reshape to "
            "(B, C_inter, H, W); a reshape where a transpose belongs keeps the size but mixes "
            "channels and positions), then W, bn (inference mode) and + x")


def diagnose(params, arrays, expected, got):
    """A hint from the shape of the mistake (never the solution)."""
    a, a_ref = got.get("attention"), expected["attention"].astype(np.float64)
    z, z_ref = got.get("z"), expected["z"].astype(np.float64)
    if a is None or z is None:
        return None
    a = a.astype(np.float64)
    if not _close(a, a_ref):
        return _attention_hint(params, a, a_ref)
    return _z_hint(params, arrays, z.astype(np.float64), z_ref)
