"""An offline image-quality data set and the training of the multi-scale fusion regressors.

No installable package ships images with human opinion scores (MOS), so the IQA chapter builds a
*proxy* task from the real photographs the course ships and controlled distortions:

* :data:`PHOTOGRAPHS` -- ten colour photographs of :data:`vision_attention.data.IMAGES`; each
  gives :data:`CROPS_PER_PHOTO` reference crops (of the four of :func:`reference_crops`).
* :data:`DISTORTIONS` -- five types at five levels (Gaussian blur, white noise, JPEG, a
  saturation change, a contrast change), applied by :func:`distort` with scikit-image, numpy
  and Pillow.
* :data:`METRICS` -- full-reference quality scores from ``piq`` that need no downloaded weights
  (:func:`quality_scores`); the target is MS-SSIM by default (the chapter measures why). They
  are a proxy for MOS, never MOS.
* :func:`build_iqa_set` -- every crop, pristine and distorted, through a frozen trunk
  (:class:`vision_attention.torch.MultiScaleBackbone`), its four stage maps average-pooled to
  ``pool_size`` once, with the target scores: an :class:`IQASet`.
* :func:`photo_split` -- train/test masks by photograph (no photograph on both sides);
  :func:`standardise` -- per-channel statistics of the training images.
* :func:`train_regressor`, :func:`predict` -- a seeded AdamW training of
  :class:`vision_attention.torch.MultiScaleIQA` on the pooled maps, and its scores and fusion
  weights on held-out images.

Framework-neutral to import: PyTorch and piq are imported inside the functions that need them.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_bool, check_choice, check_positive_int, check_positive_number

__all__ = ["PHOTOGRAPHS", "CROPS_PER_PHOTO", "CROP_SIZE", "DISTORTIONS", "LEVELS", "METRICS",
           "reference_crops", "distort", "quality_scores", "IQASet", "build_iqa_set", "photo_split",
           "standardise", "TrainedRegressor", "train_regressor", "predict"]

PHOTOGRAPHS = ("astronaut", "chelsea", "coffee", "rocket", "retina", "hubble_deep_field", "immunohistochemistry",
               "china", "flower", "grace_hopper")
"""The colour photographs of the IQA set (keys of :data:`vision_attention.data.IMAGES`; the
greyscale textures are left out: a saturation change does nothing to them)."""

CROP_SIZE = 224
"""Side of a reference crop in pixels: the trunks' input size."""

CROPS_PER_PHOTO = 3
"""Reference crops per photograph in :func:`build_iqa_set`: the first three of the 2 x 2 grid of
:func:`reference_crops` (top left, top right, bottom left), three rather than four for the
chapter's time budget."""

LEVELS = 5
"""Distortion levels per type, 1 (mildest) to 5."""

DISTORTIONS = {
    "blur": ("Gaussian blur, sigma in pixels", (0.5, 1.0, 2.0, 3.0, 5.0)),
    "noise": ("additive white Gaussian noise, sigma in units of the [0, 1] range", (0.02, 0.04, 0.08, 0.12, 0.2)),
    "jpeg": ("JPEG compression (Pillow), quality", (70, 40, 20, 10, 5)),
    "saturation": ("saturation scaled (Pillow ImageEnhance.Color), factor", (0.8, 0.6, 0.4, 0.2, 0.0)),
    "contrast": ("contrast scaled about the mean grey (Pillow ImageEnhance.Contrast), factor",
                 (0.8, 0.6, 0.45, 0.3, 0.15)),
}
"""``kind -> (what the parameter is, its values at levels 1..5)``: the five distortion types the
IQA fusion note names (blur, noise, JPEG, colour, contrast)."""


def _torch():
    from ._frameworks import import_torch

    return import_torch()


