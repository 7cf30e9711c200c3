"""Framework-neutral parts of the three ``backbones`` modules: argument and shape checks of
:func:`attention_supervision_loss` and :func:`class_activation_map`, the resize matrices of the
supervision loss, and reading a PyTorch checkpoint for a trunk.

Everything here works on Python ints, shape tuples and numpy arrays; only
:func:`read_torch_state_dict` imports PyTorch (to read a PyTorch file), through
:func:`vision_attention._frameworks.import_torch`, which is safe after TensorFlow.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from ._checks import check_choice, static_dims

__all__ = [
    "RESIZE_MODES",
    "REDUCTIONS",
    "resize_matrix",
    "check_supervision_shapes",
    "check_unit_interval",
    "check_float_dtype",
    "check_cam_arguments",
    "read_torch_state_dict",
    "trunk_state",
]

RESIZE_MODES = ("area", "bilinear", "nearest")
"""How :func:`attention_supervision_loss` resizes masks to the attention map's size."""

REDUCTIONS = ("mean", "sum", "none")
"""Reductions of :func:`attention_supervision_loss` (as ``torch.nn.functional.binary_cross_entropy``)."""


def resize_matrix(out_size: int, in_size: int, mode: str) -> np.ndarray:
    """The ``(out_size, in_size)`` float32 matrix ``R`` that resizes one axis: ``y = R @ x``.

    A 2-D resize is ``R_h @ mask @ R_w.T``; the same matrices in the three frameworks make
    their resized masks agree exactly (``tf.image.resize`` and ``F.interpolate`` differ in
    their area rules).

    * ``"area"``: output cell ``i`` covers the input interval ``[i s, (i + 1) s)`` with
      ``s = in_size / out_size``, input pixel ``k`` the interval ``[k, k + 1)``;
      ``R[i, k] = |[i s, (i+1) s) ∩ [k, k+1)| / s``: the fraction of the cell that pixel ``k``
      covers, so a resized binary mask is the fraction of each cell the object covers (rows
      sum to 1). When ``s`` is an integer this is ``s x s`` average pooling, which is what
      PyTorch's ``F.interpolate(mode="area")`` (``adaptive_avg_pool2d``) computes; otherwise
      PyTorch's bins are whole pixels and overlap, ours weight the pixels a cell cuts by the
      part it covers.
    * ``"bilinear"``: PyTorch's ``F.interpolate(mode="bilinear", align_corners=False)`` without
      antialiasing: source coordinate ``(i + 0.5) s - 0.5`` clamped at 0, linear between its two
      neighbours.
    * ``"nearest"``: PyTorch's ``F.interpolate(mode="nearest")`` (its default, which the
      Med-Framework guide uses): source pixel ``min(floor(i s), in_size - 1)``.

    Raises:
        ValueError: sizes not positive integers, ``mode`` not one of :data:`RESIZE_MODES`.
    """
    for arg, value in (("out_size", out_size), ("in_size", in_size)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"resize_matrix: argument '{arg}' expected a positive integer, got {value!r}")
    check_choice("resize_matrix", "mode", mode, RESIZE_MODES)
    out_size, in_size = int(out_size), int(in_size)
    scale = in_size / out_size
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        if mode == "area":
            lo, hi = i * scale, (i + 1) * scale
            for k in range(int(math.floor(lo)), min(int(math.ceil(hi)), in_size)):
                matrix[i, k] = (min(hi, k + 1) - max(lo, k)) / scale
        elif mode == "bilinear":
            src = max((i + 0.5) * scale - 0.5, 0.0)
            i0 = min(int(math.floor(src)), in_size - 1)
            i1 = min(i0 + 1, in_size - 1)
            lam = src - i0
            matrix[i, i0] += 1.0 - lam
            matrix[i, i1] += lam
        else:
            matrix[i, min(int(math.floor(i * scale)), in_size - 1)] = 1.0
    return matrix.astype(np.float32)


def _dims(shape) -> tuple:
    return static_dims(shape)


