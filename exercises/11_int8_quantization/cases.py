"""Cases of exercise 11 (INT8 quantize-dequantize): a calibration set and a tensor, from a seed.

The grader calls ``make_case`` in its own process (numpy only) and ``run`` in the child that
imports the submission; ``diagnose`` turns a mismatch into a hint. Outputs: ``y`` (the
dequantized tensor, float32, the input's shape), ``scale`` (0-d float64) and ``zero_point``
(0-d int64), from the submission's ``(y, scale, zero_point)``.

Three kinds of activation, each a calibration array (the calibration set's values of one
tensor) and an input ``x`` (a new batch, wider than the calibration, so that values beyond
the range clip):

* ``gate``: sigmoid gates ``(N, C, 1, 1)``, all in (0, 1): ``rmin`` becomes 0, zero point 0;
* ``conv``: convolution outputs ``(N, C, H, W)`` of both signs; ``-rmin / scale`` is an integer
  plus ``zero_frac`` (the manifest's), so the zero point is rounded, up or down;
* ``logprob``: log-softmax outputs ``(N, K)`` (2-D), all negative: ``rmax`` becomes 0, zero
  point 255.

The range is exact in float32: the scale is ``m * 2**e`` with a 12-bit integer ``m`` and
``rmax - rmin = 255 * scale`` exactly (the calibration's extremes are set to ``rmin`` and
``rmax``), so float32 and float64 arithmetic give the same scale and zero point. Every ``x``
holds exact ties ``(k + 0.5) * scale`` (exact in float32, and so is ``x / scale``), of both
parities of ``k`` and, where the range allows, of both signs: round half to even, half up and
half away from zero differ on them. Every ``x`` also holds values a few steps beyond the range
(they must clip), the range's ends and, for ``conv``, exact zeros.
"""

import math

import numpy as np

QMAX = 255
KINDS = ("gate", "conv", "logprob")
N_TIES = 4  # per parity (and sign)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _step(width):
    """The largest ``m * 2**e <= width / 255`` with ``2**11 <= m < 2**12``: exact in float32."""
    s = width / QMAX
    e = 11 - math.floor(math.log2(s))
    return math.floor(s * 2.0**e) * 2.0**-e


def _pick(rng, values, count):
    values = np.asarray(values)
    return rng.choice(values, size=min(count, values.size), replace=False)


def _plant(rng, x, values):
    flat = x.reshape(-1)
    where = rng.choice(flat.size, size=len(values), replace=False)
    flat[where] = values


def _ties(rng, s, zero_point):
    """Exact ties ``(k + 0.5) * s`` whose quantized value lies in [0, 255], of both parities and signs."""
    k_lo, k_hi = -zero_point, QMAX - 1 - zero_point  # round(k + 0.5) + zero_point stays in [0, 255]
    ks = np.arange(k_lo, k_hi + 1)
    chosen = []
    for sign in (ks >= 0, ks < 0):
        for parity in (0, 1):
            chosen.append(_pick(rng, ks[sign & (ks % 2 == parity)], N_TIES))
    k = np.concatenate(chosen)
    return ((k + 0.5) * s).astype(np.float32)


