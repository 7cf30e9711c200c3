"""Cases of exercise 10 (attention statistics): attention tensors from a seed, and the call.

The grader calls ``make_case`` in its own process (numpy only) and ``run`` in the child that
imports the submission; ``diagnose`` turns a mismatch into a hint. Outputs (the six statistics,
each a 0-d float64 array, plus one the grader derives):

* ``mean``, ``std``, ``low``, ``high``, ``saturated``, ``entropy``: the submission's dict;
* ``entropy_defined``: 1.0 where the submission's ``entropy`` is a number, 0.0 where it is NaN.
  The comparison lets a finite value pass where the reference is NaN, so without it an entropy
  computed for channel weights (``spatial=False``) would go unnoticed.

Spatial cases (``kind = "spatial"``, ``(B, 1, H, W)``): each map is the sigmoid of a smooth field
(a few Gaussian bumps minus a level) with a gain of 5 to 12, so parts of it saturate near 0 and
1; every map has a zero top-left corner (``0 ln 0 = 0``), a different gain and level (so the
maps' sums and entropies differ, and a distribution over the whole batch is not the average of
the maps'). Channel cases (``kind = "channel"``, ``(B, C, 1, 1)``, ``spatial=False``): a sigmoid
of ``2.5 z``, ``z`` standard normal, with exact 0 and 1 among them. Every case holds values
exactly ``float32(0.05)`` and ``float32(0.95)``, neither low nor high (``<`` and ``>`` in
float32, as the frameworks compare; in float64 they are not either).
"""

import numpy as np

TOL = (1e-5, 1e-4)  # the manifest's atol and rtol, for the hints' own comparisons
KEYS = ("mean", "std", "low", "high", "saturated", "entropy")
LOW, HIGH = 0.05, 0.95


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _spatial_map(rng, height, width):
    hh, ww = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    field = np.zeros((height, width))
    for _ in range(int(rng.integers(2, 4))):
        cy, cx = rng.uniform(0, height - 1), rng.uniform(0, width - 1)
        sigma = rng.uniform(0.15, 0.35) * max(height, width)
        field += rng.uniform(0.6, 1.2) * np.exp(-((hh - cy) ** 2 + (ww - cx) ** 2) / (2 * sigma**2))
    return _sigmoid(rng.uniform(5.0, 12.0) * (field - rng.uniform(0.3, 0.6)))


