"""Cases of exercise 07 (class activation map): feature maps and classifier weights from a seed.

The grader calls ``make_case`` in its own process (numpy only) and ``run`` in the child that
imports the submission; ``diagnose`` turns a mismatch into a hint. One output:

* ``cam``: ``class_activation_map(feature_maps, classifier_weight, class_idx)``, ``(B, H, W)``.

Each case names the kind of map every image gets for its class, one letter per image
(``maps = "mnp"`` is a batch of 3), so that each rule of the normalisation is graded where it
matters:

* ``m`` (mixed): the CAM is negative at 30-70 % of the positions and positive elsewhere; after
  the ReLU its minimum is 0 (a missing ReLU shows here, a missing min subtraction does not);
* ``n`` (negative): the CAM is below 0 everywhere, so after the ReLU the map is constant and
  the answer is zeros (the constant-map rule);
* ``p`` (positive): the CAM is above 0 everywhere and its minimum is at least 0.3 of its range
  (a missing min subtraction shows here, a missing ReLU does not).

Feature maps are non-negative, like post-ReLU features: every channel is a Gaussian bump at a
random place plus a little noise, except one "background" channel, constant per image, through
whose classifier weight the case sets each image's offset (the kind of map above). Weights have
both signs. Every image in a batch has a different class; no case has ``H == W``, nor
``C`` equal to ``H`` or ``W`` (channels >= 8 > H, W), so a layout mix-up cannot run by luck.
"""

import numpy as np

TOL = (1e-5, 1e-4)  # the manifest's atol and rtol, for the hints' own comparisons


def _bumps(rng, channels, height, width):
    """``(C, H, W)`` non-negative maps: one Gaussian bump per channel, plus noise."""
    hh, ww = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    cy = rng.uniform(0, height - 1, (channels, 1, 1))
    cx = rng.uniform(0, width - 1, (channels, 1, 1))
    sigma = rng.uniform(0.15, 0.4, (channels, 1, 1)) * max(height, width)
    amp = rng.uniform(0.5, 2.0, (channels, 1, 1))
    bump = amp * np.exp(-((hh - cy) ** 2 + (ww - cx) ** 2) / (2 * sigma**2))
    return bump + 0.05 * np.abs(rng.standard_normal((channels, height, width)))


def make_case(rng, maps, channels, num_classes, height, width):
    """No constructor arguments; float32 ``feature_maps`` (B, C, H, W), ``classifier_weight``
    (num_classes, C) and int64 ``class_idx`` (B,), distinct classes, with ``B = len(maps)``."""
    batch = len(maps)
    if set(maps) - set("mnp") or batch > num_classes:
        raise ValueError(f"make_case: bad maps={maps!r} for num_classes={num_classes}")
    feats = np.stack([_bumps(rng, channels, height, width) for _ in range(batch)])
    weight = rng.standard_normal((num_classes, channels)) / np.sqrt(channels) * 2.0
    bg = int(rng.integers(channels))  # the background channel
    level = rng.uniform(0.5, 1.5, batch)
    feats[:, bg] = level[:, None, None]
    class_idx = rng.choice(num_classes, size=batch, replace=False).astype(np.int64)
    for b, kind in enumerate(maps):
        c = class_idx[b]
        others = [k for k in range(channels) if k != bg]
        rest = np.einsum("khw,k->hw", feats[b, others], weight[c, others])  # the CAM without bg
        lo, hi = rest.min(), rest.max()
        span = hi - lo
        if kind == "m":  # the offset puts zero between two neighbouring values, 30-70 % up
            v = np.sort(rest.ravel())
            k = int(rng.integers(int(0.3 * v.size), int(0.7 * v.size)))
            k = min(max(k, 0), v.size - 2)
            offset = -(v[k] + v[k + 1]) / 2
        elif kind == "n":
            offset = -(hi + rng.uniform(0.2, 1.0) * span)
        else:
            offset = -lo + rng.uniform(0.3, 1.0) * span
        weight[c, bg] = offset / level[b]
    arrays = {
        "feature_maps": feats.astype(np.float32),
        "classifier_weight": weight.astype(np.float32),
        "class_idx": class_idx,
    }
    return {}, arrays