def make_case(rng, kind, batch, channels, size=1, zero_frac=0.5, calibration=16):
    """``{}`` (no argument besides the tensors) and float32 ``x`` and ``calibration`` arrays."""
    if kind not in KINDS:
        raise ValueError(f"make_case: kind must be one of {KINDS}, got {kind!r}")
    if kind == "conv" and not (0 < zero_frac < 1 and zero_frac != 0.5):
        raise ValueError(f"make_case: zero_frac must lie in (0, 1) and not be 0.5, got {zero_frac!r}")
    if kind == "gate":
        shape = (channels, 1, 1)
        bias = rng.uniform(-1.0, 2.0, channels)[:, None, None]
        cal = _sigmoid(2.0 * rng.standard_normal((calibration, *shape)) + bias)
        x = _sigmoid(3.0 * rng.standard_normal((batch, *shape)) + bias)
        s = _step(min(cal.max(), 0.985))  # room above rmax, below 1, for gates that clip
        rmin, rmax = 0.0, QMAX * s
        zero_point = 0
        beyond = [rmax + r * s for r in (1.0, 2.5, 3.0)]
        cal = np.clip(cal, 0.004, rmax)  # all positive: rmin = 0 comes from the rule, not the data
        ends = [rmax]
    elif kind == "conv":
        shape = (channels, size, size)
        gain = rng.uniform(0.5, 2.0, channels)[:, None, None]
        bias = rng.uniform(-0.5, 0.5, channels)[:, None, None]
        cal = gain * rng.standard_normal((calibration, *shape)) + bias
        x = 1.4 * gain * rng.standard_normal((batch, *shape)) + bias
        s = _step(cal.max() - cal.min())
        z = math.floor(-cal.min() / s)
        rmin = -(z + zero_frac) * s
        rmax = rmin + QMAX * s
        zero_point = round(z + zero_frac)
        if not 0 < z < QMAX - 1:
            raise ValueError(f"make_case: this conv calibration is nearly one-signed (-rmin / scale = {z})")
        beyond = [rmin - 4.0 * s, rmin - 1.0 * s, rmax + 1.0 * s, rmax + 3.5 * s, 0.0, 0.0]
        ends = [rmin, rmax]
    else:  # logprob
        shape = (channels,)
        cal = _log_softmax(2.5 * rng.standard_normal((calibration, *shape)))
        x = _log_softmax(3.5 * rng.standard_normal((batch, *shape)))
        s = _step(-cal.min())
        rmin, rmax = -QMAX * s, 0.0
        zero_point = QMAX
        beyond = [rmin - 2.0 * s, rmin - 6.0 * s]
        cal = np.clip(cal, rmin, -0.01)  # all negative: rmax = 0 comes from the rule
        ends = [rmin]
    cal = np.clip(cal, rmin, rmax).astype(np.float32)
    for i, end in enumerate(ends):  # the calibration's extremes are exactly the range's ends
        cal.reshape(-1)[i * (cal.size // 2)] = end
    x = x.astype(np.float32)
    _plant(rng, x, np.concatenate([_ties(rng, s, zero_point), np.float32(beyond), np.float32(ends)]))
    return {}, {"x": x, "calibration": cal}


def run(framework, submission, init, arrays):
    """Call ``fake_quantize(x, calibration)``; ``y``, ``scale`` and ``zero_point`` as arrays."""
    import harness

    x, cal = arrays["x"], arrays["calibration"]
    if framework == "torch":
        import torch

        with torch.no_grad():
            out = submission.fake_quantize(torch.from_numpy(x), torch.from_numpy(cal))
    elif framework == "paddle":
        import paddle

        with paddle.no_grad():
            out = submission.fake_quantize(paddle.to_tensor(x), paddle.to_tensor(cal))
    else:
        import tensorflow as tf

        out = submission.fake_quantize(tf.constant(x), tf.constant(cal))
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise TypeError(f"fake_quantize returned {type(out).__name__}; return a tuple (y, scale, zero_point)")
    y, scale, zero_point = out
    if not isinstance(scale, float):
        raise TypeError(f"scale is a {type(scale).__name__}; return a Python float (float(t))")
    if not isinstance(zero_point, int) or isinstance(zero_point, bool):
        raise TypeError(f"zero_point is a {type(zero_point).__name__}; return a Python int (int(t))")
    y = harness.to_numpy(y)
    if y.dtype != np.float32 or y.shape != x.shape:
        raise TypeError(f"y has dtype {y.dtype} and shape {y.shape}; return float32 of x's shape {x.shape}")
    return {"y": y, "scale": np.asarray(scale, dtype=np.float64),
            "zero_point": np.asarray(zero_point, dtype=np.int64)}


# --- hints -----------------------------------------------------------------------------
# Each hint recomputes the result in numpy (float32, as the frameworks compute) with one rule
# changed and says which rule the submission's output follows; never the code.

def _round(v, mode):
    if mode == "half_up":
        return np.floor(v + np.float32(0.5))
    if mode == "half_away":
        return np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))
    return np.rint(v)  # half to even