def make_case(rng, kind, batch, height=0, width=0, channels=0):
    """``{"spatial": bool}`` (the call's argument) and a float32 ``weights`` array, NCHW."""
    if kind == "spatial":
        a = np.stack([_spatial_map(rng, height, width) for _ in range(batch)])[:, None].astype(np.float32)
        a[:, :, :2, :2] = 0.0  # a zero corner in every map
        flat = a.reshape(batch, -1)
    elif kind == "channel":
        a = _sigmoid(2.5 * rng.standard_normal((batch, channels, 1, 1))).astype(np.float32)
        flat = a.reshape(batch, -1)
        flat[0, :2] = (0.0, 1.0)
    else:
        raise ValueError(f"make_case: kind must be 'spatial' or 'channel', got {kind!r}")
    for b in range(batch):  # the thresholds themselves, at positions away from the zero corner
        picks = rng.choice(np.arange(flat.shape[1] // 2, flat.shape[1]), 2, replace=False)
        flat[b, picks] = (np.float32(LOW), np.float32(HIGH))
    return {"spatial": kind == "spatial"}, {"weights": a}


def run(framework, submission, init, arrays):
    """Call ``attention_statistics(weights, spatial)``; the six statistics and ``entropy_defined``."""
    import harness

    a, spatial = arrays["weights"], init["spatial"]
    if framework == "torch":
        import torch

        with torch.no_grad():
            out = submission.attention_statistics(torch.from_numpy(a), spatial)
    elif framework == "paddle":
        import paddle

        with paddle.no_grad():
            out = submission.attention_statistics(paddle.to_tensor(a), spatial)
    else:
        import tensorflow as tf

        out = submission.attention_statistics(tf.constant(harness.nchw_to_nhwc(a)), spatial)
    if not isinstance(out, dict) or set(out) != set(KEYS):
        got = sorted(out) if isinstance(out, dict) else type(out).__name__
        raise TypeError(f"attention_statistics returned {got}; return a dict with exactly the keys {list(KEYS)}")
    for k in KEYS:
        if not isinstance(out[k], (float, int)) or isinstance(out[k], bool):
            raise TypeError(f"statistic {k!r} is a {type(out[k]).__name__}; return Python floats (float(t))")
    result = {k: np.asarray(float(out[k]), dtype=np.float64) for k in KEYS}
    result["entropy_defined"] = np.asarray(float(np.isfinite(result["entropy"])))
    return result


# --- hints -----------------------------------------------------------------------------
# Each hint recomputes one statistic in numpy (float64) with one rule changed and says which
# rule the submission's value follows; never the code.

def _close(got, ref):
    atol, rtol = TOL
    return bool(np.isfinite(got) and abs(got - ref) <= atol + rtol * abs(ref))


def _entropies(a, log=np.log, norm=True):
    """Per-map entropies of ``a`` (B, 1, H, W) float64 (``0 ln 0 = 0``), normalised by ln(HW) or not."""
    p = a.reshape(a.shape[0], -1)
    p = p / p.sum(axis=1, keepdims=True)
    terms = np.where(p > 0, p * log(np.where(p > 0, p, 1.0)), 0.0)
    h = -terms.sum(axis=1)
    return h / np.log(p.shape[1]) if norm else h


def _entropy_hint(a, spatial, got):
    if not spatial:
        return ("with spatial=False (channel weights) the entropy is not defined: return float('nan'); "
                "it is computed only for spatial maps (B, 1, H, W)")
    if not np.isfinite(got):
        return ("your entropy is NaN or inf: some positions of a map are exactly 0, and 0 * ln 0 counts "
                "as 0 (the limit), not as 0 * -inf")
    if _close(got, _entropies(a, norm=False).mean()):
        return "your entropy is not normalised: divide each map's -sum(p ln p) by ln(H * W), so it lies in [0, 1]"
    if _close(got, _entropies(a, log=np.log2).mean()):
        return ("your entropy uses log base 2 for -sum(p log p) but ln(H * W) to normalise it: use the "
                "natural logarithm for both (or the same base for both)")
    if _close(got, _entropies(a.reshape(1, 1, 1, -1)).mean()):
        return ("your entropy treats the whole batch as one distribution: each map is normalised "
                "(p = a / sum(a)) over its own H * W positions, and the B entropies are averaged")
    return "your entropy is not the reference's: per map p = a / sum(a), -sum(p ln p) / ln(H * W), then the mean over maps"


def diagnose(params, arrays, expected, got):
    """A hint from the shape of the mistake (never the solution)."""
    if any(k not in got for k in KEYS):
        return None
    a = arrays["weights"].astype(np.float64)
    spatial = params["kind"] == "spatial"
    g = {k: float(got[k]) for k in KEYS}
    if not _close(g["std"], float(expected["std"])):
        if _close(g["std"], a.std(ddof=1)):
            return ("your std is the sample standard deviation (divides by n - 1; torch.std's default): "
                    "the statistic is the population one, dividing by n (ddof=0)")
        return "std is the population standard deviation of all the tensor's values"
    a32 = arrays["weights"].astype(np.float32)  # the frameworks compare in float32
    inclusive = {"low": float(np.mean(a32 <= np.float32(LOW))), "high": float(np.mean(a32 >= np.float32(HIGH)))}
    for k, rule in (("low", "< 0.05"), ("high", "> 0.95")):
        if not _close(g[k], float(expected[k])):
            if abs(g[k] - inclusive[k]) < 1e-6:  # fractions of at most a few thousand values, in float32
                return (f"{k} counts the values equal to the threshold too: it is the fraction strictly "
                        f"{rule}; some values here are exactly float32(0.05) and float32(0.95)")
            return f"{k} is the fraction of all the tensor's values {rule}"
    if not _close(g["saturated"], float(expected["saturated"])):
        return "saturated is low + high"
    if not _close(g["mean"], float(expected["mean"])):
        return "mean is the mean of all the tensor's values"
    defined_differs = float(got.get("entropy_defined", 1.0)) != float(expected["entropy_defined"])
    if defined_differs or (spatial and not _close(g["entropy"], float(expected["entropy"]))):
        return _entropy_hint(a, spatial, g["entropy"])
    return None
