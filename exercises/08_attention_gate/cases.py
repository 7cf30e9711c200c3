"""Cases of exercise 08 (additive attention gate): weights from a seed, and the calls.

The grader calls ``make_case`` in its own process (numpy only) and ``run`` in the child
that imports the submission; ``diagnose`` turns a mismatch into a hint. The gate runs in
inference mode (``.eval()``; Keras: ``training=False``) with the BatchNorms' running
statistics loaded from the case. Outputs (compared in name order), both NCHW:

* ``attention``: ``alpha``, ``(B, 1, H, W)``, from ``gate(x, g, return_attention=True)``;
* ``y``: the gate's output, ``(B, F_l, H, W)``, from ``gate(x, g)``.

No case has ``H == W`` (a height/width mix-up can hide on square maps); ``F_g``, ``F_l`` and
``F_int`` differ from one another in every case (so a projection applied to the wrong tensor,
or a channel axis read as a spatial one, cannot run by luck). The gating signal ``g`` is either
of ``x``'s size or coarser in both axes, by an integer factor (2, 3) or by a ratio that is not
an integer (``8 / 3``, ``12 / 5``), where the resampling conventions part.

The hints compare a wrong answer with the gate computed in numpy with one step changed (another
resampling convention, a step left out): they say which step, never how to write it.
"""

import numpy as np

TOL = (1e-5, 1e-4)  # the manifest's atol and rtol, for the hints' own comparisons
_FIT = (1e-4, 1e-3)  # the hints' looser match: "yours is this variant", not "yours is right"
BN_EPS = 1e-5


def make_case(rng, batch, F_g, F_l, F_int, height, width, g_height, g_width):
    """Constructor arguments and float32 arrays: ``x`` (B, F_l, H, W), ``g`` (B, F_g, h, w) and
    canonical weights (PyTorch names and layouts)."""
    f32 = np.float32
    if not (g_height <= height and g_width <= width):
        raise ValueError(f"make_case: g ({g_height} x {g_width}) must not be larger than x ({height} x {width})")
    arrays = {
        "x": rng.standard_normal((batch, F_l, height, width)).astype(f32),
        "g": rng.standard_normal((batch, F_g, g_height, g_width)).astype(f32),
    }
    for name, cin, cout, gain in (("W_g", F_g, F_int, 1.0), ("W_x", F_l, F_int, 1.0), ("psi", F_int, 1, 2.0)):
        # 1x1 convolutions with weights of variance gain^2 / C_in keep the activations of order
        # 1: the sum before the ReLU has both signs; psi's larger gain spreads alpha over much
        # of (0, 1) without saturating the sigmoid
        arrays[f"{name}.0.weight"] = (gain * rng.standard_normal((cout, cin, 1, 1)) / np.sqrt(cin)).astype(f32)
        arrays[f"{name}.0.bias"] = (0.1 * rng.standard_normal(cout)).astype(f32)
        arrays |= {
            f"{name}.1.weight": rng.uniform(0.5, 1.5, cout).astype(f32),
            f"{name}.1.bias": (0.3 * rng.standard_normal(cout)).astype(f32),
            f"{name}.1.running_mean": (0.2 * rng.standard_normal(cout)).astype(f32),
            f"{name}.1.running_var": rng.uniform(0.5, 2.0, cout).astype(f32),
        }
    return {"F_g": F_g, "F_l": F_l, "F_int": F_int}, arrays


def _single(y):
    if isinstance(y, (tuple, list, dict)):
        raise TypeError(f"gate(x, g) returned a {type(y).__name__}: without return_attention, return y alone")
    return y


def _pair(out):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"gate(x, g, return_attention=True) returned {type(out).__name__}; "
                        "return the pair (y, alpha)")
    return out[1]


def run(framework, submission, init, arrays):
    """Build ``AttentionGate(**init)``, load the weights; ``{"attention": alpha, "y": y}``, NCHW."""
    import harness

    x, g = arrays["x"], arrays["g"]
    weights = {k: v for k, v in arrays.items() if k not in ("x", "g")}
    gate = submission.AttentionGate(**init)
    if framework == "torch":
        import torch

        harness.set_torch(gate, weights)
        gate.eval()
        with torch.no_grad():
            xt, gt = torch.from_numpy(x), torch.from_numpy(g)
            y = _single(gate(xt, gt))
            a = _pair(gate(xt, gt, return_attention=True))
        return {"attention": harness.to_numpy(a), "y": harness.to_numpy(y)}
    if framework == "paddle":
        import paddle

        harness.set_paddle(gate, weights)
        gate.eval()
        with paddle.no_grad():
            xt, gt = paddle.to_tensor(x), paddle.to_tensor(g)
            y = _single(gate(xt, gt))
            a = _pair(gate(xt, gt, return_attention=True))
        return {"attention": harness.to_numpy(a), "y": harness.to_numpy(y)}
    import tensorflow as tf

    xt, gt = tf.constant(harness.nchw_to_nhwc(x)), tf.constant(harness.nchw_to_nhwc(g))
    gate(xt, gt, training=False)  # builds the sub-layers
    harness.set_keras(gate, weights)
    y = harness.to_numpy(_single(gate(xt, gt, training=False)))
    a = harness.to_numpy(_pair(gate(xt, gt, return_attention=True, training=False)))
    return {"attention": harness.nhwc_to_nchw(a) if a.ndim == 4 else a,
            "y": harness.nhwc_to_nchw(y) if y.ndim == 4 else y}