def _variant(x, cal, *, zero_in_range=True, levels=255, zp_rule="round", round_mode="even",
            clip=True, symmetric=False):
    """The quantize-dequantize with one rule changed: ``(y float32, scale, zero point)``.

    With the defaults it is the exercise's rule (asymmetric uint8, MinMax range containing 0,
    scale rounded to float32, round half to even, clipping to [0, 255]).
    """
    lo, hi = float(cal.min()), float(cal.max())
    if zero_in_range:
        lo, hi = min(0.0, lo), max(0.0, hi)
    if symmetric:  # int8, symmetric around 0: q in [-128, 127], zero point 0
        scale = float(np.float32(max(abs(lo), abs(hi)) / 127.0)) or 1.0
        zp, qmin, qmax = 0, -128, 127
    else:
        scale = float(np.float32((hi - lo) / levels)) if hi > lo else 1.0
        raw = -lo / scale
        zp = {"round": round(raw), "trunc": int(raw), "ceil": math.ceil(raw)}[zp_rule]
        zp, qmin, qmax = min(QMAX, max(0, zp)), 0, QMAX
    s32 = np.float32(scale)
    q = _round(x / s32, round_mode) + np.float32(zp)
    if clip:
        q = np.clip(q, qmin, qmax)
    return ((q - np.float32(zp)) * s32).astype(np.float32), scale, zp


def _same(a, b):
    return np.array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))


def _close(a, b):
    return abs(a - b) <= 1e-6 * abs(b)


def diagnose(params, arrays, expected, got):
    """A hint from the shape of the mistake (never the solution)."""
    if any(k not in got for k in ("y", "scale", "zero_point")):
        return None
    x, cal = arrays["x"], arrays["calibration"]
    g_scale, g_zp, g_y = float(got["scale"]), int(got["zero_point"]), got["y"]
    if not _close(g_scale, float(expected["scale"])):
        if _close(g_scale, _variant(x, cal, zero_in_range=False)[1]):
            where = "all positive" if cal.min() > 0 else "all negative"
            return (f"your range is [min, max] of the calibration, which is {where} here: the range must "
                    "contain 0 (rmin = min(0, min), rmax = max(0, max)) so that 0 is exactly representable")
        if _close(g_scale, _variant(x, cal, levels=256)[1]):
            return "your scale divides the range by 256: uint8 has 256 levels but 255 steps (qmax - qmin)"
        absmax = max(-float(cal.min()), float(cal.max()))
        if _close(g_scale, _variant(x, cal, symmetric=True)[1]) or _close(g_scale, absmax / 127.5):
            return ("your scale is symmetric (max |value| / 127, int8): the exercise is asymmetric uint8, "
                    "scale = (rmax - rmin) / 255 with a zero point")
        return "scale is (rmax - rmin) / 255, over the calibration's range extended to contain 0"
    if g_zp != int(expected["zero_point"]):
        if g_zp in (_variant(x, cal, zp_rule="trunc")[2], _variant(x, cal, zp_rule="ceil")[2]):
            return ("your zero point is -rmin / scale truncated or rounded up: round it to the nearest "
                    "integer (here -rmin / scale is not an integer)")
        return "zero_point is round(-rmin / scale), clipped to [0, 255]"
    if g_y.shape != x.shape or np.allclose(g_y, expected["y"], rtol=1e-5, atol=1e-6):
        return None
    if _same(g_y, _variant(x, cal, clip=False)[0]):
        return "your q is not clipped: values beyond the calibration range saturate at 0 and 255"
    modes = [m for m in ("half_up", "half_away") if _same(g_y, _variant(x, cal, round_mode=m)[0])]
    if modes:
        how = {"half_up": "up (floor(v + 0.5))", "half_away": "away from zero"}
        return (f"your rounding sends ties (x / scale = k + 0.5) {' or '.join(how[m] for m in modes)}: "
                "QuantizeLinear rounds half to even (2.5 -> 2, 3.5 -> 4, -2.5 -> -2)")
    wrong = ~np.isclose(g_y, expected["y"], rtol=1e-5, atol=1e-6)
    ties = x / np.float32(g_scale) % 1 == 0.5
    if ties[wrong].all():
        return ("only exact ties (x / scale = k + 0.5) differ: divide x by the scale (not multiply by "
                "1 / scale) in float32 and round half to even")
    return "y = (clip(round(x / scale) + zero_point, 0, 255) - zero_point) * scale, in float32"