def run(framework, submission, init, arrays):
    """Call ``class_activation_map``; ``{"cam": (B, H, W)}``. TensorFlow gets NHWC feature maps."""
    import harness

    f, w, idx = arrays["feature_maps"], arrays["classifier_weight"], arrays["class_idx"]
    if framework == "torch":
        import torch

        with torch.no_grad():
            out = submission.class_activation_map(torch.from_numpy(f), torch.from_numpy(w),
                                                  torch.from_numpy(idx))
    elif framework == "paddle":
        import paddle

        with paddle.no_grad():
            out = submission.class_activation_map(paddle.to_tensor(f), paddle.to_tensor(w),
                                                  paddle.to_tensor(idx))
    else:
        import tensorflow as tf

        out = submission.class_activation_map(tf.constant(harness.nchw_to_nhwc(f)), tf.constant(w),
                                              tf.constant(idx))
    if isinstance(out, (tuple, list, dict)):
        raise TypeError(f"class_activation_map returned a {type(out).__name__}; return one (B, H, W) tensor")
    return {"cam": harness.to_numpy(out)}


# --- hints -----------------------------------------------------------------------------
# The hints never rebuild the answer: they test whether each image's map is an increasing
# affine function a * x + c of a simpler quantity x (the weighted sum, its ReLU, the sum
# with another class or another layout), and read the mistake from a, c and the map's range.

_FIT = 1e-3  # residual allowed in the hints' affine fits (the grading itself uses TOL)


def _weighted_sum(f, w, idx):
    """``(B, H, W)`` float64: sum_k w[idx[b], k] * f[b, k] for NCHW ``f`` (Eq. 2, before anything else)."""
    return np.einsum("bkhw,bk->bhw", f, w[idx])


def _affine(y, x):
    """``(a, c)`` with ``y ~= a * x + c`` and ``a > 0`` (``(0, c)`` when x and y are both
    constant), or ``None`` when no such fit holds."""
    x, y = np.ravel(x), np.ravel(y)
    if not np.isfinite(y).all():
        return None
    if np.ptp(x) <= 1e-9 * (1 + np.abs(x).max()):
        return (0.0, float(y.mean())) if np.ptp(y) <= _FIT else None
    design = np.stack([x, np.ones_like(x)], axis=1)
    (a, c), *_ = np.linalg.lstsq(design, y, rcond=None)
    if a <= 0 or np.abs(design @ np.array([a, c]) - y).max() > _FIT * (1 + np.abs(y).max()):
        return None
    return float(a), float(c)


def _close(got, ref):
    atol, rtol = TOL
    return got.shape == ref.shape and bool(np.all(np.abs(got - ref) <= atol + rtol * np.abs(ref)))


def _shape_hint(shape, b, c, h, wd, k):
    if shape == (b, wd, h):
        return "H and W are swapped: return (B, H, W), the feature map's own height and width"
    if shape in ((b, k, h, wd), (b, h, wd, k)):
        return "you return a map for every class: return one (B, H, W) map, the class class_idx[b] of image b"
    if shape in ((b, 1, h, wd), (b, h, wd, 1)):
        return "return (B, H, W), without a channel axis"
    if c in shape[1:]:
        return ("an axis of your output has the channel count C: the weighted sum runs over the channels "
                "(axis 1 in PyTorch and Paddle, the last axis in TensorFlow)")
    return f"the output is one map per image, (B, H, W) = {(b, h, wd)}"


