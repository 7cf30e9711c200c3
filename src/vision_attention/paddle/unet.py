"""U-Net and Attention U-Net (PaddlePaddle, NCHW), built from the study notes' decoder block."""

from __future__ import annotations

from .._checks import check_bool, check_choice, check_positive_int
from .._frameworks import import_paddle
from .._unet_common import GATES, check_decoder_inputs, check_unet_input, gate_inter_channels, unet_widths
from .attention_gate import AttentionGate, GridAttentionGate, _batch_norm

paddle = import_paddle()
nn = paddle.nn


def double_conv(in_channels: int, out_channels: int):
    """Two ``3x3 conv (bias, padding 1) -> BatchNorm -> ReLU`` layers, the U-Net's basic block
    (Ronneberger et al. 2015 use unpadded convolutions and no BatchNorm; padding keeps every
    level's size a power-of-two fraction of the input, as in the study notes' decoder).

    A ``paddle.nn.Sequential`` whose children are named ``0`` ... ``5`` as PyTorch's; the
    BatchNorms use ``epsilon=1e-5`` and Paddle ``momentum=0.9`` (= PyTorch's default 0.1) and
    keep their statistics as ``_mean`` / ``_variance``."""
    return nn.Sequential(
        nn.Conv2D(in_channels, out_channels, 3, padding=1), _batch_norm(out_channels), nn.ReLU(),
        nn.Conv2D(out_channels, out_channels, 3, padding=1), _batch_norm(out_channels), nn.ReLU(),
    )


class DecoderBlock(nn.Layer):
    """One U-Net decoder step: ``conv(cat(up(x), skip))``.

    ``up`` is a 2x2 transposed convolution with stride 2 (``in_channels -> out_channels``),
    ``conv`` is :func:`double_conv` on the concatenation (``out_channels + skip_channels``
    channels, upsampled map first). Ronneberger et al., "U-Net", MICCAI 2015, Fig. 1.

    Paddle layout note: ``up`` is ``paddle.nn.Conv2DTranspose``, whose weight is
    ``(in_channels, out_channels, 2, 2)`` as PyTorch's ``ConvTranspose2d``.

    Input:
        x: decoder features ``(B, in_channels, h, w)`` float32 (NCHW).
        skip: encoder features ``(B, skip_channels, 2h, 2w)``.

    Returns:
        ``(B, out_channels, 2h, 2w)``; with ``return_attention=True`` also a dict of gate maps
        (empty here; see :class:`DecoderBlockWithAttention`).

    Raises:
        ValueError: a channel count not a positive integer; inputs not 4-D, with other channel
            counts, or ``skip`` not twice ``x``'s size.
    """

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.out_channels = check_positive_int(owner, "out_channels", out_channels)
        self.skip_channels = check_positive_int(owner, "skip_channels", skip_channels)
        self.up = nn.Conv2DTranspose(self.in_channels, self.out_channels, kernel_size=2, stride=2)
        self.conv = double_conv(self.out_channels + self.skip_channels, self.out_channels)

    def gate(self, skip, x, up):
        """The skip features passed to the concatenation, and the gate's maps (none here)."""
        return skip, {}

    def forward(self, x, skip, return_attention: bool = False):
        check_decoder_inputs(type(self).__name__, x.shape, skip.shape, self.in_channels,
                             self.skip_channels, "NCHW")
        check_bool(type(self).__name__, "return_attention", return_attention)
        up = self.up(x)
        gated, maps = self.gate(skip, x, up)
        y = self.conv(paddle.concat([up, gated], axis=1))
        return (y, maps) if return_attention else y


class DecoderBlockWithAttention(DecoderBlock):
    """The study notes' decoder block: the skip passes an attention gate before the concatenation.

    ``y = conv(cat(up(x), gate(skip, g)))``. With ``gate="seed"`` (the notes' block)
    the gate is :class:`AttentionGate` ``(F_g=out_channels, F_l=skip_channels,
    F_int=skip_channels // 2)`` and its gating signal is ``up(x)``, already of the skip's size
    (the notes' ``self.att_gate(skip, x)`` after ``x = self.up(x)``). With ``gate="grid"`` it
    is the official :class:`GridAttentionGate` ``(skip_channels, in_channels,
    skip_channels // 2, sub_sample_factor=2)`` gated by ``x`` itself, the coarser decoder map,
    whose grid is the gate's (Oktay et al. 2018, Fig. 1: the gating signal comes from the
    coarser scale). Attribute ``att_gate`` holds the gate, as in the notes.

    Input, returns, raises: as :class:`DecoderBlock`; with ``return_attention=True`` the dict
    is ``{"attention": alpha}``, ``alpha`` ``(B, 1, 2h, 2w)`` in (0, 1). Also ``ValueError``
    for ``gate`` not in ``("seed", "grid")``.
    """

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int, gate: str = "seed"):
        super().__init__(in_channels, out_channels, skip_channels)
        self.gate_kind = check_choice(type(self).__name__, "gate", gate, GATES)
        inter = gate_inter_channels(self.skip_channels)
        if self.gate_kind == "seed":
            self.att_gate = AttentionGate(self.out_channels, self.skip_channels, inter)
        else:
            self.att_gate = GridAttentionGate(self.skip_channels, self.in_channels, inter, 2)

    def gate(self, skip, x, up):
        g = up if self.gate_kind == "seed" else x
        return self.att_gate(skip, g, return_attention=True)


