"""Framework-neutral checks and constants of the attention gates and the U-Nets.

The three frameworks' ``attention_gate.py`` and ``unet.py`` call these on plain shape tuples
before any computation, so they raise the same ``ValueError`` messages (tested once per
framework in ``tests/test_unet.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._checks import check_feature_map, check_positive_int, static_dims

__all__ = ["GATES", "gate_inter_channels", "check_gate_inputs", "check_decoder_inputs",
           "check_unet_input", "unet_widths"]

GATES = ("seed", "grid")
"""Gate kinds of :class:`AttentionUNet`: ``"seed"`` is :class:`AttentionGate` (the study notes'
gate, computed at the skip's resolution on the upsampled decoder features), ``"grid"`` is
:class:`GridAttentionGate` (the official gate, computed on the coarse grid of the decoder's
input)."""


def _spatial(shape: Sequence, layout: str) -> tuple:
    dims = static_dims(shape)
    return (dims[2], dims[3]) if layout == "NCHW" else (dims[1], dims[2])


def _check_same_batch(owner: str, name: str, x_shape: Sequence, other_shape: Sequence) -> None:
    """ValueError naming ``name`` unless its batch size is ``x``'s (unknown sizes pass)."""
    bx, bo = static_dims(x_shape[:1])[0], static_dims(other_shape[:1])[0]
    if bx is not None and bo is not None and bx != bo:
        raise ValueError(
            f"{owner}: argument '{name}' expected the batch size of x ({bx}), got {bo} in "
            f"shape {tuple(other_shape)}"
        )


def _twice(size):
    return "?" if size is None else 2 * size


def gate_inter_channels(skip_channels: int) -> int:
    """``F_int`` of the decoder's gate: half the skip's channels, at least one (the study
    notes' ``skip_channels // 2``; the official gate's ``in_channels // 2`` default)."""
    return max(int(skip_channels) // 2, 1)


def check_gate_inputs(
    owner: str,
    x_shape: Sequence,
    g_shape: Sequence,
    x_channels: int,
    g_channels: int,
    layout: str,
    *,
    channel_names: tuple[str, str] = ("F_l", "F_g"),
    min_size: int = 1,
    reason: str = "",
) -> None:
    """Check the skip features ``x`` and the gating signal ``g`` of an attention gate.

    Both must be 4-D in ``layout`` with ``x_channels`` and ``g_channels`` channels (the
    constructor arguments ``channel_names`` set them; the messages name them), the same batch
    size, and ``g`` no larger than ``x`` in either spatial dimension (the gating signal comes
    from a coarser level). ``x`` must be at least ``min_size`` in height and width
    (``reason`` says why). Unknown (``None``) dimensions pass.

    Raises:
        ValueError: naming ``x`` or ``g``, what was expected and what was given.
    """
    check_feature_map(owner, x_shape, x_channels, layout, name="x", channels_name=channel_names[0])
    check_feature_map(owner, g_shape, g_channels, layout, name="g", channels_name=channel_names[1])
    _check_same_batch(owner, "g", x_shape, g_shape)
    (hx, wx), (hg, wg) = _spatial(x_shape, layout), _spatial(g_shape, layout)
    if (hx is not None and hx < min_size) or (wx is not None and wx < min_size):
        raise ValueError(
            f"{owner}: argument 'x' expected height and width >= {min_size} ({reason}), "
            f"got H={hx}, W={wx} in shape {tuple(x_shape)}"
        )
    if any(a is not None and b is not None and b > a for a, b in ((hx, hg), (wx, wg))):
        raise ValueError(
            f"{owner}: argument 'g' expected a spatial size no larger than x's ({hx} x {wx}); the "
            f"gating signal comes from a coarser level; got {hg} x {wg} in shape {tuple(g_shape)}"
        )


def unet_widths(owner: str, base_channels, depth) -> tuple[int, ...]:
    """Channels of the encoder levels ``0..depth``: ``base_channels * 2**level``.

    Raises:
        ValueError: ``base_channels`` or ``depth`` not a positive integer.
    """
    base = check_positive_int(owner, "base_channels", base_channels)
    depth = check_positive_int(owner, "depth", depth)
    return tuple(base * 2**level for level in range(depth + 1))


def check_unet_input(owner: str, shape: Sequence, in_channels: int, depth: int, layout: str) -> None:
    """Check a U-Net's input: 4-D, ``in_channels`` channels, height and width multiples of
    ``2**depth`` (each of the ``depth`` max-poolings halves them exactly, so every skip meets
    a decoder map of its own size).

    Raises:
        ValueError: wrong rank or channels; a spatial size that is not a positive multiple of
            ``2**depth``.
    """
    check_feature_map(owner, shape, in_channels, layout)
    factor = 2**depth
    h, w = _spatial(shape, layout)
    bad = [f"{axis}={size}" for axis, size in (("H", h), ("W", w))
           if size is not None and (size < factor or size % factor != 0)]
    if bad:
        raise ValueError(
            f"{owner}: argument 'x' expected height and width that are positive multiples of "
            f"2**depth = {factor} (depth={depth} halvings), got {', '.join(bad)} in shape "
            f"{static_dims(shape)}"
        )


def check_decoder_inputs(owner: str, x_shape: Sequence, skip_shape: Sequence, in_channels: int,
                         skip_channels: int, layout: str) -> None:
    """Check a decoder block's inputs: ``x`` ``in_channels`` channels, ``skip`` ``skip_channels``
    channels, the same batch, and ``skip`` exactly twice ``x``'s height and width (the 2x2
    transposed convolution's output size).

    Raises:
        ValueError: naming ``x`` or ``skip``, what was expected and what was given.
    """
    check_feature_map(owner, x_shape, in_channels, layout, name="x")
    check_feature_map(owner, skip_shape, skip_channels, layout, name="skip", channels_name="skip_channels")
    _check_same_batch(owner, "skip", x_shape, skip_shape)
    (hx, wx), (hs, ws) = _spatial(x_shape, layout), _spatial(skip_shape, layout)
    if any(a is not None and b is not None and b != 2 * a for a, b in ((hx, hs), (wx, ws))):
        raise ValueError(
            f"{owner}: argument 'skip' expected twice x's height and width ({_twice(hx)} x {_twice(wx)}, "
            f"the transposed convolution's output), got {hs} x {ws} in shape {tuple(skip_shape)}"
        )
