"""Training and evaluating segmentation networks on the nuclei data: one loss, one baseline, one
training function for every run.

* :func:`dice_bce_loss` -- binary cross-entropy on the logits plus the soft Dice loss, the
  loss the study notes advise for class-imbalanced masks (PyTorch).
* :func:`otsu_baseline` -- Otsu's global threshold (scikit-image), the classical method every
  network must beat on high-contrast fluorescence.
* :func:`train_segmentation` -- seeded Adam training on tiles, with the held-out region scored
  after every epoch (Dice, IoU from :mod:`vision_attention.metrics`, the loss) and the wall time
  of every epoch; returns a :class:`TrainingResult`.
* :func:`predict_region` -- whole-region forward pass (padded to a multiple of ``2**depth``) in
  eval mode; :func:`attention_maps` -- every gate's map of an :class:`AttentionUNet` for a tile.
* :func:`paired_model`, :func:`copy_shared_weights` -- a U-Net and Attention U-Nets of one seed
  that start from the same shared layers, so a paired difference is the gates' alone.
* :func:`loss_roughness`, :func:`epochs_to_reach` -- the two measurable readings of "smoother
  loss curves, faster convergence" the chapter checks.
* :func:`degrade` -- blur and noise for a harder regime built from the same image.

Framework-neutral to import: PyTorch is imported inside the functions that need it
(:func:`vision_attention._frameworks.import_torch`), so ``import vision_attention.segmentation``
costs numpy only. The networks are :class:`vision_attention.torch.UNet` and
:class:`vision_attention.torch.AttentionUNet` (NCHW, one input channel, one logit channel).
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_bool, check_choice, check_positive_int, check_positive_number
from .metrics import dice_score, iou_score

__all__ = [
    "dice_bce_loss",
    "otsu_baseline",
    "pad_to_multiple",
    "predict_region",
    "attention_maps",
    "copy_shared_weights",
    "MODEL_KINDS",
    "paired_model",
    "TrainingResult",
    "train_segmentation",
    "loss_roughness",
    "epochs_to_reach",
    "degrade",
    "SCHEDULES",
]

SCHEDULES = ("constant", "cosine")
"""Learning-rate schedules of :func:`train_segmentation`."""


def _torch():
    from ._frameworks import import_torch

    return import_torch()


# --- loss --------------------------------------------------------------------------------------

def dice_bce_loss(logits, target, *, bce_weight: float = 1.0, dice_weight: float = 1.0,
                  smooth: float = 1.0):
    """``bce_weight * BCE(logits, target) + dice_weight * (1 - softDice(sigmoid(logits), target))``.

    * **BCE**: ``torch.nn.functional.binary_cross_entropy_with_logits``, the mean over all
      pixels of the batch (numerically stable on the logits).
    * **soft Dice**: with ``p = sigmoid(logits)`` and the target ``t``, summed over *all pixels of
      the batch* (tiles without a nucleus then do not make a per-tile 0/0):
      ``(2 * sum(p * t) + smooth) / (sum(p) + sum(t) + smooth)``; ``smooth`` (default 1, in
      pixel units) keeps the ratio defined for an empty batch and gives a near-perfect prediction
      a loss near 0.

    Weights 1 and 1 (the plain sum; Dice + BCE as the study notes advise against class imbalance:
    BCE gives every pixel a gradient, Dice counts the small foreground as much as the large
    background). A perfect prediction (logits ``+20`` on the foreground, ``-20`` elsewhere) gives a
    loss of about ``2e-9``; logits of 0 everywhere give ``ln 2 + 1 - (sum(t) + smooth) /
    (n / 2 + sum(t) + smooth)`` for ``n`` pixels.

    Args:
        logits: ``(B, 1, H, W)`` (any shape) float tensor, the network's output before the sigmoid.
        target: a tensor of the same shape with values 0 and 1 (float).
        bce_weight, dice_weight: non-negative numbers, not both 0.
        smooth: a positive number.

    Returns:
        A scalar tensor (differentiable).

    Raises:
        ValueError: not tensors, shapes that differ, an empty batch, bad weights or ``smooth``.
    """
    torch = _torch()
    owner = "dice_bce_loss"
    for name, value in (("logits", logits), ("target", target)):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ValueError(f"{owner}: argument '{name}' expected a floating-point torch.Tensor, got "
                             f"{type(value).__name__}{'' if not isinstance(value, torch.Tensor) else ' ' + str(value.dtype)}")
    if logits.shape != target.shape or logits.numel() == 0:
        raise ValueError(f"{owner}: argument 'target' expected the non-empty shape of 'logits' "
                         f"{tuple(logits.shape)}, got {tuple(target.shape)}")
    weights = []
    for name, value in (("bce_weight", bce_weight), ("dice_weight", dice_weight)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
            raise ValueError(f"{owner}: argument '{name}' expected a non-negative number, got {value!r}")
        weights.append(float(value))
    if weights == [0.0, 0.0]:
        raise ValueError(f"{owner}: arguments 'bce_weight' and 'dice_weight' expected not both 0, got 0 and 0")
    smooth = check_positive_number(owner, "smooth", smooth)
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dice = (2 * (p * target).sum() + smooth) / (p.sum() + target.sum() + smooth)
    return weights[0] * bce + weights[1] * (1 - dice)


# --- baseline ----------------------------------------------------------------------------------

def otsu_baseline(image, threshold: float | None = None, *, sigma: float = 0.0) -> tuple[np.ndarray, float]:
    """Otsu's global threshold: foreground where ``image > threshold``.

    With ``sigma > 0`` the image is first smoothed with a Gaussian of that standard deviation in
    pixels (``scipy.ndimage.gaussian_filter``, per frame, ``mode="reflect"``), the usual first
    step on noisy images; the threshold is then found on, and applied to, the smoothed image.

    ``threshold`` defaults to ``skimage.filters.threshold_otsu(image)`` (Otsu, "A threshold
    selection method from gray-level histograms", IEEE Trans. SMC 9, 1979: the grey level that
    maximises the between-class variance of the histogram, 256 bins). Pass the threshold found on
    another image (e.g. the training region) to apply it unchanged; scikit-image's convention
    ``image > threshold`` is kept.

    Args:
        image: ``(H, W)`` real array (or ``(T, H, W)``: one threshold for all frames).
        threshold: ``None`` or a finite number.
        sigma: Gaussian pre-smoothing in pixels, a finite number >= 0 (0: none).

    Returns:
        ``(mask, threshold)``: ``mask`` of ``image``'s shape, float32 in {0, 1}; the threshold
        used (float).

    Raises:
        ValueError: ``image`` not a real 2-D / 3-D array, constant (Otsu undefined), or a bad
            ``threshold`` or ``sigma``.
    """
    owner = "otsu_baseline"
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.dtype.kind not in "biuf" or image.size == 0:
        raise ValueError(f"{owner}: argument 'image' expected a real (H, W) or (T, H, W) array, got shape "
                         f"{image.shape} dtype {image.dtype}")
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not sigma >= 0 or not np.isfinite(sigma):
        raise ValueError(f"{owner}: argument 'sigma' expected a finite number >= 0, got {sigma!r}")
    if sigma > 0:
        from scipy.ndimage import gaussian_filter

        frames = image[None] if image.ndim == 2 else image
        smoothed = np.stack([gaussian_filter(f.astype(np.float64), float(sigma), mode="reflect") for f in frames])
        image = smoothed[0] if image.ndim == 2 else smoothed
    if threshold is None:
        if image.min() == image.max():
            raise ValueError(f"{owner}: argument 'image' expected at least two grey levels (Otsu needs a "
                             f"histogram to split), got a constant image")
        from skimage.filters import threshold_otsu

        threshold = float(threshold_otsu(image))
    elif isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not np.isfinite(threshold):
        raise ValueError(f"{owner}: argument 'threshold' expected None or a finite number, got {threshold!r}")
    return (image > threshold).astype(np.float32), float(threshold)


# --- whole-region prediction and attention maps -----------------------------------------------

def pad_to_multiple(image: np.ndarray, factor: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad the last two axes of ``image`` at the bottom and right, by reflection
    (``numpy.pad(mode="reflect")``), up to the next multiples of ``factor``.

    Returns:
        ``(padded, (H, W))``: the padded array and the original size (crop ``[..., :H, :W]`` to
        undo it). Unchanged (a copy) when the size is already a multiple.

    Raises:
        ValueError: ``image`` with fewer than 2 axes, ``factor`` not a positive int, or a pad
            larger than the image (reflection needs ``pad < size``).
    """
    factor = check_positive_int("pad_to_multiple", "factor", factor)
    image = np.asarray(image)
    if image.ndim < 2:
        raise ValueError(f"pad_to_multiple: argument 'image' expected at least 2 axes (..., H, W), got shape "
                         f"{image.shape}")
    h, w = image.shape[-2:]
    ph, pw = (-h) % factor, (-w) % factor
    if ph >= h or pw >= w:
        raise ValueError(f"pad_to_multiple: argument 'image' expected H, W larger than the padding to a "
                         f"multiple of {factor}, got {h} x {w}")
    widths = [(0, 0)] * (image.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(image, widths, mode="reflect"), (h, w)


def _network_factor(model) -> int:
    depth = getattr(model, "depth", None)
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"argument 'model' expected a UNet / AttentionUNet (with an int 'depth'), got "
                         f"{type(model).__name__}")
    return 2 ** depth


