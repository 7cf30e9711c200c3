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

def _raw_cam(f, w, idx):
    """``(B, H, W)`` float64: sum_k w[idx[b], k] * f[b, k] (NCHW ``f``)."""
    return np.einsum("bkhw,bk->bhw", f, w[idx])


def _minmax(m, axes=(1, 2)):
    lo, hi = m.min(axis=axes, keepdims=True), m.max(axis=axes, keepdims=True)
    span = hi - lo
    return np.where(span > 0, (m - lo) / np.where(span > 0, span, 1.0), 0.0)


def _close(got, ref, loose=1.0):
    atol, rtol = TOL
    return got.shape == ref.shape and bool(np.all(np.abs(got - ref) <= loose * (atol + rtol * np.abs(ref))))


def _candidates(f, w, idx):
    """Typical mistakes, each as the ``(B, H, W)`` map it gives, with its hint."""
    raw = _raw_cam(f, w, idx)
    relu = np.maximum(raw, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_max = relu / relu.max(axis=(1, 2), keepdims=True)
    first = np.maximum(_raw_cam(f, w, np.full_like(idx, idx[0])), 0.0)
    b, c, h, wd = f.shape
    # the NHWC array read as if it were NCHW (a reshape where a transpose belongs), and back
    misread = np.ascontiguousarray(f.transpose(0, 2, 3, 1)).reshape(b, c, h, wd)
    return [
        (_minmax(raw), "your maps are min-max normalised without the ReLU first (the official code's "
                       "normalisation): here the ReLU comes before the min-max, so negative evidence "
                       "becomes 0 instead of setting the bottom of the scale"),
        (np.nan_to_num(by_max), "your maps are the ReLU divided by the map's maximum (the Med-Framework "
                                "guide's normalisation): the minimum after the ReLU is subtracted too, "
                                "so that every non-constant map spans [0, 1]"),
        (_minmax(relu, axes=(0, 1, 2)), "your maps are normalised with one minimum and maximum for the "
                                        "whole batch: normalise each image's map on its own"),
        (_minmax(first), "every image's map uses the class of the first image: take the row "
                         "classifier_weight[class_idx[b]] for image b"),
        (relu, "the ReLU is applied but the map is not normalised to [0, 1]"),
        (raw, "this is the raw weighted sum: the ReLU and the per-map normalisation are missing"),
        (_minmax(np.maximum(_raw_cam(misread, w, idx), 0.0)),
         "your feature maps were read in the wrong layout (a reshape where a transpose belongs?): "
         "PyTorch and Paddle take (B, C, H, W), TensorFlow (B, H, W, C), channels last"),
    ]


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
    k = w.shape[0]
    if cam.shape != ref.shape:
        if cam.shape == (b, wd, h):
            return "H and W are swapped: return (B, H, W), the feature map's own height and width"
        if cam.shape in ((b, k, h, wd), (b, h, wd, k)):
            return "you return a map for every class: return one (B, H, W) map, the class class_idx[b] of image b"
        if cam.shape in ((b, 1, h, wd), (b, h, wd, 1)):
            return "return (B, H, W), without a channel axis"
        if c in cam.shape[1:]:
            return ("an axis of your output has the channel count C: the weighted sum runs over the channels "
                    "(axis 1 in PyTorch and Paddle, the last axis in TensorFlow)")
        return f"the output is one map per image, (B, H, W) = {(b, h, wd)}"
    bad_images = [i for i in range(b) if not _close(cam[i], ref[i])]
    flat = [i for i in range(b) if not ref[i].any()]
    if any(i in flat and not np.isfinite(cam[i]).all() for i in bad_images):
        i = next(i for i in bad_images if i in flat and not np.isfinite(cam[i]).all())
        return (f"image {i}'s CAM is negative everywhere, so after the ReLU its maximum equals its "
                "minimum: such a map must come back as zeros, without a division by zero")
    for candidate, hint in _candidates(f, w, idx):
        if candidate.shape == cam.shape and _close(cam, candidate, loose=10.0):
            return hint
    if bad_images == [i for i in range(b) if i not in flat and i > 0] and bad_images:
        return "image 0 is right but the others are not: does each image b use its own class class_idx[b]?"
    return (f"image(s) {bad_images} differ; check the weighted sum over the channels with the row "
            "classifier_weight[class_idx[b]], the ReLU, then the min-max of each image's map on its own")
