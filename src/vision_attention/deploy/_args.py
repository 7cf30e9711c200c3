"""Argument checks shared by the exporters (ONNX, LiteRT, Paddle Inference)."""

from __future__ import annotations

import os
import pathlib

import numpy as np

from .._checks import check_positive_int


def check_file(owner: str, path, must_exist: bool, suffix: str, name: str = "path") -> pathlib.Path:
    """``path`` as a :class:`pathlib.Path` ending in ``suffix``: an existing file if
    ``must_exist``, else a name in an existing directory; ``ValueError`` naming ``name`` otherwise."""
    kind = f"{'an' if suffix[1] in 'aeio' else 'a'} {suffix} file"
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{owner}: argument '{name}' expected a str or os.PathLike to {kind}, got {path!r}")
    path = pathlib.Path(path)
    if path.suffix != suffix:
        raise ValueError(f"{owner}: argument '{name}' expected a file name ending in '{suffix}', got '{path}'")
    if must_exist and not path.is_file():
        raise ValueError(f"{owner}: argument '{name}' expected an existing {suffix} file, got '{path}' (not found)")
    if not must_exist and not path.parent.is_dir():
        raise ValueError(f"{owner}: argument '{name}' expected a file in an existing directory, got '{path}' "
                         f"(no directory '{path.parent}')")
    return path


def check_batch_sizes(owner: str, batch_sizes) -> tuple[int, ...]:
    """``batch_sizes`` as a non-empty tuple of positive ints, else ``ValueError``."""
    ok = isinstance(batch_sizes, (tuple, list)) and len(batch_sizes) > 0
    if ok:
        try:
            batch_sizes = tuple(check_positive_int(owner, "batch_sizes", b) for b in batch_sizes)
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(f"{owner}: argument 'batch_sizes' expected a non-empty tuple of positive ints, "
                         f"got {batch_sizes!r}")
    return batch_sizes


def check_image_input_shape(owner: str, input_shape, layout: str) -> tuple[int, int, int]:
    """An exporter's ``input_shape``: ``(batch, 3, H, W)`` (``layout="NCHW"``) or ``(batch, H, W, 3)``
    (``"NHWC"``), batch ``None`` or a positive int, ``H, W >= 32``; returns the shape without the batch."""
    def is_int(d) -> bool:
        return isinstance(d, int) and not isinstance(d, bool)

    ok = isinstance(input_shape, (tuple, list)) and len(input_shape) == 4
    if ok:
        batch, *rest = input_shape
        c, h, w = rest if layout == "NCHW" else (rest[2], rest[0], rest[1])
        ok = (batch is None or (is_int(batch) and batch > 0)) and all(is_int(d) for d in (c, h, w))
        ok = ok and c == 3 and min(h, w) >= 32
    if not ok:
        expected = "(batch, 3, H, W) NCHW" if layout == "NCHW" else "(batch, H, W, 3) NHWC"
        raise ValueError(f"{owner}: argument 'input_shape' expected {expected} with batch None or "
                         f"a positive int and H, W ints >= 32, got {input_shape!r}")
    return tuple(int(d) for d in input_shape[1:])


def check_nchw_images(owner: str, name: str, x) -> np.ndarray:
    """``x`` as a contiguous float32 ``(N, C, H, W)`` array with ``N >= 1`` and finite values, else
    ``ValueError`` naming ``name``."""
    a = np.asarray(x)
    if a.ndim != 4 or a.shape[0] == 0 or not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{owner}: argument '{name}' expected a float NCHW array (N, C, H, W) with N >= 1, "
                         f"got shape {a.shape} and dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{owner}: argument '{name}' expected finite values, got NaN or infinity")
    return np.ascontiguousarray(a, dtype=np.float32)