def check_supervision_shapes(weights_shape, masks_shape, layout: str) -> tuple[int, int, int, int]:
    """Check the shapes of :func:`attention_supervision_loss`; return ``(h, w, H, W)``.

    ``attention_weights`` must be ``(B, 1, h, w)`` (NCHW; ``(B, h, w, 1)`` NHWC) and ``masks``
    ``(B, 1, H, W)`` (NHWC ``(B, H, W, 1)``) with the same ``B``; sizes must be known.

    Raises:
        ValueError: wrong rank, a channel count other than 1, different batch sizes, unknown sizes.
    """
    owner = "attention_supervision_loss"
    expected = "(B, 1, H, W) (NCHW)" if layout == "NCHW" else "(B, H, W, 1) (NHWC)"
    shapes = {}
    for arg, shape in (("attention_weights", weights_shape), ("masks", masks_shape)):
        dims = _dims(shape)
        channel = None if len(dims) != 4 else (dims[1] if layout == "NCHW" else dims[3])
        if len(dims) != 4 or channel != 1:
            raise ValueError(f"{owner}: argument '{arg}' expected a 4-D tensor {expected} with one "
                             f"channel, got shape {dims}")
        spatial = dims[2:] if layout == "NCHW" else dims[1:3]
        if any(d is None for d in spatial):
            raise ValueError(f"{owner}: argument '{arg}' expected known height and width, got shape {dims}")
        shapes[arg] = dims
    b_att, b_mask = shapes["attention_weights"][0], shapes["masks"][0]
    if b_att is not None and b_mask is not None and b_att != b_mask:
        raise ValueError(f"{owner}: argument 'masks' expected batch size {b_att} (as attention_weights), "
                         f"got shape {shapes['masks']}")
    sl = slice(2, 4) if layout == "NCHW" else slice(1, 3)
    h, w = shapes["attention_weights"][sl]
    H, W = shapes["masks"][sl]
    return h, w, H, W


def check_unit_interval(owner: str, name: str, lo: float, hi: float) -> None:
    """Raise ``ValueError`` unless ``0 <= lo <= hi <= 1`` (the tensor's min and max; NaN fails)."""
    if not (0.0 <= lo <= 1.0 and 0.0 <= hi <= 1.0):
        raise ValueError(f"{owner}: argument '{name}' expected values in [0, 1] "
                         f"(probabilities / mask coverage), got values in [{lo!r}, {hi!r}]")


def check_float_dtype(owner: str, name: str, dtype, is_float: bool) -> None:
    """Raise ``ValueError`` for a non-floating tensor (a uint8 mask of 0/255 would be silently wrong)."""
    if not is_float:
        raise ValueError(f"{owner}: argument '{name}' expected a floating-point tensor with values in "
                         f"[0, 1], got dtype {dtype} (convert a boolean or integer mask with "
                         f"mask.astype(float) / 255 as needed)")


def check_cam_arguments(fm_shape, weight_shape, class_idx, layout: str) -> tuple[np.ndarray, int]:
    """Check :func:`class_activation_map`'s arguments; return ``(class indices (B,) int64, B)``.

    Raises:
        ValueError: ``feature_maps`` not 4-D; ``classifier_weight`` not 2-D ``(num_classes, C)``
            with ``C`` the maps' channel count; ``class_idx`` neither an integer nor a 1-D
            sequence of ``B`` integers, or out of ``[0, num_classes)``.
    """
    owner = "class_activation_map"
    dims = _dims(fm_shape)
    expected = "(B, C, H, W) (NCHW)" if layout == "NCHW" else "(B, H, W, C) (NHWC)"
    if len(dims) != 4:
        raise ValueError(f"{owner}: argument 'feature_maps' expected a 4-D tensor {expected}, got shape {dims}")
    batch = dims[0]
    channels = dims[1] if layout == "NCHW" else dims[3]
    wdims = _dims(weight_shape)
    if len(wdims) != 2 or (channels is not None and wdims[1] != channels):
        raise ValueError(f"{owner}: argument 'classifier_weight' expected shape (num_classes, {channels}) "
                         f"(PyTorch's Linear layout (out, in), C = the maps' channels), got shape {wdims}")
    num_classes = wdims[0]
    bad = ValueError(f"{owner}: argument 'class_idx' expected an int or a 1-D sequence of {batch} "
                     f"ints (one class per map), got {class_idx!r}")
    if isinstance(class_idx, (bool, np.bool_)):
        raise bad
    if isinstance(class_idx, numbers.Integral):
        idx = np.full((batch,), int(class_idx), dtype=np.int64)
    else:
        if hasattr(class_idx, "detach"):  # a torch tensor (possibly on a GPU)
            class_idx = class_idx.detach().cpu().numpy()
        elif hasattr(class_idx, "numpy") and not isinstance(class_idx, np.ndarray):  # paddle, TF
            class_idx = class_idx.numpy()
        try:
            arr = np.asarray(class_idx)
        except Exception:
            raise bad from None
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) or arr.shape[0] != batch:
            raise bad
        idx = arr.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise ValueError(f"{owner}: argument 'class_idx' expected class indices in [0, {num_classes}), "
                         f"got {class_idx!r}")
    return idx, batch


