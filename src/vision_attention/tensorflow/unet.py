"""U-Net and Attention U-Net (TensorFlow / Keras 3, NHWC), built from the study notes' decoder block.

Structure and attribute names follow :mod:`vision_attention.torch.unet`, so the canonical
weight names are PyTorch's ``state_dict`` names (``encoders.1.3.running_var``,
``decoders.0.att_gate.W_g.0.weight``, ``head.bias``). The layer tree, as the parity layer walks
it (see :mod:`vision_attention.tensorflow.models.resnet`):

* ``encoders`` and ``decoders`` (PyTorch's ``nn.ModuleList``) are plain Python lists: the list
  index is the name component;
* :func:`double_conv` returns a :class:`DoubleConv`, whose children are attributes named
  ``"0"`` ... ``"5"`` (conv, BN, ReLU, conv, BN, ReLU), as the ``nn.Sequential`` PyTorch's
  ``double_conv`` returns;
* the gates keep their own sequences as lists (see :mod:`vision_attention.tensorflow.attention_gate`);
* ``pool`` (``MaxPooling2D``) and the ReLUs have no weights and no canonical names.

Leaves are ``Conv2D`` (kernel HWIO), ``Conv2DTranspose`` (kernel ``(kH, kW, O, I)``, canonical
``(I, O, kH, kW)``) and ``BatchNormalization`` (``epsilon=1e-5``, Keras ``momentum=0.9``, PyTorch's
0.1). Every weight is created in the constructor, with Keras' default initialisers (glorot
uniform kernels, zero biases; not PyTorch's): load canonical weights
(:func:`vision_attention.parity.load_weights`) for the same start.
"""

from __future__ import annotations

from .._checks import check_bool, check_choice, check_positive_int
from .._frameworks import import_tensorflow
from .._unet_common import GATES, check_decoder_inputs, check_unet_input, gate_inter_channels, unet_widths
from .attention_gate import AttentionGate, GridAttentionGate, _batch_norm

tf = import_tensorflow()
keras = tf.keras


def _conv3x3(in_channels: int, out_channels: int, name: str) -> keras.layers.Conv2D:
    """A built 3x3 ``Conv2D`` with bias, ``padding="same"``: at stride 1 it pads 1 on every
    side, PyTorch's ``padding=1``."""
    conv = keras.layers.Conv2D(out_channels, 3, padding="same", name=name)
    conv.build((None, None, None, in_channels))
    return conv