class _UNetBase(nn.Layer):
    """Shared body of :class:`UNet` (``gate=None``) and :class:`AttentionUNet`."""

    def __init__(self, in_channels, num_classes, base_channels, depth, gate):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.num_classes = check_positive_int(owner, "num_classes", num_classes)
        self.widths = unet_widths(owner, base_channels, depth)
        self.base_channels, self.depth = self.widths[0], len(self.widths) - 1
        self.gate = None if gate is None else check_choice(owner, "gate", gate, GATES)
        self.encoders = nn.LayerList(
            [double_conv(self.in_channels, self.widths[0])]
            + [double_conv(self.widths[i - 1], self.widths[i]) for i in range(1, self.depth + 1)]
        )
        self.pool = nn.MaxPool2D(2)
        self.decoders = nn.LayerList(
            [DecoderBlock(self.widths[i + 1], self.widths[i], self.widths[i]) if self.gate is None
             else DecoderBlockWithAttention(self.widths[i + 1], self.widths[i], self.widths[i], self.gate)
             for i in reversed(range(self.depth))]
        )
        self.head = nn.Conv2D(self.widths[0], self.num_classes, 1)

    def forward(self, x, return_attention: bool = False):
        check_unet_input(type(self).__name__, x.shape, self.in_channels, self.depth, "NCHW")
        check_bool(type(self).__name__, "return_attention", return_attention)
        skips = []
        h = x
        for level, encoder in enumerate(self.encoders):
            h = encoder(h if level == 0 else self.pool(h))
            skips.append(h)
        skips.pop()  # the bottleneck is not a skip
        maps = {}
        for level, decoder in zip(reversed(range(self.depth)), self.decoders):
            h, gate_maps = decoder(h, skips[level], return_attention=True)
            if gate_maps:
                maps[f"gate{level}"] = gate_maps["attention"]
        logits = self.head(h)
        return (logits, maps) if return_attention else logits


class UNet(_UNetBase):
    """U-Net (Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image
    Segmentation", MICCAI 2015), padded and with BatchNorm.

    Encoder: level 0 is :func:`double_conv` ``(in_channels -> base_channels)``; each of the
    ``depth`` further levels max-pools 2x2 and doubles the channels
    (``base_channels * 2**level``; the deepest is the bottleneck). Decoder: one
    :class:`DecoderBlock` per level, coarsest first, each halving the channels and meeting the
    encoder map of its size; a 1x1 convolution (``head``) gives the logits.

    Paddle layout note: ``encoders`` and ``decoders`` are ``paddle.nn.LayerList``s, named by
    index as PyTorch's ``ModuleList``; BatchNorm statistics are ``_mean`` / ``_variance``
    (``epsilon=1e-5``, Paddle ``momentum=0.9`` = PyTorch's 0.1), so the canonical weights
    (:func:`vision_attention.parity.export_weights`) have the PyTorch model's names.

    Args:
        in_channels: image channels.
        num_classes: output channels (logits; one channel for binary segmentation with a
            sigmoid / BCE-with-logits loss).
        base_channels: channels of level 0.
        depth: number of 2x2 poolings (and of decoder blocks).

    Input:
        x: ``(B, in_channels, H, W)`` float32 (NCHW), ``H`` and ``W`` multiples of ``2**depth``.

    Returns:
        logits ``(B, num_classes, H, W)``; with ``return_attention=True`` also the dict of the
        decoder gates' maps, coarsest first (empty for the plain U-Net; see
        :class:`AttentionUNet`).

    Raises:
        ValueError: an argument not a positive integer; ``x`` not 4-D, with other than
            ``in_channels`` channels, or a size that ``depth`` halvings do not divide.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 1, base_channels: int = 16, depth: int = 4):
        super().__init__(in_channels, num_classes, base_channels, depth, None)


class AttentionUNet(_UNetBase):
    """Attention U-Net (Oktay et al., "Attention U-Net: Learning Where to Look for the
    Pancreas", MIDL 2018): the :class:`UNet` with a gate on every skip connection, its decoder
    blocks :class:`DecoderBlockWithAttention` (``gate="seed"``: the study notes' gate;
    ``"grid"``: the official one). Same widths, encoder and head as :class:`UNet`, so the
    parameter names differ only by the gates' (``decoders.<i>.att_gate.*``).

    Paddle layout note: as :class:`UNet` (BatchNorm statistics ``_mean`` / ``_variance``).

    Args:
        in_channels, num_classes, base_channels, depth: as :class:`UNet`.
        gate: ``"seed"`` or ``"grid"``.

    Returns:
        logits ``(B, num_classes, H, W)``; with ``return_attention=True`` also
        ``{"gate{level}": alpha}`` for ``level = depth-1, ..., 0`` (coarsest first), ``alpha``
        ``(B, 1, H / 2**level, W / 2**level)`` in (0, 1).

    Raises:
        ValueError: as :class:`UNet`; ``gate`` not one of ``("seed", "grid")``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 1, base_channels: int = 16,
                 depth: int = 4, gate: str = "seed"):
        check_choice(type(self).__name__, "gate", gate, GATES)  # None would build a plain U-Net
        super().__init__(in_channels, num_classes, base_channels, depth, gate)