def _frames(owner: str, name: str, image) -> tuple[np.ndarray, bool]:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.dtype.kind not in "biuf" or 0 in image.shape:
        raise ValueError(f"{owner}: argument '{name}' expected a real (H, W) or (T, H, W) array, got shape "
                         f"{image.shape} dtype {image.dtype}")
    return (image[None] if image.ndim == 2 else image).astype(np.float32), image.ndim == 2


def predict_region(model, image, *, return_logits: bool = False) -> np.ndarray:
    """Foreground probabilities of a whole region (or of each frame), one forward pass per frame.

    The network is fully convolutional, so the whole region goes through at once (no tiling,
    no seams): the image is reflect-padded at the bottom / right to a multiple of
    ``2**model.depth`` (:func:`pad_to_multiple`), passed as ``(1, 1, H', W')`` float32 in
    ``eval()`` mode (BatchNorm uses its running statistics) under ``torch.no_grad()``, and the
    output is cropped back. The model's training mode is restored afterwards.

    Args:
        model: a :class:`~vision_attention.torch.UNet` / ``AttentionUNet`` with one input and
            one output channel.
        image: ``(H, W)`` or ``(T, H, W)`` real array (the region's image, values as trained on).
        return_logits: return the logits instead of ``sigmoid(logits)``.

    Returns:
        ``image``'s shape, float32: probabilities in [0, 1] (or logits).

    Raises:
        ValueError: a bad ``image`` or ``return_logits``; a model without ``depth``.
    """
    torch = _torch()
    owner = "predict_region"
    frames, single = _frames(owner, "image", image)
    check_bool(owner, "return_logits", return_logits)
    factor = _network_factor(model)
    padded, (h, w) = pad_to_multiple(frames, factor)
    was_training = model.training
    model.eval()
    out = np.empty(frames.shape, np.float32)
    try:
        with torch.no_grad():
            for i, frame in enumerate(padded):
                logits = model(torch.from_numpy(np.ascontiguousarray(frame))[None, None])[0, 0, :h, :w]
                out[i] = (logits if return_logits else torch.sigmoid(logits)).numpy()
    finally:
        model.train(was_training)
    return out[0] if single else out


