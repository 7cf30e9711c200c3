"""Argument and input checks shared by the three framework implementations.

Every module validates its constructor arguments and its input *before any computation*
and raises :class:`ValueError` naming the argument, what was expected and what was given.
Keeping the checks here (framework-neutral, on plain Python ints and shape tuples) means
the three frameworks raise the same messages, and the tests check them once per framework.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

__all__ = [
    "check_positive_int",
    "check_reduction_ratio",
    "check_odd_kernel_size",
    "check_positive_number",
    "check_real_number",
    "check_feature_map",
    "check_choice",
    "check_bool",
    "check_optional_positive_int",
    "check_min_spatial_size",
    "check_num_heads",
    "check_window_divides",
    "static_dims",
]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def static_dims(shape: Sequence) -> tuple:
    """Return ``shape`` as a tuple of Python ints, with ``None`` for every dimension not known
    while the model is being traced or exported.

    Unknown dimensions are ``None`` (Keras symbolic shapes), negative ints (``-1`` in Paddle's
    static graph, ``paddle.jit.save``) or symbolic integers (``torch.SymInt`` under
    ``torch.export`` / ``torch.onnx.export``'s dynamo exporter). Calling ``int()`` on a
    ``SymInt`` would specialise it: the exported graph would silently keep the example's batch
    size. So only concrete integers are converted, and the checks validate what is concrete.
    """
    return tuple(
        int(d) if _is_int(d) and d >= 0 else None
        for d in shape
    )


def check_positive_int(owner: str, name: str, value) -> int:
    """Return ``value`` as ``int`` if it is a positive integer, else raise ``ValueError``."""
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{owner}: argument '{name}' expected a positive integer, got {value!r}")
    return int(value)


def check_positive_number(owner: str, name: str, value) -> float:
    """Return ``value`` as ``float`` if it is a positive real number, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{owner}: argument '{name}' expected a positive number, got {value!r}")
    return float(value)


def check_real_number(owner: str, name: str, value) -> float:
    """Return ``value`` as ``float`` if it is a finite real number, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value or abs(value) == float("inf"):
        raise ValueError(f"{owner}: argument '{name}' expected a finite real number, got {value!r}")
    return float(value)


def check_reduction_ratio(owner: str, in_channels, reduction_ratio) -> tuple[int, int]:
    """Check ``in_channels`` and ``reduction_ratio``; return ``(in_channels, reduction_ratio)``.

    ``reduction_ratio`` must be a positive integer no larger than ``in_channels`` so that
    the bottleneck has at least one unit (``in_channels // reduction_ratio >= 1``).
    """
    in_channels = check_positive_int(owner, "in_channels", in_channels)
    if not _is_int(reduction_ratio) or reduction_ratio <= 0 or reduction_ratio > in_channels:
        raise ValueError(
            f"{owner}: argument 'reduction_ratio' expected a positive integer no larger than "
            f"in_channels={in_channels}, got {reduction_ratio!r}"
        )
    return in_channels, int(reduction_ratio)


def check_odd_kernel_size(owner: str, kernel_size, name: str = "kernel_size") -> int:
    """Return ``kernel_size`` if it is a positive odd integer (so 'same' padding is symmetric)."""
    if not _is_int(kernel_size) or kernel_size <= 0 or kernel_size % 2 == 0:
        raise ValueError(
            f"{owner}: argument '{name}' expected a positive odd integer, got {kernel_size!r}"
        )
    return int(kernel_size)


def check_feature_map(
    owner: str,
    shape: Sequence,
    in_channels: int | None,
    layout: str,
    name: str = "x",
    channels_name: str = "in_channels",
) -> None:
    """Check that ``shape`` is a 4-D feature-map shape in ``layout`` with ``in_channels`` channels.

    Args:
        owner: class name used in the message.
        shape: the input's shape as a sequence of ints (``None`` for unknown dims).
        in_channels: expected channel count, or ``None`` to accept any.
        layout: ``"NCHW"`` (PyTorch, Paddle) or ``"NHWC"`` (TensorFlow).
        name: the argument name used in the message.
        channels_name: the constructor argument that set ``in_channels``, for the message
            (``"F_g"`` for an attention gate's gating signal).

    Raises:
        ValueError: wrong rank, or channel count different from ``in_channels``.
    """
    dims = static_dims(shape)
    layout_shape = "(B, C, H, W)" if layout == "NCHW" else "(B, H, W, C)"
    if len(dims) != 4:
        raise ValueError(
            f"{owner}: argument '{name}' expected a 4-D tensor {layout_shape} ({layout}), "
            f"got a {len(dims)}-D tensor of shape {dims}"
        )
    channels = dims[1] if layout == "NCHW" else dims[3]
    if in_channels is not None and channels is not None and channels != in_channels:
        raise ValueError(
            f"{owner}: argument '{name}' expected {in_channels} channels ({channels_name}) in "
            f"layout {layout_shape}, got {channels} channels in shape {dims}"
        )


def check_choice(owner: str, name: str, value, choices: tuple):
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` naming ``name``.

    Booleans and floats are refused even when equal to a choice (``50.0 == 50``, ``True == 1``).
    """
    if isinstance(value, (bool, float)) or value not in choices:
        raise ValueError(f"{owner}: argument '{name}' expected one of {choices}, got {value!r}")
    return value


def check_bool(owner: str, name: str, value) -> bool:
    """Return ``value`` if it is a ``bool`` (``True``/``False``; ``0``, ``1`` and ``numpy.bool_``
    are refused, so a misplaced positional argument is caught), else raise ``ValueError``."""
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: argument '{name}' expected a bool (True or False), got {value!r}")
    return value


def check_optional_positive_int(owner: str, name: str, value) -> int | None:
    """Return ``None`` or ``value`` as ``int`` if it is a positive integer, else raise ``ValueError``."""
    if value is None:
        return None
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{owner}: argument '{name}' expected a positive integer or None, got {value!r}")
    return int(value)


def check_min_spatial_size(
    owner: str,
    shape: Sequence,
    layout: str,
    minimum: int,
    reason: str,
    name: str = "x",
) -> None:
    """Check that both spatial sizes of a 4-D ``shape`` in ``layout`` are at least ``minimum``.

    Call after :func:`check_feature_map` (the rank is assumed). Unknown (``None``) sizes pass.

    Args:
        owner: class name used in the message.
        shape: the input's shape as a sequence of ints (``None`` for unknown dims).
        layout: ``"NCHW"`` or ``"NHWC"``.
        minimum: the smallest allowed height and width.
        reason: why, for the message (e.g. ``"sub_sample=True max-pools keys and values 2x2"``).
        name: the argument name used in the message.

    Raises:
        ValueError: height or width smaller than ``minimum``.
    """
    dims = static_dims(shape)
    h, w = (dims[2], dims[3]) if layout == "NCHW" else (dims[1], dims[2])
    if (h is not None and h < minimum) or (w is not None and w < minimum):
        layout_shape = "(B, C, H, W)" if layout == "NCHW" else "(B, H, W, C)"
        raise ValueError(
            f"{owner}: argument '{name}' expected height and width >= {minimum} ({reason}) in "
            f"layout {layout_shape}, got H={h}, W={w} in shape {dims}"
        )


def check_num_heads(owner: str, in_channels, num_heads) -> tuple[int, int]:
    """Check ``in_channels`` and ``num_heads``; return ``(in_channels, num_heads)``.

    ``num_heads`` must be a positive integer that divides ``in_channels`` (each head gets
    ``in_channels // num_heads`` channels).
    """
    in_channels = check_positive_int(owner, "in_channels", in_channels)
    if not _is_int(num_heads) or num_heads <= 0 or in_channels % num_heads != 0:
        raise ValueError(
            f"{owner}: argument 'num_heads' expected a positive integer dividing "
            f"in_channels={in_channels}, got {num_heads!r}"
        )
    return in_channels, int(num_heads)


def check_window_divides(owner: str, shape: Sequence, window_size: int | None, layout: str, name: str = "x") -> None:
    """Check that the height and width of the 4-D ``shape`` are multiples of ``window_size``.

    Nothing is checked when ``window_size`` is ``None`` or a dimension is unknown (``None``).
    Call after :func:`check_feature_map` (the shape must be 4-D).

    Raises:
        ValueError: ``H % window_size != 0`` or ``W % window_size != 0``; the message names
            both dimensions.
    """
    if window_size is None:
        return
    dims = static_dims(shape)
    layout_shape = "(B, C, H, W)" if layout == "NCHW" else "(B, H, W, C)"
    h, w = (dims[2], dims[3]) if layout == "NCHW" else (dims[1], dims[2])
    if any(d is not None and d % window_size != 0 for d in (h, w)):
        raise ValueError(
            f"{owner}: argument '{name}' expected height H and width W divisible by "
            f"window_size={window_size} in layout {layout_shape}, got H={h}, W={w} in shape {dims}"
        )