class DoubleConv(keras.layers.Layer):
    """Two ``3x3 conv (bias, padding "same") -> BatchNorm -> ReLU`` layers, the U-Net's basic
    block, with children ``"0"`` ... ``"5"`` as PyTorch's ``nn.Sequential`` from
    :func:`vision_attention.torch.unet.double_conv` (build it with :func:`double_conv`).

    Input ``(B, H, W, in_channels)`` float32 (NHWC); output ``(B, H, W, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.out_channels = in_channels, out_channels
        setattr(self, "0", _conv3x3(in_channels, out_channels, "0"))
        setattr(self, "1", _batch_norm(out_channels, "1"))
        setattr(self, "2", keras.layers.ReLU(name="2"))
        setattr(self, "3", _conv3x3(out_channels, out_channels, "3"))
        setattr(self, "4", _batch_norm(out_channels, "4"))
        setattr(self, "5", keras.layers.ReLU(name="5"))
        self.built = True

    def call(self, x, training=None):
        for index in range(6):
            x = getattr(self, str(index))(x, training=training)
        return x


def double_conv(in_channels: int, out_channels: int, name: str = "conv") -> DoubleConv:
    """Two ``3x3 conv (bias, padding 1) -> BatchNorm -> ReLU`` layers, the U-Net's basic block
    (Ronneberger et al. 2015 use unpadded convolutions and no BatchNorm; padding keeps every
    level's size a power-of-two fraction of the input, as in the study notes' decoder).
    A :class:`DoubleConv` named ``name``; NHWC in and out, height and width kept."""
    return DoubleConv(in_channels, out_channels, name=name)


class DecoderBlock(keras.layers.Layer):
    """One U-Net decoder step: ``conv(cat(up(x), skip))``.

    ``up`` is a 2x2 transposed convolution with stride 2 (``Conv2DTranspose``,
    ``padding="valid"``: output exactly twice the input, as PyTorch's ``ConvTranspose2d(k=2,
    s=2)``; ``in_channels -> out_channels``), ``conv`` is :func:`double_conv` on the
    concatenation along the channel (last) axis (``out_channels + skip_channels`` channels,
    upsampled map first). Ronneberger et al., "U-Net", MICCAI 2015, Fig. 1.

    Args:
        in_channels: channels of the decoder input ``x``.
        out_channels: channels of ``up(x)`` and of the output.
        skip_channels: channels of the encoder features ``skip``.
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: decoder features ``(B, h, w, in_channels)`` float32 (NHWC).
        skip: encoder features ``(B, 2h, 2w, skip_channels)``.

    Returns:
        ``(B, 2h, 2w, out_channels)``; with ``return_attention=True`` also a dict of gate maps
        (empty here; see :class:`DecoderBlockWithAttention`).

    Raises:
        ValueError: a channel count not a positive integer; inputs not 4-D, with other channel
            counts, or ``skip`` not twice ``x``'s size; ``return_attention`` not a bool.
    """

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.out_channels = check_positive_int(owner, "out_channels", out_channels)
        self.skip_channels = check_positive_int(owner, "skip_channels", skip_channels)
        self.up = keras.layers.Conv2DTranspose(self.out_channels, 2, strides=2, padding="valid", name="up")
        self.up.build((None, None, None, self.in_channels))
        self.conv = double_conv(self.out_channels + self.skip_channels, self.out_channels, name="conv")
        self.built = True

    def __call__(self, x, skip, return_attention=False, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        owner = type(self).__name__
        check_decoder_inputs(owner, tuple(x.shape), tuple(skip.shape), self.in_channels,
                             self.skip_channels, "NHWC")
        check_bool(owner, "return_attention", return_attention)
        return super().__call__(x, skip, return_attention=return_attention, **kwargs)

    def gate(self, skip, x, up, training=None):
        """The skip features passed to the concatenation, and the gate's maps (none here)."""
        return skip, {}

    def call(self, x, skip, return_attention=False, training=None):
        up = self.up(x)
        gated, maps = self.gate(skip, x, up, training=training)
        y = self.conv(tf.concat([up, gated], axis=-1), training=training)
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
    coarser scale). Attribute ``att_gate`` holds the gate, as in the notes; ``gate_kind`` the
    kind.

    Input, returns, raises: as :class:`DecoderBlock` (NHWC); with ``return_attention=True`` the
    dict is ``{"attention": alpha}``, ``alpha`` ``(B, 2h, 2w, 1)`` in (0, 1). Also
    ``ValueError`` for ``gate`` not in ``("seed", "grid")``.
    """

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int, gate: str = "seed", **kwargs):
        super().__init__(in_channels, out_channels, skip_channels, **kwargs)
        self.gate_kind = check_choice(type(self).__name__, "gate", gate, GATES)
        inter = gate_inter_channels(self.skip_channels)
        if self.gate_kind == "seed":
            self.att_gate = AttentionGate(self.out_channels, self.skip_channels, inter, name="att_gate")
        else:
            self.att_gate = GridAttentionGate(self.skip_channels, self.in_channels, inter, 2, name="att_gate")

    def gate(self, skip, x, up, training=None):
        g = up if self.gate_kind == "seed" else x
        return self.att_gate(skip, g, return_attention=True, training=training)


class _UNetBase(keras.Model):
    """Shared body of :class:`UNet` (``gate=None``) and :class:`AttentionUNet`."""

    def __init__(self, in_channels, num_classes, base_channels, depth, gate, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.num_classes = check_positive_int(owner, "num_classes", num_classes)
        self.widths = unet_widths(owner, base_channels, depth)
        self.base_channels, self.depth = self.widths[0], len(self.widths) - 1
        self.gate = None if gate is None else check_choice(owner, "gate", gate, GATES)
        w = self.widths
        self.encoders = [double_conv(self.in_channels, w[0], name="0")] + [
            double_conv(w[i - 1], w[i], name=str(i)) for i in range(1, self.depth + 1)
        ]
        self.pool = keras.layers.MaxPooling2D(2, padding="valid", name="pool")
        self.decoders = [
            DecoderBlock(w[i + 1], w[i], w[i], name=str(k)) if self.gate is None
            else DecoderBlockWithAttention(w[i + 1], w[i], w[i], self.gate, name=str(k))
            for k, i in enumerate(reversed(range(self.depth)))
        ]
        self.head = keras.layers.Conv2D(self.num_classes, 1, name="head")
        self.head.build((None, None, None, w[0]))
        self.built = True

    def __call__(self, x, return_attention=False, **kwargs):
        # Checked here rather than in call() (see DecoderBlock.__call__).
        owner = type(self).__name__
        check_unet_input(owner, tuple(x.shape), self.in_channels, self.depth, "NHWC")
        check_bool(owner, "return_attention", return_attention)
        return super().__call__(x, return_attention=return_attention, **kwargs)

    def call(self, x, return_attention=False, training=None):
        skips = []
        h = x
        for level, encoder in enumerate(self.encoders):
            h = encoder(h if level == 0 else self.pool(h), training=training)
            skips.append(h)
        skips.pop()  # the bottleneck is not a skip
        maps = {}
        for level, decoder in zip(reversed(range(self.depth)), self.decoders):
            h, gate_maps = decoder(h, skips[level], return_attention=True, training=training)
            if gate_maps:
                maps[f"gate{level}"] = gate_maps["attention"]
        logits = self.head(h)
        return (logits, maps) if return_attention else logits


class UNet(_UNetBase):
    """U-Net (Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image
    Segmentation", MICCAI 2015), padded and with BatchNorm.

    Encoder: level 0 is :func:`double_conv` ``(in_channels -> base_channels)``; each of the
    ``depth`` further levels max-pools 2x2 (``pool``, ``MaxPooling2D``, ``padding="valid"``)
    and doubles the channels (``base_channels * 2**level``; the deepest is the bottleneck).
    Decoder: one :class:`DecoderBlock` per level, coarsest first, each halving the channels
    and meeting the encoder map of its size; a 1x1 convolution (``head``) gives the logits.
    Call with ``training=True`` to use batch statistics in BatchNorm (and update the moving
    ones); the default is inference.

    Args:
        in_channels: image channels.
        num_classes: output channels (logits; one channel for binary segmentation with a
            sigmoid / BCE-with-logits loss).
        base_channels: channels of level 0.
        depth: number of 2x2 poolings (and of decoder blocks).
        **kwargs: passed to ``keras.Model`` (for example ``name``).

    Input:
        x: ``(B, H, W, in_channels)`` float32 (NHWC), ``H`` and ``W`` multiples of ``2**depth``.

    Returns:
        logits ``(B, H, W, num_classes)``; with ``return_attention=True`` also the dict of the
        decoder gates' maps, coarsest first (empty for the plain U-Net; see
        :class:`AttentionUNet`).

    Raises:
        ValueError: an argument not a positive integer; ``x`` not 4-D, with other than
            ``in_channels`` channels, or a size that ``depth`` halvings do not divide;
            ``return_attention`` not a bool.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 1, base_channels: int = 16, depth: int = 4,
                 **kwargs):
        super().__init__(in_channels, num_classes, base_channels, depth, None, **kwargs)


