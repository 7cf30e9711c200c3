"""How well an attention map points at an object: mask IoU and the pointing game (numpy).

An attention map is coarse (``7 x 7`` on a ``224 x 224`` image for most backbones), a mask is
at image resolution. Both metrics compare them cell by cell, after bringing the mask to the
map's grid, and never resample the map:

* :func:`resize_masks` -- a mask on the map's grid: ``"area"`` (the fraction of each cell the
  object covers; PyTorch's ``F.interpolate(mode="area")``, i.e. ``adaptive_avg_pool2d``) or
  ``"nearest"`` (one pixel per cell; PyTorch's default ``F.interpolate`` mode);
* :func:`mask_iou` -- intersection over union of the thresholded map and the thresholded
  area-resized mask, per image;
* :func:`pointing_game` -- whether the map's largest cell lies on the object (Zhang et al.,
  "Top-down neural attention by excitation backprop", ECCV 2016, its "pointing game"
  experiment), per image;
  :func:`pointing_chance` is the hit rate of a cell drawn at random.

Segmentation overlap of a predicted binary mask with the reference mask, per image, at image
resolution: :func:`dice_score` (Dice coefficient = F1 score of the foreground pixels) and
:func:`iou_score` (Jaccard index).

Agreement of predicted quality scores with target scores, the two criteria of image-quality
assessment (VQEG, "Final report from the Video Quality Experts Group on the validation of
objective models of video quality assessment", 2000): :func:`srcc` (Spearman's rank correlation,
monotonicity) and :func:`plcc` (Pearson's linear correlation after the usual four-parameter
logistic mapping :func:`logistic_4`, accuracy), both from scipy.

Framework-neutral: arrays in, numpy arrays out; importing this module imports numpy only.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["RESIZE_MODES", "resize_masks", "mask_iou", "pointing_game", "pointing_chance", "dice_score",
           "iou_score", "srcc", "plcc", "logistic_4", "fit_logistic_4"]

RESIZE_MODES = ("area", "nearest")
"""The mask resizing modes of :func:`resize_masks`."""


def _real_array(owner: str, name: str, value, expected: str) -> np.ndarray:
    """``numpy.asarray(value)`` if it is an array of bools or real numbers, else ValueError
    naming ``owner``, ``name`` and ``expected``."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got {value!r} ({err})") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got dtype {array.dtype}")
    return array


def _array3d(owner: str, name: str, value, what: str) -> np.ndarray:
    """``value`` as a finite 3-D float array (float32 and float64 kept, anything else made
    float64), else ValueError naming ``owner`` and ``name``."""
    expected = f"a 3-D array {what} of finite real numbers"
    array = _real_array(owner, name, value, expected)
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got shape {array.shape}")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got non-finite values")
    return array


def _masks(owner: str, masks) -> np.ndarray:
    masks = _array3d(owner, "masks", masks, "(B, H, W) with values 0 and 1")
    binary = (masks == 0) | (masks == 1)
    if not binary.all():
        bad = np.unique(masks[~binary])[:5]
        raise ValueError(f"{owner}: argument 'masks' expected a 3-D array (B, H, W) with values 0 and 1 "
                         f"(a binary footprint), got other values such as {bad.tolist()}")
    return masks


def _maps_and_masks(owner: str, maps, masks, unit_range: bool) -> tuple[np.ndarray, np.ndarray]:
    what = "(B, h, w) with values in [0, 1]" if unit_range else "(B, h, w)"
    maps = _array3d(owner, "maps", maps, what)
    if unit_range and (maps.min() < 0 or maps.max() > 1):
        raise ValueError(f"{owner}: argument 'maps' expected a 3-D array {what}, got values from "
                         f"{maps.min():g} to {maps.max():g}")
    masks = _masks(owner, masks)
    if masks.shape[0] != maps.shape[0]:
        raise ValueError(f"{owner}: argument 'masks' expected {maps.shape[0]} masks (one per map in "
                         f"'maps'), got {masks.shape[0]}")
    if masks.shape[1] < maps.shape[1] or masks.shape[2] < maps.shape[2]:
        raise ValueError(f"{owner}: argument 'masks' expected a resolution (H, W) at least the maps' "
                         f"{maps.shape[1:]}, got {masks.shape[1:]}")
    return maps, masks