def attention_maps(model, tile) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every attention gate's map of an :class:`~vision_attention.torch.AttentionUNet` for one tile.

    Runs ``model(x, return_attention=True)`` in ``eval()`` mode under ``torch.no_grad()`` on the
    tile as ``(1, 1, h, w)`` float32 (the model's training mode is restored afterwards).

    Args:
        model: an ``AttentionUNet`` (a plain ``UNet`` gives an empty dict).
        tile: ``(h, w)`` real array, ``h`` and ``w`` multiples of ``2**model.depth``.

    Returns:
        ``(probabilities, maps)``: ``(h, w)`` float32 foreground probabilities, and
        ``{"gate{level}": alpha}`` in the model's order (coarsest first, ``level = depth - 1 ..
        0``), ``alpha`` ``(h / 2**level, w / 2**level)`` float32 in (0, 1) -- the map the gate
        multiplies the skip features with at that level (for ``gate="grid"`` already upsampled
        from the gate's coarser grid).

    Raises:
        ValueError: ``tile`` not a real 2-D array; the network's own checks (size not a
            multiple of ``2**depth``).
    """
    torch = _torch()
    tile = np.asarray(tile)
    if tile.ndim != 2 or tile.dtype.kind not in "biuf":
        raise ValueError(f"attention_maps: argument 'tile' expected a real (h, w) array, got shape "
                         f"{tile.shape} dtype {tile.dtype}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, maps = model(torch.from_numpy(tile.astype(np.float32))[None, None], return_attention=True)
    finally:
        model.train(was_training)
    return (torch.sigmoid(logits)[0, 0].numpy(),
            {name: alpha[0, 0].numpy().astype(np.float32) for name, alpha in maps.items()})


# --- paired initialisation ---------------------------------------------------------------------

def copy_shared_weights(target, source) -> list[str]:
    """Copy every parameter and buffer of ``source`` into ``target`` where the name exists in
    both (``state_dict`` names); return the names of ``target`` that kept their own values.

    For paired runs: an :class:`~vision_attention.torch.AttentionUNet` and a
    :class:`~vision_attention.torch.UNet` of the same widths share every name except the gates'
    (``decoders.<i>.att_gate.*``), so after ``copy_shared_weights(attention_unet, unet)`` the two
    start from the same encoder, decoder and head and differ only by the gates. Built from one
    seed without this, their common layers would start from different random values (the
    gates' initialisation consumes random numbers in between), and an unlucky draw of a shared
    layer -- for example a 1x1 head whose 8 weights all start negative, so that every pixel
    starts as background -- would be counted as an effect of the gate.

    Args:
        target, source: ``torch.nn.Module``.

    Returns:
        The sorted ``state_dict`` names of ``target`` absent from ``source`` (left unchanged).

    Raises:
        ValueError: not modules; a shared name with different shapes in the two.
    """
    torch = _torch()
    for name, value in (("target", target), ("source", source)):
        if not isinstance(value, torch.nn.Module):
            raise ValueError(f"copy_shared_weights: argument '{name}' expected a torch.nn.Module, got "
                             f"{type(value).__name__}")
    theirs = source.state_dict()
    ours = target.state_dict()
    for name in sorted(ours.keys() & theirs.keys()):
        if ours[name].shape != theirs[name].shape:
            raise ValueError(f"copy_shared_weights: argument 'source' expected {name} of shape "
                             f"{tuple(ours[name].shape)} (as in 'target'), got {tuple(theirs[name].shape)}")
    target.load_state_dict({**ours, **{k: v for k, v in theirs.items() if k in ours}})
    return sorted(ours.keys() - theirs.keys())


MODEL_KINDS = ("unet", "seed", "grid")
"""Kinds of :func:`paired_model`: the plain U-Net, the Attention U-Net with the study notes' gate,
with the official grid gate."""


def paired_model(kind: str, seed: int, *, base_channels: int = 8, depth: int = 3):
    """The network of one paired run: ``kind`` ``"unet"`` is
    :class:`~vision_attention.torch.UNet` ``(1, 1, base_channels, depth)`` built right after
    ``torch.manual_seed(seed)``; ``"seed"`` / ``"grid"`` is
    :class:`~vision_attention.torch.AttentionUNet` with that gate, built after
    ``torch.manual_seed(seed)`` too, then given every layer it shares with that U-Net
    (:func:`copy_shared_weights`). Runs of the three kinds with one seed therefore start from the
    same encoder, decoder and head and differ only by the gates (whose own initial values come
    from the seed as well).

    Returns:
        The model (training mode), one input and one output channel.

    Raises:
        ValueError: ``kind`` not in :data:`MODEL_KINDS`, ``seed`` not a non-negative int, or
            the networks' own argument checks.
    """
    torch = _torch()
    from .torch import AttentionUNet, UNet

    check_choice("paired_model", "kind", kind, MODEL_KINDS)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"paired_model: argument 'seed' expected a non-negative int, got {seed!r}")
    torch.manual_seed(int(seed))
    unet = UNet(1, 1, base_channels=base_channels, depth=depth)
    if kind == "unet":
        return unet
    torch.manual_seed(int(seed))
    model = AttentionUNet(1, 1, base_channels=base_channels, depth=depth, gate=kind)
    copy_shared_weights(model, unet)
    return model


# --- training ----------------------------------------------------------------------------------

@dataclass
class TrainingResult:
    """What :func:`train_segmentation` measured, per epoch (lists of length ``epochs``).

    * ``train_loss``: mean :func:`dice_bce_loss` of the epoch's steps (training mode, augmented
      tiles); ``step_loss``: every step's loss (``epochs * steps_per_epoch`` values);
    * ``test_loss``, ``test_dice``, ``test_iou``: on the whole held-out region after the epoch
      (eval mode, :func:`predict_region`, threshold ``threshold`` on the probabilities; Dice and
      IoU from :func:`vision_attention.metrics.dice_score` / ``iou_score``, the mean over frames
      for a ``(T, H, W)`` test set);
    * **timing**: ``epoch_seconds`` -- wall-clock seconds of the epoch's training steps
      (``time.perf_counter``, evaluation excluded), ``eval_seconds`` -- of the evaluation;
      ``threads`` -- ``torch.get_num_threads()`` during the run. Timings depend on the machine
      and its load; they are not reproducible numbers, the losses and scores are.
    * ``parameters``: trainable parameters of the model; ``model``: the trained model;
      ``seed``, ``schedule``, ``epochs``, ``steps_per_epoch``, ``batch_size``, ``lr``: the settings.
    """

    seed: int
    schedule: str
    epochs: int
    steps_per_epoch: int
    batch_size: int
    lr: float
    parameters: int
    threads: int
    train_loss: list = field(default_factory=list)
    step_loss: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_dice: list = field(default_factory=list)
    test_iou: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    eval_seconds: list = field(default_factory=list)
    model: object = None

    @property
    def final_dice(self) -> float:
        """Held-out Dice after the last epoch."""
        return self.test_dice[-1]

    @property
    def final_iou(self) -> float:
        """Held-out IoU after the last epoch."""
        return self.test_iou[-1]

    @property
    def train_seconds(self) -> float:
        """Timing: total wall-clock seconds of the training steps (all epochs)."""
        return float(sum(self.epoch_seconds))

    @property
    def total_seconds(self) -> float:
        """Timing: training plus evaluation seconds."""
        return float(sum(self.epoch_seconds) + sum(self.eval_seconds))

    def history(self):
        """A :class:`pandas.DataFrame` indexed by epoch (1-based): ``train_loss``, ``test_loss``,
        ``test_dice``, ``test_iou``, ``epoch_seconds``, ``eval_seconds``."""
        import pandas as pd

        table = pd.DataFrame({name: getattr(self, name) for name in
                              ("train_loss", "test_loss", "test_dice", "test_iou", "epoch_seconds", "eval_seconds")},
                             index=range(1, len(self.train_loss) + 1))
        table.index.name = "epoch"
        return table


def _tile_pool(owner: str, train_tiles) -> tuple[np.ndarray, np.ndarray]:
    try:
        images, masks = train_tiles
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: argument 'train_tiles' expected a pair (images, masks) of (N, s, s) arrays, "
                         f"got {type(train_tiles).__name__}") from None
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 3 or images.shape[1] != images.shape[2] or masks.shape != images.shape \
            or images.dtype.kind not in "biuf" or masks.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: argument 'train_tiles' expected images and masks of one shape (N, s, s) "
                         f"(square tiles), got {images.shape} and {masks.shape}")
    if not np.isin(masks, (0, 1)).all():
        raise ValueError(f"{owner}: argument 'train_tiles' expected masks with values 0 and 1, got others")
    return images.astype(np.float32), masks.astype(np.float32)


def _batches(rng: np.random.Generator, n: int, batch_size: int):
    """Indices of the tile pool, batch by batch: a stream of seeded permutations, so every tile
    is used once before any is used again."""
    stream = np.empty(0, np.int64)
    while True:
        while stream.size < batch_size:
            stream = np.concatenate([stream, rng.permutation(n)])
        yield stream[:batch_size]
        stream = stream[batch_size:]


def train_segmentation(
    model,
    train_tiles,
    test_image,
    test_mask,
    *,
    epochs: int,
    steps_per_epoch: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    schedule: str = "constant",
    augment: bool = True,
    threshold: float = 0.5,
    progress: bool = False,
) -> TrainingResult:
    """Train a segmentation network on tiles with Adam and score the held-out region after every
    epoch. The one training function of the chapter: every model and regime runs through it.

    **Seeding.** ``torch.manual_seed(seed)`` is called first; if ``model`` is a callable that
    builds the network (e.g. ``lambda: UNet(1, 1, 8, 3)``) it is called right after, so the seed
    fixes the initial weights too (pass a built module to keep its weights). The batches and
    augmentations come from ``numpy.random.default_rng(seed)``: a stream of permutations of the
    tile pool (every tile once before any repeats), ``batch_size`` tiles per step, each flipped /
    rotated by :func:`vision_attention.data.augment` (when ``augment``). Two runs with the same
    seed, model and data therefore see the same batches; on the same machine and thread count
    they give identical losses and scores (PyTorch's CPU kernels are deterministic for a fixed
    thread count). Runs with different models and the same seed share the batches: paired runs.

    **Step.** ``loss = dice_bce_loss(model(x), y)`` in training mode on ``(B, 1, s, s)`` float32,
    ``Adam(model.parameters(), lr)`` (PyTorch defaults otherwise: betas (0.9, 0.999), no weight
    decay), ``steps_per_epoch`` steps per epoch. ``schedule="constant"`` keeps ``lr``;
    ``"cosine"`` anneals it after every step from ``lr`` towards 0 over the whole run
    (``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=epochs * steps_per_epoch)``; Loshchilov
    and Hutter, "SGDR", ICLR 2017, without restarts), which steadies the last epochs' scores.

    **Evaluation** after every epoch: :func:`predict_region` on ``test_image`` (the whole
    region, reflect-padded to a multiple of ``2**model.depth``, eval mode), the loss on the
    region's logits, and Dice / IoU of ``probability > threshold`` against ``test_mask``.

    Args:
        model: a ``UNet`` / ``AttentionUNet`` (1 input, 1 output channel), or a zero-argument
            callable returning one.
        train_tiles: ``(images, masks)``, each ``(N, s, s)``: the training pool (e.g. from
            :func:`vision_attention.data.random_tiles`), ``s`` a multiple of ``2**depth``, masks 0/1.
        test_image: ``(H, W)`` or ``(T, H, W)`` real array: the held-out region (or frames).
        test_mask: the same shape, 0/1 (or labels: ``> 0`` is foreground).
        epochs, steps_per_epoch, batch_size: positive ints.
        lr: Adam's learning rate, a positive number.
        seed: a non-negative int.
        schedule: ``"constant"`` or ``"cosine"`` (see above).
        augment: flips and 90-degree rotations of every batch (bool).
        threshold: probability above which a pixel is foreground, in (0, 1).
        progress: print one line per epoch (bool; off for the book).

    Returns:
        A :class:`TrainingResult` (per-epoch losses, held-out Dice / IoU, timings, parameter
        count, the trained model).

    Raises:
        ValueError: any argument of the wrong type or shape, before training starts.
    """
    torch = _torch()
    from .data import _rng, augment as augment_tiles

    owner = "train_segmentation"
    epochs = check_positive_int(owner, "epochs", epochs)
    steps_per_epoch = check_positive_int(owner, "steps_per_epoch", steps_per_epoch)
    batch_size = check_positive_int(owner, "batch_size", batch_size)
    lr = check_positive_number(owner, "lr", lr)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{owner}: argument 'seed' expected a non-negative int, got {seed!r}")
    check_choice(owner, "schedule", schedule, SCHEDULES)
    check_bool(owner, "augment", augment)
    check_bool(owner, "progress", progress)
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 < threshold < 1:
        raise ValueError(f"{owner}: argument 'threshold' expected a number in (0, 1), got {threshold!r}")
    images, masks = _tile_pool(owner, train_tiles)
    test_frames, _ = _frames(owner, "test_image", test_image)
    target = np.asarray(test_mask)
    if target.shape != np.asarray(test_image).shape or target.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: argument 'test_mask' expected a real array of test_image's shape "
                         f"{np.asarray(test_image).shape}, got {target.shape} {target.dtype}")
    target = (target[None] if target.ndim == 2 else target) > 0

    torch.manual_seed(int(seed))
    if not isinstance(model, torch.nn.Module):
        if not callable(model):
            raise ValueError(f"{owner}: argument 'model' expected a torch.nn.Module or a callable returning "
                             f"one, got {type(model).__name__}")
        model = model()
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"{owner}: argument 'model' expected a callable returning a torch.nn.Module, "
                             f"got one returning {type(model).__name__}")
    factor = _network_factor(model)
    if images.shape[1] % factor:
        raise ValueError(f"{owner}: argument 'train_tiles' expected tiles whose side is a multiple of "
                         f"2**depth = {factor}, got {images.shape[1]}")

    rng = _rng(owner, int(seed))
    batches = _batches(rng, len(images), batch_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * steps_per_epoch)
                 if schedule == "cosine" else None)
    result = TrainingResult(seed=int(seed), schedule=schedule, epochs=epochs, steps_per_epoch=steps_per_epoch,
                            batch_size=batch_size, lr=lr, threads=torch.get_num_threads(),
                            parameters=sum(p.numel() for p in model.parameters() if p.requires_grad))
    target_t = torch.from_numpy(target.astype(np.float32))[:, None]
    for epoch in range(1, epochs + 1):
        model.train()
        start = time.perf_counter()
        losses = []
        for _ in range(steps_per_epoch):
            index = next(batches)
            x, y = images[index], masks[index]
            if augment:
                x, y, _ = augment_tiles(x, y, rng)
            x_t = torch.from_numpy(np.ascontiguousarray(x))[:, None]
            y_t = torch.from_numpy(np.ascontiguousarray(y))[:, None]
            optimiser.zero_grad()
            loss = dice_bce_loss(model(x_t), y_t)
            loss.backward()
            optimiser.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(float(loss.detach()))
        result.epoch_seconds.append(time.perf_counter() - start)
        result.step_loss.extend(losses)
        result.train_loss.append(float(np.mean(losses)))

        start = time.perf_counter()
        logits = predict_region(model, test_frames, return_logits=True)
        with torch.no_grad():
            result.test_loss.append(float(dice_bce_loss(torch.from_numpy(logits)[:, None], target_t)))
        predicted = logits > float(np.log(threshold / (1 - threshold)))  # sigmoid(z) > t  <=>  z > logit(t)
        result.test_dice.append(float(np.mean(dice_score(predicted, target))))
        result.test_iou.append(float(np.mean(iou_score(predicted, target))))
        result.eval_seconds.append(time.perf_counter() - start)
        if progress:
            print(f"epoch {epoch}/{epochs}: train loss {result.train_loss[-1]:.4f}, test loss "
                  f"{result.test_loss[-1]:.4f}, Dice {result.test_dice[-1]:.4f}, IoU {result.test_iou[-1]:.4f} "
                  f"(timing: {result.epoch_seconds[-1]:.1f} s train + {result.eval_seconds[-1]:.1f} s eval, "
                  f"{result.threads} threads)", flush=True)
    model.eval()
    result.model = model
    return result


# --- reading the curves ------------------------------------------------------------------------

def _curve(owner: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64) if not isinstance(values, str) else np.array([])
    if array.ndim != 1 or array.size < 2 or not np.isfinite(array).all():
        raise ValueError(f"{owner}: argument 'values' expected a 1-D sequence of at least 2 finite numbers, "
                         f"got {values!r}")
    return array


def loss_roughness(values) -> float:
    """Mean absolute change between consecutive values, ``mean(|v[i+1] - v[i]|)``: how jagged a
    loss curve is (0 for a constant curve). On per-epoch training losses of a decreasing curve it
    also grows with the total decrease, so compare curves that start and end alike, or read it
    beside :func:`epochs_to_reach`.

    Raises:
        ValueError: ``values`` not 1-D with at least 2 finite numbers.
    """
    return float(np.abs(np.diff(_curve("loss_roughness", values))).mean())


def epochs_to_reach(values, fraction: float = 0.95) -> int:
    """The first epoch (1-based) at which a score curve reaches ``fraction`` of its final value:
    ``min{i : v[i] >= fraction * v[-1]}``, a measure of convergence speed for Dice / IoU curves.

    Raises:
        ValueError: ``values`` not 1-D with at least 2 finite numbers, or ``fraction`` not in (0, 1].
    """
    array = _curve("epochs_to_reach", values)
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction <= 1:
        raise ValueError(f"epochs_to_reach: argument 'fraction' expected a number in (0, 1], got {fraction!r}")
    return int(np.argmax(array >= fraction * array[-1])) + 1


# --- a harder regime ---------------------------------------------------------------------------

def degrade(image, *, blur_sigma: float = 0.0, noise_std: float = 0.0, seed: int = 0) -> np.ndarray:
    """A harder version of an image: Gaussian blur, then additive Gaussian noise.

    ``scipy.ndimage.gaussian_filter(image, blur_sigma)`` over the last two axes (per frame for
    ``(T, H, W)``; ``mode="reflect"``) followed by ``+ N(0, noise_std**2)`` drawn by
    ``numpy.random.default_rng(seed)``. Values are not clipped (a network and Otsu both see the
    same degraded image). The annotation is unchanged: what was a nucleus stays one.

    Args:
        image: ``(H, W)`` or ``(T, H, W)`` real array (e.g. the [0, 1] output of
            :func:`vision_attention.data.load_nuclei`).
        blur_sigma: blur standard deviation in pixels (>= 0; 0: none).
        noise_std: noise standard deviation in the image's units (>= 0; 0: none).
        seed: a non-negative int.

    Returns:
        ``image``'s shape, float32.

    Raises:
        ValueError: a bad ``image``, negative ``blur_sigma`` / ``noise_std``, bad ``seed``.
    """
    owner = "degrade"
    frames, single = _frames(owner, "image", image)
    for name, value in (("blur_sigma", blur_sigma), ("noise_std", noise_std)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0 or not np.isfinite(value):
            raise ValueError(f"{owner}: argument '{name}' expected a finite number >= 0, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{owner}: argument 'seed' expected a non-negative int, got {seed!r}")
    out = frames.astype(np.float64)
    if blur_sigma > 0:
        from scipy.ndimage import gaussian_filter

        out = np.stack([gaussian_filter(f, float(blur_sigma), mode="reflect") for f in out])
    if noise_std > 0:
        out = out + np.random.default_rng(int(seed)).normal(0.0, float(noise_std), out.shape)
    out = out.astype(np.float32)
    return out[0] if single else out