# --- hints -----------------------------------------------------------------------------

def _close(got, ref, tol=TOL):
    atol, rtol = tol
    return got.shape == ref.shape and bool(np.all(np.abs(got - ref) <= atol + rtol * np.abs(ref)))


def _resampling(n_out, n_in, mode):
    """``(n_out, n_in)`` matrix that resamples one axis of ``n_in`` samples to ``n_out``.

    ``mode``: ``"half_pixel"`` (bilinear, ``align_corners=False``), ``"align_corners"``
    (bilinear, ``align_corners=True``), ``"asymmetric"`` (bilinear, ``src = i * n_in / n_out``:
    Paddle's ``align_mode=1``, TF1's ``resize_bilinear`` without half-pixel centres),
    ``"nearest"`` (``floor(i * n_in / n_out)``: PyTorch's and Paddle's ``nearest``) or
    ``"nearest_half"`` (``floor((i + 0.5) * n_in / n_out)``: TensorFlow's ``nearest``,
    PyTorch's ``nearest-exact``).
    """
    i = np.arange(n_out, dtype=np.float64)
    r = np.zeros((n_out, n_in))
    if mode.startswith("nearest"):
        src = (i + 0.5 if mode == "nearest_half" else i) * n_in / n_out
        r[np.arange(n_out), np.minimum(np.floor(src).astype(int), n_in - 1)] = 1.0
        return r
    if mode == "half_pixel":
        src = np.maximum((i + 0.5) * n_in / n_out - 0.5, 0.0)
    elif mode == "align_corners":
        src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
    else:  # asymmetric
        src = i * n_in / n_out
    lo = np.minimum(np.floor(src).astype(int), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    np.add.at(r, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(r, (np.arange(n_out), hi), frac)
    return r


def _project(arrays, name, v):
    """``name``'s 1x1 convolution then its BatchNorm (inference mode), float64, NCHW."""
    w, b = arrays[f"{name}.0.weight"][:, :, 0, 0], arrays[f"{name}.0.bias"]
    out = np.einsum("oi,bihw->bohw", w, v) + b[None, :, None, None]
    return _norm(arrays, name, out)


def _norm(arrays, name, v):
    gamma, beta = arrays[f"{name}.1.weight"], arrays[f"{name}.1.bias"]
    mean, var = arrays[f"{name}.1.running_mean"], arrays[f"{name}.1.running_var"]
    scale = gamma / np.sqrt(var.astype(np.float64) + BN_EPS)
    return (v - mean[None, :, None, None]) * scale[None, :, None, None] + beta[None, :, None, None]


def _variant(arrays, mode="half_pixel", relu=True, psi_bn=True, sigmoid=True):
    """The gate's ``alpha`` in float64 with one step changed (the hints' yardstick)."""
    a = {k: v.astype(np.float64) for k, v in arrays.items()}
    x, g = a["x"], a["g"]
    (hx, wx), (hg, wg) = x.shape[2:], g.shape[2:]
    g1 = np.einsum("Hh,bchw,Ww->bcHW", _resampling(hx, hg, mode), _project(a, "W_g", g),
                   _resampling(wx, wg, mode))
    u = g1 + _project(a, "W_x", x)
    r = np.maximum(u, 0.0) if relu else u
    w, b = a["psi.0.weight"][:, :, 0, 0], a["psi.0.bias"]
    q = np.einsum("oi,bihw->bohw", w, r) + b[None, :, None, None]
    if psi_bn:
        q = _norm(a, "psi", q)
    return 1.0 / (1.0 + np.exp(-q)) if sigmoid else q


_RESAMPLING_HINTS = {
    "align_corners": ("your alpha is what bilinear resampling with align_corners=True gives (the first "
                      "and last samples of g pinned to x's corners); this gate uses half-pixel "
                      "centres, align_corners=False, the convention the three frameworks share"),
    "asymmetric": ("your alpha is what bilinear resampling without half-pixel centres gives "
                   "(source position i * h / H: Paddle's align_mode=1, TF1's resize_bilinear); "
                   "this gate uses half-pixel centres, source position (i + 0.5) * h / H - 0.5"),
    "nearest": ("your alpha is what nearest-neighbour resampling of W_g(g) gives; the gate "
                "resamples bilinearly (half-pixel centres)"),
    "nearest_half": ("your alpha is what nearest-neighbour resampling of W_g(g) (half-pixel centres) "
                     "gives; the gate resamples bilinearly"),
}


def _alpha_shape_hint(shape, b, c, h, w, hg, wg):
    """``shape`` is NCHW: ``run`` turns TensorFlow's 4-D outputs from NHWC first."""
    if shape == (b, c, h, w):
        return (f"alpha has F_l = {c} channels: psi maps the F_int channels to one, and that single "
                "map multiplies every channel of x (broadcast), so alpha is (B, 1, H, W)")
    if shape == (b, h, w):
        return "keep alpha's channel axis: (B, 1, H, W) in PyTorch and Paddle, (B, H, W, 1) in TensorFlow"
    if shape == (b, 1, w, h):
        return "alpha has H and W swapped: resample W_g(g) to x's (H, W), in that order"
    if shape == (b, 1, hg, wg):
        return "alpha has g's size: the gate works at x's size (resample W_g(g) up to it, never x down)"
    return (f"alpha is one map per image at x's size: (B, 1, H, W) = {(b, 1, h, w)} here "
            "((B, H, W, 1) in TensorFlow)")


def _alpha_hint(arrays, a):
    x, g = arrays["x"], arrays["g"]
    (b, c, h, w), (hg, wg) = x.shape, g.shape[2:]
    if a.shape != (b, 1, h, w):
        return _alpha_shape_hint(a.shape, b, c, h, w, hg, wg)
    if not np.isfinite(a).all():
        return "alpha holds inf or NaN"
    if _close(a, _variant(arrays, sigmoid=False), _FIT):
        return "your alpha is psi's output before the sigmoid: alpha = sigmoid(BN(conv(...))), in (0, 1)"
    if a.min() < 0 or a.max() > 1:
        return (f"alpha spans [{a.min():.4g}, {a.max():.4g}]; a sigmoid ends psi, so every value "
                "lies in (0, 1)")
    if _close(a, _variant(arrays, psi_bn=False), _FIT):
        return ("your alpha is the sigmoid of psi's convolution without its BatchNorm: psi is a 1x1 "
                "convolution, then BatchNorm (one channel, inference mode), then the sigmoid")
    if (hg, wg) != (h, w):
        for mode, hint in _RESAMPLING_HINTS.items():
            if _close(a, _variant(arrays, mode=mode), _FIT):
                return hint
    if _close(a, _variant(arrays, relu=False), _FIT):
        return "the ReLU of the sum W_g(g) + W_x(x) is missing (it comes before psi)"
    return ("alpha is in (0, 1) but wrong: check that W_g projects g and W_x projects x (each a 1x1 "
            "convolution then BatchNorm, inference mode), that the projected g is resampled "
            "bilinearly to x's (H, W) when the sizes differ, then the sum, the ReLU and psi")


def _y_hint(arrays, y, a):
    x = arrays["x"].astype(np.float64)
    if y.shape != x.shape:
        if y.shape == a.shape:
            return "y has alpha's shape: the gate returns x * alpha, x with every channel scaled by alpha"
        return f"y has x's shape: {tuple(x.shape)} here in NCHW (x's own NHWC shape in TensorFlow)"
    if _close(y, x * (1.0 - a), _FIT):
        return "y = x * (1 - alpha): the gate keeps x where alpha is high, y = x * alpha"
    if _close(y, x + x * a, _FIT):
        return "y = x + x * alpha: the gate has no residual, y = x * alpha"
    if _close(y, np.broadcast_to(a, x.shape), _FIT):
        return "y is alpha broadcast over the channels: multiply x by it"
    if _close(y, x, _FIT):
        return "y equals x: multiply x by alpha"
    return "alpha is right but y is not: y = x * alpha, alpha (B, 1, H, W) broadcast over x's channels"


def diagnose(params, arrays, expected, got):
    """A hint from the shape of the mistake (never the solution)."""
    a, a_ref = got.get("attention"), expected["attention"].astype(np.float64)
    y = got.get("y")
    if a is None or y is None:
        return None
    a = a.astype(np.float64)
    if not _close(a, a_ref):
        return _alpha_hint(arrays, a)
    return _y_hint(arrays, y.astype(np.float64), a)