def diagnose(params, arrays, expected, got):
    """A hint from the shape of the mistake (never the solution)."""
    cam, ref = got.get("cam"), expected["cam"].astype(np.float64)
    if cam is None:
        return None
    cam = cam.astype(np.float64)
    f = arrays["feature_maps"].astype(np.float64)
    w = arrays["classifier_weight"].astype(np.float64)
    idx = arrays["class_idx"]
    b, c, h, wd = f.shape
    if cam.shape != ref.shape:
        return _shape_hint(cam.shape, b, c, h, wd, w.shape[0])
    bad = [i for i in range(b) if not _close(cam[i], ref[i])]
    flat = [i for i in range(b) if not ref[i].any()]
    live = [i for i in range(b) if i not in flat]
    for i in bad:
        if i in flat and not np.isfinite(cam[i]).all():
            return (f"image {i}'s CAM is negative everywhere, so after the ReLU its maximum equals its "
                    "minimum: such a map must come back as zeros, without a division by zero")
    if not np.isfinite(cam).all():
        return "your maps hold inf or NaN where the reference is finite"
    m = _weighted_sum(f, w, idx)
    r = np.maximum(m, 0.0)
    on_relu = [_affine(cam[i], r[i]) for i in range(b)]
    if all(on_relu[i] for i in live):
        if all(abs(on_relu[i][0] - 1) < _FIT and abs(on_relu[i][1]) < _FIT for i in live):
            return "the ReLU is applied but the maps are not normalised to [0, 1]"
        tops = [cam[i].max() for i in live]
        if abs(cam.max() - 1) < _FIT and min(tops) < 1 - _FIT:
            return ("your maps are normalised with one minimum and maximum for the whole batch: "
                    "normalise each image's map on its own")
        if all(abs(t - 1) < _FIT for t in tops) and any(cam[i].min() > _FIT for i in bad if i in live):
            return ("your maps look like the ReLU divided by the map's maximum (the Med-Framework "
                    "guide's normalisation): subtract the map's minimum after the ReLU too, so "
                    "that every map that is not constant spans [0, 1]")
        i = next(i for i in bad if i in live) if any(i in live for i in bad) else None
        if i is not None:
            return (f"image {i}'s map has the right shape but spans [{cam[i].min():.4g}, "
                    f"{cam[i].max():.4g}]: after the ReLU, each map is scaled on its own to span [0, 1]")
    signed = [i for i in bad if m[i].min() < 0]  # where the ReLU changes the map
    if signed and all(_affine(cam[i], m[i]) for i in bad):
        if all(abs(a - 1) < _FIT and abs(c0) < _FIT for a, c0 in (_affine(cam[i], m[i]) for i in bad)):
            return "this is the raw weighted sum: the ReLU and the per-map normalisation are missing"
        return ("your maps are min-max normalised without the ReLU first (the official code's "
                "normalisation): here the ReLU comes before the min-max, so negative evidence "
                "becomes 0 instead of setting the bottom of the scale")
    first = np.maximum(_weighted_sum(f, w, np.full_like(idx, idx[0])), 0.0)
    if bad and 0 not in bad and all(_affine(cam[i], first[i]) for i in bad):
        return ("every image's map uses the class of the first image: image b takes the row "
                "classifier_weight[class_idx[b]]")
    # the feature maps read in the other layout: a reshape where a transpose belongs
    nhwc = np.ascontiguousarray(f.transpose(0, 2, 3, 1))
    misread = [np.einsum("bkhw,bk->bhw", nhwc.reshape(b, c, h, wd), w[idx]),
               np.einsum("bhwk,bk->bhw", f.reshape(b, h, wd, c), w[idx])]
    for x in misread:
        if bad and all(_affine(cam[i], x[i]) or _affine(cam[i], np.maximum(x[i], 0)) for i in bad):
            return ("your feature maps were read in the wrong layout (a reshape where a transpose "
                    "belongs?): PyTorch and Paddle take (B, C, H, W), TensorFlow (B, H, W, C), "
                    "channels last")
    for i in bad:
        if i in flat:
            return (f"image {i}'s CAM is negative everywhere, so after the ReLU it is constant: "
                    "such a map comes back as zeros")
    return (f"image(s) {bad} differ; check the weighted sum over the channels with the row "
            "classifier_weight[class_idx[b]], the ReLU, then the min-max of each image's map on its own")