def read_torch_state_dict(path, owner: str = "create_vision_backbone") -> dict:
    """Read a PyTorch ``state_dict`` file with ``torch.load(weights_only=True)``.

    Returns:
        ``{name: torch.Tensor}`` on the CPU, as stored.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a readable PyTorch file (or one with pickled objects ``weights_only``
            refuses), or not a dict of tensors.
    """
    from ._frameworks import import_torch

    torch = import_torch()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{owner}: argument 'pretrained': no checkpoint file at {path!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, or pickled objects weights_only refuses
        raise ValueError(f"{owner}: argument 'pretrained': {path!r} is not a readable PyTorch "
                         f"state_dict file: {err}") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{owner}: argument 'pretrained': {path!r} expected a state_dict (dict of "
                         f"tensors), got {type(state).__name__}")
    return state


def _preview(keys, limit: int = 5) -> str:
    keys = sorted(keys)
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def trunk_state(state: dict, head_prefix: str, expected_keys, source: str,
                owner: str = "create_vision_backbone") -> dict:
    """The trunk's part of a checkpoint: ``state`` without the head's keys, checked by name.

    ``state`` is either the whole torchvision model's ``state_dict`` (its head, the keys
    starting with ``head_prefix``, is dropped) or the trunk's own ``state_dict`` (saved with
    ``torch.save(backbone.trunk.state_dict(), path)``). ``num_batches_tracked`` keys are
    ignored on both sides.

    Raises:
        ValueError: the remaining keys are not exactly ``expected_keys`` (the message names
            the source and the first missing and unexpected keys).
    """
    kept = {k: v for k, v in state.items() if not k.startswith(head_prefix) and not k.endswith("num_batches_tracked")}
    expected = {k for k in expected_keys if not k.endswith("num_batches_tracked")}
    missing, unexpected = expected - kept.keys(), kept.keys() - expected
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"lacks {len(missing)} keys of the trunk: {_preview(missing)}")
        if unexpected:
            parts.append(f"has {len(unexpected)} keys the trunk lacks: {_preview(unexpected)}")
        raise ValueError(f"{owner}: argument 'pretrained': {source} does not fit the trunk (expected the "
                         f"torchvision model's state_dict, whose '{head_prefix}*' head is dropped, or the "
                         f"trunk's own state_dict): it " + "; it ".join(parts))
    return kept


def load_trunk_weights(trunk, pretrained, head_prefix: str) -> None:
    """Load ``pretrained`` (``True``: the bundled MobileNetV2; a path: a PyTorch ``state_dict``)
    into a Paddle or TensorFlow ``trunk`` through the canonical weights (the head dropped).

    Raises:
        ValueError: the weights do not fit the trunk (the message names the source).
        FileNotFoundError: the path holds no file (from :func:`read_torch_state_dict`).
    """
    from .parity import export_weights, load_weights

    if pretrained is True:
        from .weights import bundled_canonical_weights

        state, source = bundled_canonical_weights(), "the bundled mobilenet_v2 ImageNet weights"
    else:
        source = repr(os.fspath(pretrained))
        state = {k: np.ascontiguousarray(v.detach().cpu().float().numpy())
                 for k, v in read_torch_state_dict(pretrained).items()}
    kept = trunk_state(state, head_prefix, export_weights(trunk).keys(), source)
    try:
        load_weights(trunk, kept)
    except ValueError as err:
        raise ValueError(f"create_vision_backbone: argument 'pretrained': {source} does not fit "
                         f"the trunk: {err}") from err