def _check_rgb(owner: str, name: str, image) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype.kind != "f":
        raise ValueError(f"{owner}: argument '{name}' expected a float (H, W, 3) RGB image in [0, 1], got "
                         f"shape {a.shape} dtype {a.dtype}")
    return a.astype(np.float32, copy=False)


def reference_crops(name: str, crop: int = CROP_SIZE) -> np.ndarray:
    """The four candidate reference crops of photograph ``name``: the photograph resized
    (anti-aliased, scikit-image) so its shorter side is ``2 * crop``, then the 2 x 2 grid of
    ``crop x crop`` crops around its centre, row by row.

    Returns:
        ``(4, crop, crop, 3)`` float32 RGB in [0, 1].

    Raises:
        ValueError: ``name`` not in :data:`vision_attention.data.IMAGES`; a non-positive ``crop``.
    """
    from skimage import transform

    from .data import load_image

    crop = check_positive_int("reference_crops", "crop", crop)
    image = load_image(name, size=None)
    h, w = image.shape[:2]
    scale = 2 * crop / min(h, w)
    image = transform.resize(image, (round(h * scale), round(w * scale)), anti_aliasing=True).astype(np.float32)
    h, w = image.shape[:2]
    top, left = (h - 2 * crop) // 2, (w - 2 * crop) // 2
    return np.stack([image[top + i * crop: top + (i + 1) * crop, left + j * crop: left + (j + 1) * crop]
                     for i in range(2) for j in range(2)])


def _to_pil(image: np.ndarray):
    from PIL import Image

    return Image.fromarray((np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8))


