"""Framework-neutral checks and constants of the multi-scale fusion modules (IQA chapter).

The three frameworks' ``fusion.py`` call these on plain Python values and shape tuples before
any computation, so they raise the same ``ValueError`` messages (tested once per framework).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from ._checks import check_feature_map, check_positive_int

__all__ = ["FUSIONS", "SWIN_T_CHANNELS", "check_stage_channels", "check_dropout", "check_stage_inputs",
           "unpack_stages", "fused_channels"]

FUSIONS = ("attention", "concat", "single")
"""Fusion kinds of :class:`MultiScaleIQA`, the three variants of the IQA fusion note's ablation:
``"attention"`` is :class:`MultiScaleAttention` (stages scaled by softmax weights, then
concatenated), ``"concat"`` is :class:`MultiScaleConcat` (the plain concatenation baseline),
``"single"`` is :class:`SingleScale` (the last stage alone)."""

SWIN_T_CHANNELS = (96, 192, 384, 768)
"""Channels of Swin-T's four stages (torchvision ``swin_t().features[1, 3, 5, 7]``), at 56, 28,
14 and 7 pixels for a 224 x 224 input: the IQA fusion note's defaults."""


def check_stage_channels(owner: str, in_channels) -> tuple[int, ...]:
    """``in_channels`` as a tuple of positive ints, one per stage (at least one).

    Raises:
        ValueError: not a non-empty sequence of positive integers.
    """
    if isinstance(in_channels, (str, bytes)) or not isinstance(in_channels, Sequence) or not in_channels:
        raise ValueError(
            f"{owner}: argument 'in_channels' expected a non-empty sequence of positive integers "
            f"(channels of each stage), got {in_channels!r}"
        )
    for i, c in enumerate(in_channels):
        check_positive_int(owner, f"in_channels[{i}]", c)
    return tuple(int(c) for c in in_channels)


def check_dropout(owner: str, dropout) -> float:
    """``dropout`` as a float in ``[0, 1)``, else ``ValueError``."""
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"{owner}: argument 'dropout' expected a number in [0, 1), got {dropout!r}")
    return float(dropout)


def fused_channels(kind: str, in_channels: Sequence[int]) -> int:
    """Channels of a fusion module's output: the sum over stages, or the last stage's alone
    for ``"single"``."""
    return int(in_channels[-1]) if kind == "single" else int(sum(in_channels))


def unpack_stages(features: tuple) -> tuple:
    """The stage maps given either positionally (``m(f0, f1, f2, f3)``, the parity layer's
    convention for several inputs) or as one list or tuple (``m([f0, f1, f2, f3])``, the IQA
    fusion note's)."""
    if len(features) == 1 and isinstance(features[0], (list, tuple)):
        return tuple(features[0])
    return tuple(features)


def _spatial(shape: Sequence, layout: str) -> tuple:
    dims = tuple(None if d is None else int(d) for d in shape)
    return (dims[2], dims[3]) if layout == "NCHW" else (dims[1], dims[2])


def check_stage_inputs(owner: str, shapes: Sequence[Sequence], in_channels: Sequence[int], pool_size: int,
                       layout: str) -> None:
    """Check the stage maps of a fusion module.

    There must be one map per entry of ``in_channels``, each 4-D in ``layout`` with the
    channels ``in_channels[i]`` declares, all of one batch size, and with a height and width
    that ``pool_size`` divides (the maps are average-pooled to ``pool_size x pool_size`` with
    a ``(H / pool_size) x (W / pool_size)`` window, which is what adaptive average pooling
    computes then, identically in the three frameworks). Unknown (``None``) dimensions pass.

    Raises:
        ValueError: naming the stage (``features[i]``), what was expected and what was given.
    """
    if len(shapes) != len(in_channels):
        raise ValueError(
            f"{owner}: argument 'features' expected {len(in_channels)} stage maps (one per entry of "
            f"in_channels={tuple(in_channels)}), got {len(shapes)}"
        )
    batch = None
    for i, (shape, channels) in enumerate(zip(shapes, in_channels)):
        name = f"features[{i}]"
        check_feature_map(owner, shape, channels, layout, name=name, channels_name=f"in_channels[{i}]")
        b = None if shape[0] is None else int(shape[0])
        if b is not None and batch is not None and b != batch[1]:
            raise ValueError(
                f"{owner}: argument '{name}' expected the batch size of features[{batch[0]}] "
                f"({batch[1]}), got {b} in shape {tuple(shape)}"
            )
        if b is not None and batch is None:
            batch = (i, b)
        h, w = _spatial(shape, layout)
        if any(s is not None and s % pool_size for s in (h, w)):
            raise ValueError(
                f"{owner}: argument '{name}' expected a height and width divisible by "
                f"pool_size={pool_size} (average pooling to {pool_size} x {pool_size}), got H={h}, "
                f"W={w} in shape {tuple(shape)}"
            )