class AttentionUNet(_UNetBase):
    """Attention U-Net (Oktay et al., "Attention U-Net: Learning Where to Look for the
    Pancreas", MIDL 2018): the :class:`UNet` with a gate on every skip connection, its decoder
    blocks :class:`DecoderBlockWithAttention` (``gate="seed"``: the study notes' gate;
    ``"grid"``: the official one). Same widths, encoder and head as :class:`UNet`, so the
    parameter names differ only by the gates' (``decoders.<i>.att_gate.*``).

    Args:
        in_channels, num_classes, base_channels, depth: as :class:`UNet`.
        gate: ``"seed"`` or ``"grid"``.
        **kwargs: passed to ``keras.Model`` (for example ``name``).

    Input:
        x: ``(B, H, W, in_channels)`` float32 (NHWC), ``H`` and ``W`` multiples of ``2**depth``.

    Returns:
        logits ``(B, H, W, num_classes)``; with ``return_attention=True`` also
        ``{"gate{level}": alpha}`` for ``level = depth-1, ..., 0`` (coarsest first), ``alpha``
        ``(B, H / 2**level, W / 2**level, 1)`` in (0, 1).

    Raises:
        ValueError: as :class:`UNet`; ``gate`` not one of ``("seed", "grid")``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 1, base_channels: int = 16,
                 depth: int = 4, gate: str = "seed", **kwargs):
        check_choice(type(self).__name__, "gate", gate, GATES)  # None would build a plain U-Net
        super().__init__(in_channels, num_classes, base_channels, depth, gate, **kwargs)