def _from_pil(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / 255.0


def distort(image, kind: str, level: int, seed: int = 0) -> np.ndarray:
    """``image`` with distortion ``kind`` at ``level`` (parameters in :data:`DISTORTIONS`).

    Blur is ``skimage.filters.gaussian`` per channel; noise is seeded additive Gaussian noise
    (``numpy.random.default_rng(seed)``); JPEG, saturation and contrast round-trip through 8-bit
    Pillow images (``Image.save(format="JPEG", quality=q)``, ``ImageEnhance.Color``,
    ``ImageEnhance.Contrast``). The result is clipped to [0, 1].

    Args:
        image: ``(H, W, 3)`` float RGB in [0, 1].
        kind: a key of :data:`DISTORTIONS`.
        level: 1 (mildest) to :data:`LEVELS`.
        seed: seed of the noise (used by ``"noise"`` only): an int or a sequence of ints, as
            ``numpy.random.default_rng`` takes.

    Returns:
        ``(H, W, 3)`` float32 in [0, 1].

    Raises:
        ValueError: ``image`` not a float RGB image, an unknown ``kind``, ``level`` outside 1..5.
    """
    from PIL import Image, ImageEnhance

    image = _check_rgb("distort", "image", image)
    check_choice("distort", "kind", kind, tuple(DISTORTIONS))
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 1 <= level <= LEVELS:
        raise ValueError(f"distort: argument 'level' expected an integer from 1 to {LEVELS}, got {level!r}")
    value = DISTORTIONS[kind][1][int(level) - 1]
    if kind == "blur":
        from skimage.filters import gaussian

        out = gaussian(image, sigma=value, channel_axis=-1, preserve_range=True)
    elif kind == "noise":
        out = image + np.random.default_rng(seed).normal(0.0, value, image.shape)
    elif kind == "jpeg":
        buffer = io.BytesIO()
        _to_pil(image).save(buffer, format="JPEG", quality=int(value))
        out = _from_pil(Image.open(buffer).convert("RGB"))
    else:
        enhancer = ImageEnhance.Color if kind == "saturation" else ImageEnhance.Contrast
        out = _from_pil(enhancer(_to_pil(image)).enhance(value))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _metric_functions() -> dict:
    import piq

    return {
        "ms_ssim": lambda x, y: piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none"),
        "vif_p": lambda x, y: piq.vif_p(x, y, data_range=1.0, reduction="none"),
        "fsim": lambda x, y: piq.fsim(x, y, data_range=1.0, reduction="none", chromatic=False),
        "fsimc": lambda x, y: piq.fsim(x, y, data_range=1.0, reduction="none", chromatic=True),
        "gmsd": lambda x, y: piq.gmsd(x, y, data_range=1.0, reduction="none"),
    }


METRICS = {
    "ms_ssim": ("MS-SSIM", "higher is better", "Wang, Simoncelli and Bovik, Asilomar 2003"),
    "vif_p": ("VIF (pixel domain)", "higher is better", "Sheikh and Bovik, IEEE TIP 2006"),
    "fsim": ("FSIM", "higher is better", "Zhang et al., IEEE TIP 2011"),
    "fsimc": ("FSIMc (with chroma)", "higher is better", "Zhang et al., IEEE TIP 2011"),
    "gmsd": ("GMSD", "lower is better", "Xue et al., IEEE TIP 2014"),
}
"""``key -> (name, direction, source)`` of the full-reference metrics :func:`quality_scores`
computes with ``piq`` (none needs downloaded weights)."""


def quality_scores(distorted, reference, metric: str = "ms_ssim", batch_size: int = 32) -> np.ndarray:
    """Full-reference quality of each distorted image against its reference, with ``piq``.

    MS-SSIM is computed on the RGB channels (``piq.multi_scale_ssim``, five scales, an
    11-pixel Gaussian window: images need a side of at least 161 pixels); VIF, FSIM and GMSD on
    luminance, FSIMc adds the chroma channels (see :data:`METRICS`).

    Args:
        distorted, reference: ``(N, H, W, 3)`` float RGB in [0, 1] (``reference`` may be one
            ``(H, W, 3)`` image for all).
        metric: a key of :data:`METRICS`.
        batch_size: images per ``piq`` call.

    Returns:
        ``(N,)`` float64 scores.

    Raises:
        ValueError: arrays of other shapes or ranks, an unknown ``metric``.
    """
    torch = _torch()
    check_choice("quality_scores", "metric", metric, tuple(METRICS))
    batch_size = check_positive_int("quality_scores", "batch_size", batch_size)
    x = np.asarray(distorted, dtype=np.float32)
    y = np.asarray(reference, dtype=np.float32)
    if y.ndim == 3 and x.ndim == 4 and y.shape == x.shape[1:]:
        y = np.broadcast_to(y, x.shape)
    if x.ndim != 4 or x.shape[-1] != 3 or y.shape != x.shape:
        raise ValueError(f"quality_scores: arguments 'distorted' and 'reference' expected (N, H, W, 3) arrays "
                         f"of one shape, got {x.shape} and {np.shape(reference)}")
    fn = _metric_functions()[metric]
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xs = torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size].transpose(0, 3, 1, 2)))
            ys = torch.from_numpy(np.ascontiguousarray(y[i:i + batch_size].transpose(0, 3, 1, 2)))
            out.append(fn(xs.clamp(0, 1), ys.clamp(0, 1)).double().numpy().reshape(-1))
    return np.concatenate(out)


@dataclass
class IQASet:
    """The proxy IQA data set: one row per image (pristine crops and their distortions).

    Attributes:
        features: the trunk's four stage maps average-pooled to ``pool_size``, finest first:
            ``(N, C_i, pool_size, pool_size)`` float32 (NCHW).
        score: ``(N,)`` the full-reference target (:attr:`metric`), 1.0 for a pristine crop
            under MS-SSIM.
        photo: ``(N,)`` the photograph's name (the unit of the train/test split).
        reference: ``(N,)`` index of the reference crop.
        kind: ``(N,)`` ``"pristine"`` or a key of :data:`DISTORTIONS`.
        level: ``(N,)`` 0 for pristine, else 1..5.
        metric: the key of :data:`METRICS` the scores come from.
        backbone: the trunk's name; ``stage_channels``, ``stage_sizes``: per stage, before pooling.
        seconds: wall time of the distortions, the scores and the features (timings).
    """

    features: list
    score: np.ndarray
    photo: np.ndarray
    reference: np.ndarray
    kind: np.ndarray
    level: np.ndarray
    metric: str
    backbone: str
    stage_channels: tuple
    stage_sizes: tuple
    seconds: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.score.shape[0])


