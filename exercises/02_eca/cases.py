"""Cases of exercise 02 (ECA): inputs and weights from a seed, and the calls into a submission.

The grader calls ``make_case`` in its own process (numpy only) and ``run`` in the child
that imports the submission; ``diagnose`` turns a mismatch into a hint.

Each case grades both parts of the exercise. Outputs (compared in name order):

* ``k``: ``eca_kernel_size(c, gamma, b)`` for every ``c`` of ``channel_list``, int64;
* ``module_k``: ``[k]``, the kernel size of the block's ``conv`` (``kernel_size`` or the rule);
* ``y``: the block's output, NCHW.

The grader does not compute ``k`` itself: it draws a row of ``K_MAX`` random taps and loads
the ``k`` central ones (``k`` read from the submission's ``conv``) as ``conv.weight``
``(1, 1, k)``, so a wrong kernel size fails ``module_k`` and ``y``, not the weight loading.
"""

import numbers

import numpy as np

K_MAX = 31  # taps drawn per case; a conv wider than this is rejected with a message
ANCHORS = (1, 2, 3, 64, 128, 256, 1000, 2048, 4096)  # always in channel_list


def make_case(rng, batch, channels, height, width, kernel_size, gamma, b):
    """Constructor arguments and arrays: ``x`` (B, C, H, W), ``taps``, ``channel_list``.

    ``kernel_size = 0`` stands for ``None`` (manifest parameters are scalars).
    """
    f32 = np.float32
    # a per-channel offset keeps the channel means z of order 1 whatever H x W is
    offset = rng.standard_normal((batch, channels, 1, 1))
    x = rng.standard_normal((batch, channels, height, width)) + offset
    extra = rng.choice(np.arange(4, 4097), size=6, replace=False)
    channel_list = np.unique(np.concatenate([ANCHORS, extra, [channels]])).astype(np.int64)
    arrays = {
        "x": x.astype(f32),
        "taps": (0.6 * rng.standard_normal((1, 1, K_MAX))).astype(f32),
        "channel_list": channel_list,
    }
    init = {"in_channels": channels, "gamma": gamma, "b": b,
            "kernel_size": int(kernel_size) if kernel_size else None}
    return init, arrays


def _kernel_rule(submission, channel_list, gamma, b):
    out = []
    for c in channel_list.tolist():
        k = submission.eca_kernel_size(c, gamma=gamma, b=b)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"eca_kernel_size({c}, gamma={gamma}, b={b}) returned {k!r} "
                            f"({type(k).__name__}); return a Python int")
        out.append(int(k))
    return np.array(out, dtype=np.int64)


def _conv_weight(framework, block, taps):
    """``{"conv.weight": (1, 1, k)}``: the ``k`` central taps, ``k`` from the block's ``conv``."""
    conv = getattr(block, "conv", None)
    if conv is None:
        raise AttributeError(f"{type(block).__name__} has no attribute 'conv'; "
                             "use the attribute names given in the docstring")
    if framework == "tensorflow":
        if not getattr(conv, "built", False) or not hasattr(conv, "kernel"):
            raise ValueError("ECA.conv has no kernel after a call: is it a keras.layers.Conv1D?")
        k = int(conv.kernel.shape[0])  # (K, I, O)
    else:
        k = int(conv.weight.shape[-1])  # (O, I, K)
    if k > K_MAX:
        raise ValueError(f"ECA.conv has kernel size {k}; the grader expects a small odd size "
                         "(check the kernel-size rule)")
    start = (K_MAX - k) // 2
    return k, {"conv.weight": np.ascontiguousarray(taps[:, :, start:start + k])}


def _forward(k, call):
    """``call()``; an error there names an even kernel size, the usual cause."""
    try:
        return call()
    except Exception as exc:
        if k % 2:
            raise
        raise ValueError(f"kernel size should be odd: ECA.conv has kernel size {k}, so its "
                         "output is not C long, and the forward failed with "
                         f"{type(exc).__name__}: {exc}").with_traceback(exc.__traceback__) from None


