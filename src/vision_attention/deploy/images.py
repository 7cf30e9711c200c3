"""Real images for checking exported models: an evaluation batch and a calibration batch.

Both are built from the photographs bundled with the installed packages
(:data:`vision_attention.data.IMAGES`: scikit-image, scikit-learn and Matplotlib sample
images; nothing downloads), ImageNet-normalised as torchvision's pretrained weights expect.

* :func:`evaluation_images`: every bundled image, whole (centre square) and its four corner
  crops (FiveCrop without the centre), each resized to ``size``: 13 x 5 = 65 inputs.
* :func:`calibration_images`: seeded random crops (30-100 % of the shorter side) of the ten
  colour photographs of :data:`vision_attention.iqa.PHOTOGRAPHS`, for INT8 calibration. They
  come from the same photographs as the evaluation batch (we have no others offline), but are
  other crops at other scales; the chapter says so.
"""

from __future__ import annotations

import functools

import numpy as np

from .._checks import check_positive_int

__all__ = ["evaluation_images", "calibration_images", "to_nhwc"]


def _check_size(owner: str, size) -> int:
    size = check_positive_int(owner, "size", size)
    if size < 32:
        raise ValueError(f"{owner}: argument 'size' expected an int >= 32 (the networks' smallest input), got {size}")
    return size


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    from skimage import transform

    return transform.resize(image, (size, size), anti_aliasing=True).astype(np.float32)


def _nchw(images_hwc: list[np.ndarray]) -> np.ndarray:
    from ..data import imagenet_normalise

    return np.ascontiguousarray(imagenet_normalise(np.stack(images_hwc)).transpose(0, 3, 1, 2))


@functools.lru_cache(maxsize=4)
def _evaluation(size: int) -> tuple[np.ndarray, tuple[str, ...]]:
    from ..data import IMAGES, load_image

    images, names = [], []
    for name in IMAGES:
        full = load_image(name, size=None)
        images.append(load_image(name, size=size))
        names.append(name)
        h, w = full.shape[:2]
        side = int(0.6 * min(h, w))
        for corner, (top, left) in (("tl", (0, 0)), ("tr", (0, w - side)), ("bl", (h - side, 0)),
                                    ("br", (h - side, w - side))):
            images.append(_resize(full[top : top + side, left : left + side], size))
            names.append(f"{name}/{corner}")
    return _nchw(images), tuple(names)


def evaluation_images(size: int = 224) -> tuple[np.ndarray, list[str]]:
    """The evaluation batch: every bundled image and four corner crops of it.

    Args:
        size: side of each input in pixels (>= 32).

    Returns:
        ``(x, names)``: ``x`` float32 ``(65, 3, size, size)`` NCHW, ImageNet-normalised
        (:func:`vision_attention.data.imagenet_normalise`); ``names[i]`` is ``"<image>"`` for a
        whole image (centre square) or ``"<image>/<corner>"`` (``tl``, ``tr``, ``bl``, ``br``:
        the corner's square of 60 % of the shorter side).

    Raises:
        ValueError: ``size`` not an int >= 32.
    """
    size = _check_size("evaluation_images", size)
    x, names = _evaluation(size)  # built once per size (about 5 s at 224), then copied
    return x.copy(), list(names)


def calibration_images(count: int = 32, size: int = 224, seed: int = 0) -> np.ndarray:
    """Seeded random square crops of the colour photographs, for INT8 calibration.

    Crop ``i`` comes from photograph ``i mod 10`` of :data:`vision_attention.iqa.PHOTOGRAPHS`,
    its side drawn uniformly in [0.3, 1.0] of the shorter side, its position uniformly.

    Args:
        count: number of crops (positive int).
        size: side of each crop after resizing (>= 32).
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        float32 ``(count, 3, size, size)`` NCHW, ImageNet-normalised.

    Raises:
        ValueError: ``count`` not a positive int, ``size`` not an int >= 32, ``seed`` not an int.
    """
    from ..data import load_image
    from ..iqa import PHOTOGRAPHS

    count = check_positive_int("calibration_images", "count", count)
    size = _check_size("calibration_images", size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"calibration_images: argument 'seed' expected an int, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    photos = [load_image(name, size=None) for name in PHOTOGRAPHS]
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(rng.uniform(0.3, 1.0) * min(h, w))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crops.append(_resize(photo[top : top + side, left : left + side], size))
    return _nchw(crops)


def to_nhwc(x_nchw: np.ndarray) -> np.ndarray:
    """``(B, C, H, W)`` -> ``(B, H, W, C)``, contiguous (for TensorFlow and LiteRT).

    Raises:
        ValueError: ``x_nchw`` not 4-D.
    """
    x = np.asarray(x_nchw)
    if x.ndim != 4:
        raise ValueError(f"to_nhwc: argument 'x_nchw' expected a 4-D (B, C, H, W) array, got shape {x.shape}")
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
