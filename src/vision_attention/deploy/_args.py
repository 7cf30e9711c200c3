"""Argument checks shared by the exporters (ONNX, LiteRT, Paddle Inference)."""

from __future__ import annotations

import os
import pathlib

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