def _bounds(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """Cell ``i`` of ``n_out`` covers input rows ``[floor(i n_in / n_out), ceil((i + 1) n_in / n_out))``
    (PyTorch's adaptive pooling; cells overlap by a row where ``n_out`` does not divide ``n_in``)."""
    return [((i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)) for i in range(n_out)]


def _area(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    (b, big_h, big_w), (h, w) = masks.shape, size
    if big_h % h == 0 and big_w % w == 0:  # equal blocks: one vectorised mean (float64 sums)
        blocks = masks.reshape(b, h, big_h // h, w, big_w // w)
        return blocks.mean(axis=(2, 4), dtype=np.float64)
    rows, cols = _bounds(masks.shape[1], size[0]), _bounds(masks.shape[2], size[1])
    out = np.empty((masks.shape[0], *size), np.float64)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            out[:, i, j] = masks[:, r0:r1, c0:c1].mean(axis=(1, 2), dtype=np.float64)
    return out


def _size(owner: str, size) -> tuple[int, int]:
    try:
        h, w = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
    except (TypeError, ValueError):
        h = w = None
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in (h, w)):
        raise ValueError(f"{owner}: argument 'size' expected a positive int or a pair (h, w) of positive "
                         f"ints, got {size!r}")
    return int(h), int(w)


def resize_masks(masks, size, mode: str = "area") -> np.ndarray:
    """Bring binary masks to an attention map's grid.

    * ``mode="area"``: each cell gets the fraction of its pixels that belong to the object, in
      [0, 1]. Cell ``i`` of ``h`` covers rows ``floor(i H / h)`` to ``ceil((i + 1) H / h)``
      (exclusive), columns likewise: the average pooling of ``torch.nn.functional.interpolate
      (mode="area")`` (= ``adaptive_avg_pool2d``), an exact block average when ``h`` divides ``H``.
    * ``mode="nearest"``: each cell takes one pixel, row ``floor(i H / h)``, column
      ``floor(j W / w)`` (the top-left pixel of the cell when ``h`` divides ``H``), in {0, 1}:
      ``F.interpolate``'s default mode. Thin objects fall between the sampled pixels and
      vanish.

    Args:
        masks: ``(B, H, W)`` array of 0 and 1.
        size: ``h`` or ``(h, w)``, at most ``(H, W)``.
        mode: ``"area"`` or ``"nearest"``.

    Returns:
        ``(B, h, w)`` float64.

    Raises:
        ValueError: ``masks`` not 3-D, empty, non-finite or not binary; ``size`` not positive ints
            or larger than the masks; ``mode`` unknown.
    """
    owner = "resize_masks"
    masks = _masks(owner, masks)
    h, w = _size(owner, size)
    if mode not in RESIZE_MODES or not isinstance(mode, str):
        raise ValueError(f"{owner}: argument 'mode' expected one of {RESIZE_MODES}, got {mode!r}")
    if h > masks.shape[1] or w > masks.shape[2]:
        raise ValueError(f"{owner}: argument 'size' expected at most the masks' (H, W) = {masks.shape[1:]}, "
                         f"got {(h, w)}")
    if mode == "area":
        return _area(masks, (h, w))
    rows = (np.arange(h) * masks.shape[1]) // h
    cols = (np.arange(w) * masks.shape[2]) // w
    return masks[:, rows][:, :, cols].astype(np.float64)


def mask_iou(maps, masks, threshold: float = 0.5) -> np.ndarray:
    """Intersection over union of thresholded attention maps and object masks, per image.

    The mask is brought to the map's grid by area averaging (:func:`resize_masks`,
    ``mode="area"``: the fraction of each cell the object covers) and a cell counts as object
    when at least half of it is covered (``>= 0.5``); a cell counts as attended when the map is
    ``>= threshold``. ``IoU = |attended and object| / |attended or object|`` over the cells.
    The map is never resampled, so the score is about the grid the network computes on.

    Args:
        maps: ``(B, h, w)`` attention maps with values in [0, 1] (a sigmoid map such as CBAM's
            spatial attention, or a min-max normalised CAM).
        masks: ``(B, H, W)`` binary object masks, ``H >= h``, ``W >= w`` (image resolution).
        threshold: a number in [0, 1].

    Returns:
        ``(B,)`` float64 in [0, 1]; ``NaN`` where both the attended and the object cells are empty
        (0 / 0). A mask whose object covers no cell by half gives 0 for every map that attends
        somewhere: count those (``resize_masks(masks, (h, w)).max(axis=(1, 2)) < 0.5``).

    Raises:
        ValueError: ``maps`` not 3-D, non-finite or outside [0, 1]; ``masks`` not 3-D, not binary,
            with another batch size or a lower resolution than ``maps``; ``threshold`` not a
            number in [0, 1].
    """
    owner = "mask_iou"
    maps, masks = _maps_and_masks(owner, maps, masks, unit_range=True)
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 <= threshold <= 1:
        raise ValueError(f"{owner}: argument 'threshold' expected a number in [0, 1], got {threshold!r}")
    attended = maps >= threshold
    target = _area(masks, maps.shape[1:]) >= 0.5
    inter = (attended & target).sum(axis=(1, 2)).astype(np.float64)
    union = (attended | target).sum(axis=(1, 2)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)


def pointing_game(maps, masks) -> np.ndarray:
    """The pointing game: does each map's largest cell lie on the object?

    Zhang, Lin, Brandt, Shen and Sclaroff, "Top-down neural attention by excitation backprop",
    ECCV 2016 (LNCS 9908, pp. 543-559; arXiv:1608.00507), the "pointing game": take the map's
    maximum point and count a *hit* if it falls on an annotated instance of the object, a miss
    otherwise; the score is the hit rate. They compare at image resolution, with a tolerance of
    15 pixels around the object; here the map stays on its grid: the maximum is a cell, mapped back to the pixels
    it covers in the mask (rows ``floor(i H / h)`` to ``ceil((i + 1) H / h)``, as in
    :func:`resize_masks`), and it is a hit when that region contains at least one object pixel
    (area-resized mask ``> 0`` at that cell). The cell's extent plays the part of their tolerance
    (32 pixels for a 7 x 7 map of a 224 x 224 image). Ties go to the first cell in row-major
    order (``numpy.argmax``), so a constant map points at its top-left cell. No threshold is
    involved, which makes it fair between maps on different scales (a sigmoid map and a
    min-max normalised CAM).

    Args:
        maps: ``(B, h, w)`` finite attention maps (any scale: only the position of the maximum
            matters).
        masks: ``(B, H, W)`` binary object masks, ``H >= h``, ``W >= w``.

    Returns:
        ``(B,)`` bool: the hits; ``.mean()`` is the pointing-game accuracy.

    Raises:
        ValueError: ``maps`` not 3-D or non-finite; ``masks`` not 3-D, not binary, with another
            batch size or a lower resolution than ``maps``.
    """
    maps, masks = _maps_and_masks("pointing_game", maps, masks, unit_range=False)
    b, h, w = maps.shape
    best = maps.reshape(b, -1).argmax(axis=1)
    covered = _area(masks, (h, w)).reshape(b, -1)
    return covered[np.arange(b), best] > 0


def pointing_chance(masks, size) -> np.ndarray:
    """Expected pointing-game hit of a cell drawn uniformly at random, per image: the fraction of
    the ``size`` grid's cells whose region contains at least one object pixel.

    Args:
        masks: ``(B, H, W)`` binary object masks.
        size: the maps' grid, ``h`` or ``(h, w)``, at most ``(H, W)``.

    Returns:
        ``(B,)`` float64 in [0, 1]; the mean over images is the chance level of
        :func:`pointing_game`.

    Raises:
        ValueError: as :func:`resize_masks`.
    """
    owner = "pointing_chance"
    masks = _masks(owner, masks)
    h, w = _size(owner, size)
    if h > masks.shape[1] or w > masks.shape[2]:
        raise ValueError(f"{owner}: argument 'size' expected at most the masks' (H, W) = {masks.shape[1:]}, "
                         f"got {(h, w)}")
    return (_area(masks, (h, w)) > 0).mean(axis=(1, 2))


def _binary_pair(owner: str, pred, target) -> tuple[np.ndarray, np.ndarray, bool]:
    """``pred`` and ``target`` as bool arrays ``(N, H, W)`` (a 2-D pair becomes ``N = 1``) and
    whether the input was a single image; ValueError unless both are real or bool arrays of one
    2-D or 3-D shape with values 0 and 1 only."""
    arrays = []
    for name, value in (("pred", pred), ("target", target)):
        expected = "a 2-D (H, W) or 3-D (N, H, W) binary mask (bool, or numbers 0 and 1)"
        array = _real_array(owner, name, value, expected)
        if array.ndim not in (2, 3) or 0 in array.shape:
            raise ValueError(f"{owner}: argument '{name}' expected {expected}, got shape {array.shape}")
        if array.dtype.kind != "b":
            binary = (array == 0) | (array == 1)
            if not binary.all():
                bad = np.unique(array[~binary])[:5]
                raise ValueError(f"{owner}: argument '{name}' expected {expected}, got other values such as "
                                 f"{bad.tolist()} (threshold probabilities or logits first)")
        arrays.append(array.astype(bool))
    pred_b, target_b = arrays
    if pred_b.shape != target_b.shape:
        raise ValueError(f"{owner}: argument 'target' expected the shape of 'pred' {pred_b.shape}, got "
                         f"{target_b.shape}")
    single = pred_b.ndim == 2
    if single:
        pred_b, target_b = pred_b[None], target_b[None]
    return pred_b, target_b, single


def _overlap(owner: str, pred, target):
    pred_b, target_b, single = _binary_pair(owner, pred, target)
    inter = (pred_b & target_b).sum(axis=(1, 2)).astype(np.float64)
    sizes = pred_b.sum(axis=(1, 2)).astype(np.float64) + target_b.sum(axis=(1, 2)).astype(np.float64)
    return inter, sizes, single


def dice_score(pred, target):
    """Dice coefficient of binary masks, per image: ``2 |P and T| / (|P| + |T|)``.

    Equal to the F1 score of the foreground class over the image's pixels
    (``sklearn.metrics.f1_score(target.ravel(), pred.ravel())``); Dice, "Measures of the amount
    of ecologic association between species", Ecology 26, 1945. Computed per image and not
    pooled over a batch: average the returned values for a mean per-image Dice.

    **Empty against empty.** When neither mask has a foreground pixel (``|P| + |T| = 0``) the
    prediction agrees perfectly and the score is defined as 1.0 (scikit-learn's
    ``zero_division=1.0``; its default would warn and give 0). An empty prediction for a
    non-empty target, or the reverse, scores 0.

    Args:
        pred, target: binary masks of one shape, ``(H, W)`` or a batch ``(N, H, W)``: bool, or
            numbers that are exactly 0 or 1 (threshold probabilities first, e.g. ``prob > 0.5``).

    Returns:
        A float for ``(H, W)`` input; ``(N,)`` float64 in [0, 1] for a batch.

    Raises:
        ValueError: an argument not 2-D / 3-D, empty, not real or bool, with values other than 0
            and 1, or shapes that differ.
    """
    inter, sizes, single = _overlap("dice_score", pred, target)
    scores = np.where(sizes > 0, 2.0 * inter / np.where(sizes > 0, sizes, 1.0), 1.0)
    return float(scores[0]) if single else scores


def iou_score(pred, target):
    """Intersection over union (Jaccard index) of binary masks, per image:
    ``|P and T| / |P or T|``.

    Equal to ``sklearn.metrics.jaccard_score(target.ravel(), pred.ravel())`` (Jaccard, 1912) and
    related to Dice by ``IoU = D / (2 - D)``. Empty against empty is defined as 1.0, as in
    :func:`dice_score` (scikit-learn's ``zero_division=1.0``).

    Args:
        pred, target: as :func:`dice_score`.

    Returns:
        A float for ``(H, W)`` input; ``(N,)`` float64 in [0, 1] for a batch.

    Raises:
        ValueError: as :func:`dice_score`.
    """
    inter, sizes, single = _overlap("iou_score", pred, target)
    union = sizes - inter
    scores = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 1.0)
    return float(scores[0]) if single else scores


def _score_pair(owner: str, pred, target) -> tuple[np.ndarray, np.ndarray]:
    """Two finite 1-D float64 arrays of one length >= 3 with some spread, else ValueError."""
    arrays = []
    for name, value in (("pred", pred), ("target", target)):
        a = _real_array(owner, name, value, "a 1-D array of real scores").astype(np.float64)
        if a.ndim != 1 or a.size < 3:
            raise ValueError(f"{owner}: argument '{name}' expected a 1-D array of at least 3 scores, got shape "
                             f"{a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{owner}: argument '{name}' expected finite scores, got {int(np.sum(~np.isfinite(a)))} "
                             f"non-finite values")
        if np.ptp(a) == 0:
            raise ValueError(f"{owner}: argument '{name}' expected scores that are not all equal (a correlation "
                             f"is undefined), got {a.size} times {a[0]!r}")
        arrays.append(a)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(f"{owner}: arguments 'pred' and 'target' expected the same length, got "
                         f"{arrays[0].size} and {arrays[1].size}")
    return arrays[0], arrays[1]


def srcc(pred, target) -> float:
    """Spearman's rank correlation coefficient of predicted and target scores
    (``scipy.stats.spearmanr``; ties get average ranks): how monotonic the prediction is.

    Args:
        pred, target: ``(N,)`` real scores, ``N >= 3``, neither constant.

    Returns:
        A float in [-1, 1].

    Raises:
        ValueError: not 1-D, fewer than 3 scores, non-finite or constant values, lengths that differ.
    """
    from scipy.stats import spearmanr

    p, t = _score_pair("srcc", pred, target)
    return float(spearmanr(p, t).statistic)


def logistic_4(x, beta1: float, beta2: float, beta3: float, beta4: float):
    """The four-parameter logistic of IQA evaluation,
    ``f(x) = (beta1 - beta2) / (1 + exp(-(x - beta3) / |beta4|)) + beta2``: increasing from
    ``beta2`` to ``beta1``, centred at ``beta3`` with scale ``|beta4|`` (VQEG 2000; the form
    the KonIQ-10k and HyperIQA papers' PLCC figures use)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.clip(-(x - beta3) / max(abs(beta4), 1e-12), -500.0, 500.0)
    return (beta1 - beta2) / (1.0 + np.exp(z)) + beta2


def fit_logistic_4(pred, target) -> tuple[float, float, float, float]:
    """Least-squares fit of :func:`logistic_4` mapping ``pred`` to ``target``
    (``scipy.optimize.curve_fit``, started at ``(max t, min t, median p, std p)``).

    Returns:
        ``(beta1, beta2, beta3, beta4)``.

    Raises:
        ValueError: as :func:`srcc`; RuntimeError: the fit does not converge.
    """
    import warnings

    from scipy.optimize import OptimizeWarning, curve_fit

    p, t = _score_pair("fit_logistic_4", pred, target)
    start = [t.max(), t.min(), float(np.median(p)), float(np.std(p))]
    with warnings.catch_warnings():  # the parameters' covariance is not used
        warnings.simplefilter("ignore", OptimizeWarning)
        beta, _ = curve_fit(logistic_4, p, t, p0=start, maxfev=20000)
    return tuple(float(b) for b in beta)


def plcc(pred, target, *, logistic: bool = True) -> float:
    """Pearson's linear correlation coefficient of predicted and target scores
    (``scipy.stats.pearsonr``), after mapping ``pred`` with the fitted :func:`logistic_4`
    when ``logistic`` (the usual protocol: it removes a monotonic non-linearity, so PLCC
    measures accuracy, SRCC monotonicity). If the fit does not converge, the raw
    correlation is returned and a ``RuntimeWarning`` says so.

    Args:
        pred, target: ``(N,)`` real scores, ``N >= 3``, neither constant.
        logistic: map ``pred`` first (default) or correlate the raw scores.

    Returns:
        A float in [-1, 1].

    Raises:
        ValueError: as :func:`srcc`; a non-bool ``logistic``.
    """
    import warnings

    from scipy.stats import pearsonr

    from ._checks import check_bool

    check_bool("plcc", "logistic", logistic)
    p, t = _score_pair("plcc", pred, target)
    if logistic:
        try:
            mapped = logistic_4(p, *fit_logistic_4(p, t))
        except RuntimeError as err:
            warnings.warn(f"plcc: the logistic fit did not converge ({err}); returning the raw PLCC",
                          RuntimeWarning, stacklevel=2)
        else:
            if np.ptp(mapped) > 0:
                p = mapped
    return float(pearsonr(p, t).statistic)