def run(framework, submission, init, arrays):
    """Call ``eca_kernel_size`` and the submission's ``ECA(**init)``; return the outputs."""
    import harness

    x, taps = arrays["x"], arrays["taps"]
    gamma, b = init["gamma"], init["b"]
    out = {"k": _kernel_rule(submission, arrays["channel_list"], gamma, b)}
    block = submission.ECA(**init)
    if framework == "torch":
        import torch

        k, weights = _conv_weight(framework, block, taps)
        harness.set_torch(block, weights)
        with torch.no_grad():
            y = harness.to_numpy(_forward(k, lambda: block(torch.from_numpy(x))))
    elif framework == "paddle":
        import paddle

        k, weights = _conv_weight(framework, block, taps)
        harness.set_paddle(block, weights)
        block.eval()
        with paddle.no_grad():
            y = harness.to_numpy(_forward(k, lambda: block(paddle.to_tensor(x))))
    else:
        import tensorflow as tf

        xt = tf.constant(harness.nchw_to_nhwc(x))
        block(xt)  # builds the sub-layers
        k, weights = _conv_weight(framework, block, taps)
        harness.set_keras(block, weights)
        y = harness.to_numpy(_forward(k, lambda: block(xt)))
        y = harness.nhwc_to_nchw(y) if y.ndim == 4 else y
    out["module_k"] = np.array([k], dtype=np.int64)  # (1,): the comparison needs 1-D
    out["y"] = y
    return out


def _rule_hint(params, arrays, k_ref, k_got):
    if k_got.shape != k_ref.shape:
        return None
    wrong = np.flatnonzero(k_got != k_ref)
    if not wrong.size:
        return None
    channels = arrays["channel_list"]
    call = "eca_kernel_size({}, gamma={}, b={})".format
    even = [i for i in wrong if k_got[i] % 2 == 0]
    if even:
        i = even[0]
        return (f"kernel size should be odd: {call(channels[i], params['gamma'], params['b'])} "
                f"returned {k_got[i]}; re-read how the docstring turns t into an odd number")
    i = wrong[0]
    return (f"{call(channels[i], params['gamma'], params['b'])} returned {k_got[i]}, the "
            f"reference {k_ref[i]}: re-read the rule in the docstring (the logarithm's base, "
            "where b and gamma enter, the truncation to an int)")


def diagnose(params, arrays, expected, got):
    """A hint from the shape of the mistake (never the solution)."""
    hint = _rule_hint(params, arrays, expected["k"], got.get("k", expected["k"]))
    if hint:
        return hint
    k_ref, k_got = int(expected["module_k"][0]), got.get("module_k")
    if k_got is not None and k_got.shape == (1,) and int(k_got[0]) != k_ref:
        if params["kernel_size"]:
            return f"ECA(kernel_size={params['kernel_size']}) must build conv with that kernel size"
        return ("with kernel_size=None, conv's kernel size must come from "
                "eca_kernel_size(in_channels, gamma, b)")
    x, y, ref = arrays["x"], got.get("y"), expected["y"]
    if y is None or y.shape != ref.shape:
        if y is not None and y.shape == ref.shape[:2] + (1, 1):
            return "that is the shape of the channel weights s: return x * s, not s"
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(np.abs(x) > 1e-3, y / x, np.nan)
        s_ref = np.where(np.abs(x) > 1e-3, ref / x, np.nan)
    finite = s[np.isfinite(s)]
    if finite.size and (finite.min() < -1e-4 or finite.max() > 1 + 1e-4):
        return "your channel weights y / x leave (0, 1): did you forget the sigmoid?"
    if np.allclose(y, x, atol=1e-6):
        return "the output equals the input: did you multiply x by the weights s?"
    spread = np.nanmax(s, axis=(2, 3)) - np.nanmin(s, axis=(2, 3))
    if np.nanmax(spread) > 1e-4:
        return "y / x varies over H and W: ECA has one weight per (sample, channel)"
    bad = np.nanmax(np.abs(s - s_ref), axis=(0, 2, 3)) > 1e-4  # channels whose weight is off
    pad = (k_ref - 1) // 2
    edge = np.zeros_like(bad)
    edge[:pad], edge[len(edge) - pad:] = True, True
    if pad and bad.any() and not (bad & ~edge).any():
        return (f"only the first/last {pad} channel weights are off: pad the channel sequence "
                f"with (k - 1) // 2 = {pad} zero{'s' * (pad > 1)} at both ends")
    return ("the channel weights are in (0, 1) but wrong: check that z is the mean over H and W "
            "and that conv slides along the channel axis")