def build_iqa_set(photos=PHOTOGRAPHS, *, backbone: str = "mobilenet_v2", metric: str = "ms_ssim",
                  pool_size: int = 7, seed: int = 0, batch_size: int = 26, progress: bool = False) -> IQASet:
    """Distort every reference crop of ``photos`` at every level, score each image against its
    reference, and run all of them through the frozen trunk once.

    Per reference crop: the pristine crop and the 25 distortions (:data:`DISTORTIONS` x
    :data:`LEVELS`; the noise of crop ``r`` at level ``l`` is seeded ``[seed, r, l]``), their
    :func:`quality_scores`, and the four stage maps of
    :class:`vision_attention.torch.MultiScaleBackbone` (ImageNet-normalised input) average-pooled
    to ``pool_size``. Pooling first is exact for the fusion modules, which pool the same way
    (a ``pool_size`` map is left as it is), and keeps the set small.

    Args:
        photos: names of :data:`vision_attention.data.IMAGES` (colour photographs).
        backbone: ``"mobilenet_v2"`` (pretrained, bundled weights) -- the only trunk with
            weights offline.
        metric: the target, a key of :data:`METRICS`.
        pool_size: side of the pooled stage maps (7: the last stage's size at 224 input).
        seed: seed of the noise.
        batch_size: images per trunk call.
        progress: print one line per photograph.

    Returns:
        An :class:`IQASet` of ``len(photos) * CROPS_PER_PHOTO * 26`` images.

    Raises:
        ValueError: an empty or unknown photograph list, an unknown ``metric``, a ``backbone``
            other than ``"mobilenet_v2"``, ``pool_size`` not dividing every stage size.
    """
    torch = _torch()
    from .data import imagenet_normalise
    from .torch import MultiScaleBackbone

    if isinstance(photos, str) or not photos:
        raise ValueError(f"build_iqa_set: argument 'photos' expected a non-empty sequence of image names, got "
                         f"{photos!r}")
    check_choice("build_iqa_set", "backbone", backbone, ("mobilenet_v2",))
    check_choice("build_iqa_set", "metric", metric, tuple(METRICS))
    pool_size = check_positive_int("build_iqa_set", "pool_size", pool_size)
    check_bool("build_iqa_set", "progress", progress)
    sizes = tuple(CROP_SIZE // s for s in (4, 8, 16, 32))
    if any(s % pool_size for s in sizes):
        raise ValueError(f"build_iqa_set: argument 'pool_size' expected a divisor of every stage size {sizes}, "
                         f"got {pool_size}")
    trunk = MultiScaleBackbone(backbone, pretrained=True)
    seconds = {"distortions": 0.0, "scores": 0.0, "features": 0.0}
    feats = [[] for _ in trunk.stage_channels]
    scores, rows, ref_index = [], [], 0
    for name in photos:
        crops = reference_crops(name)[:CROPS_PER_PHOTO]
        for crop in crops:
            t0 = time.perf_counter()
            images = [crop] + [distort(crop, kind, level, seed=[seed, ref_index, level])
                               for kind in DISTORTIONS for level in range(1, LEVELS + 1)]
            rows += [(name, ref_index, "pristine", 0)] + [(name, ref_index, kind, level) for kind in DISTORTIONS
                                                         for level in range(1, LEVELS + 1)]
            batch = np.stack(images)
            t1 = time.perf_counter()
            scores.append(quality_scores(batch, crop, metric, batch_size=batch_size))
            t2 = time.perf_counter()
            x = np.ascontiguousarray(imagenet_normalise(batch).transpose(0, 3, 1, 2))
            with torch.no_grad():
                for i in range(0, len(x), batch_size):
                    for j, f in enumerate(trunk(torch.from_numpy(x[i:i + batch_size]))):
                        k = f.shape[2] // pool_size
                        feats[j].append((f if k == 1 else torch.nn.functional.avg_pool2d(f, k)).numpy())
            t3 = time.perf_counter()
            seconds["distortions"] += t1 - t0
            seconds["scores"] += t2 - t1
            seconds["features"] += t3 - t2
            ref_index += 1
        if progress:
            print(f"{name}: {len(crops)} crops x 26 images scored and encoded", flush=True)
    photo, reference, kind, level = (np.array(c) for c in zip(*rows))
    return IQASet([np.concatenate(f) for f in feats], np.concatenate(scores), photo, reference.astype(int), kind,
                  level.astype(int), metric, backbone, tuple(trunk.stage_channels), sizes, seconds)


def photo_split(dataset: IQASet, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(train, test)`` masks over ``dataset``'s rows: ``n_test`` photographs drawn with
    ``numpy.random.default_rng(seed)`` are the test set, the rest train; no photograph (hence no
    reference crop or its distortions) is on both sides.

    Raises:
        ValueError: ``n_test`` not between 1 and the number of photographs minus 1.
    """
    names = np.array(sorted(set(dataset.photo.tolist())))
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or not 1 <= n_test < len(names):
        raise ValueError(f"photo_split: argument 'n_test' expected an integer from 1 to {len(names) - 1}, got "
                         f"{n_test!r}")
    test_names = np.random.default_rng(seed).permutation(names)[:n_test]
    test = np.isin(dataset.photo, test_names)
    return ~test, test


def _mask(owner: str, name: str, mask, n: int) -> np.ndarray:
    """``mask`` as an ``(n,)`` bool array with at least one true entry, else ValueError."""
    a = np.asarray(mask)
    if a.dtype != bool or a.shape != (n,) or not a.any():
        raise ValueError(f"{owner}: argument '{name}' expected a boolean mask of shape ({n},) (one entry per "
                         f"row) with at least one True, got dtype {a.dtype}, shape {a.shape}")
    return a


def standardise(features, train) -> list[np.ndarray]:
    """Each stage's channels standardised with the mean and standard deviation over the training
    rows (and positions): the stages of a trunk differ in scale by an order of magnitude, and a
    fusion weight should compare stages, not undo their units.

    Args:
        features: list of ``(N, C_i, p, p)`` arrays; train: ``(N,)`` bool mask.

    Returns:
        A new list of float32 arrays of the same shapes.

    Raises:
        ValueError: ``train`` not a boolean mask with one entry per row and at least one True.
    """
    train = _mask("standardise", "train", train, features[0].shape[0])
    out = []
    for f in features:
        mean = f[train].mean(axis=(0, 2, 3), keepdims=True)
        std = f[train].std(axis=(0, 2, 3), keepdims=True)
        out.append(((f - mean) / np.where(std > 0, std, 1.0)).astype(np.float32))
    return out


@dataclass
class TrainedRegressor:
    """A trained :class:`vision_attention.torch.MultiScaleIQA` and how it was trained.

    ``losses`` holds the mean training loss of every 50 steps; ``seconds`` the training's wall
    time (a timing); ``target_mean``, ``target_std`` the standardisation of the target (the
    model predicts standardised scores; :func:`predict` maps them back)."""

    model: object
    fusion: str
    seed: int
    steps: int
    seconds: float
    target_mean: float
    target_std: float
    losses: list

    @property
    def parameters(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))


def train_regressor(features, score, train, *, fusion: str, seed: int, steps: int = 600, batch_size: int = 32,
                    lr: float = 1e-3, weight_decay: float = 1e-4, hidden: int = 256, dropout: float = 0.1,
                    head_channels: int = 64) -> TrainedRegressor:
    """Train a :class:`vision_attention.torch.MultiScaleIQA` (``fusion``) on pooled stage maps.

    ``torch.manual_seed(seed)`` fixes the initialisation and the dropout masks, and
    ``numpy.random.default_rng(seed)`` the mini-batches (drawn without replacement within a
    batch), so two fusions trained with one seed see the same batches. Loss: mean squared error
    on the standardised target; optimiser: AdamW (``lr``, ``weight_decay``), constant rate.

    Args:
        features: list of ``(N, C_i, p, p)`` float32 stage maps (standardised: :func:`standardise`).
        score: ``(N,)`` targets; train: ``(N,)`` bool mask of the training rows.
        fusion: ``"attention"``, ``"concat"`` or ``"single"``.
        seed, steps, batch_size, lr, weight_decay: the training.
        hidden, dropout, head_channels: of the model.

    Returns:
        A :class:`TrainedRegressor` (the model in eval mode).

    Raises:
        ValueError: bad arguments, fewer training rows than ``batch_size``.
    """
    torch = _torch()
    from .torch import MultiScaleIQA

    steps = check_positive_int("train_regressor", "steps", steps)
    batch_size = check_positive_int("train_regressor", "batch_size", batch_size)
    lr = check_positive_number("train_regressor", "lr", lr)
    train = _mask("train_regressor", "train", train, features[0].shape[0])
    score = np.asarray(score, dtype=np.float64)
    rows = np.flatnonzero(train)
    if rows.size < batch_size:
        raise ValueError(f"train_regressor: argument 'train' expected at least batch_size={batch_size} training "
                         f"rows, got {rows.size}")
    mean, std = float(score[train].mean()), float(score[train].std())
    torch.manual_seed(seed)
    model = MultiScaleIQA(tuple(f.shape[1] for f in features), fusion=fusion, hidden=hidden, dropout=dropout,
                          pool_size=int(features[0].shape[2]), head_channels=head_channels)
    tensors = [torch.from_numpy(np.ascontiguousarray(f, dtype=np.float32)) for f in features]
    target = torch.from_numpy(((score - mean) / (std if std > 0 else 1.0)).astype(np.float32))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    rng = np.random.default_rng(seed)
    losses, window = [], []
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        batch = torch.from_numpy(rng.choice(rows, size=batch_size, replace=False))
        loss = torch.nn.functional.mse_loss(model(*[t[batch] for t in tensors])[:, 0], target[batch])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        window.append(loss.item())
        if len(window) == 50:
            losses.append(float(np.mean(window)))
            window = []
    seconds = time.perf_counter() - start
    model.eval()
    return TrainedRegressor(model, fusion, int(seed), steps, seconds, mean, std, losses)


def predict(trained: TrainedRegressor, features, rows=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores (in the target's units) and fusion weights of ``trained`` on ``features[rows]``.

    Args:
        trained: a :class:`TrainedRegressor`; features: its kind of stage maps (standardised
            alike); rows: an ``(N,)`` boolean mask of the rows to score, or ``None`` for all.

    Returns:
        ``(scores (n,), weights (n, S) or None)``: weights for ``fusion="attention"`` only.

    Raises:
        ValueError: ``rows`` not ``None`` or a boolean mask with one entry per row.
    """
    torch = _torch()
    n = features[0].shape[0]
    index = np.arange(n) if rows is None else np.flatnonzero(_mask("predict", "rows", rows, n))
    tensors = [torch.from_numpy(np.ascontiguousarray(f[index], dtype=np.float32)) for f in features]
    with torch.no_grad():
        out, attention = trained.model(*tensors, return_attention=True)
    scores = out[:, 0].double().numpy() * trained.target_std + trained.target_mean
    weights = attention.get("scale_weights")
    return scores, None if weights is None else weights.numpy()
