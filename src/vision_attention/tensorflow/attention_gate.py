"""Attention gates of Attention U-Net (TensorFlow / Keras 3, NHWC): the study notes' gate and the official one."""

from __future__ import annotations

from .._checks import check_bool, check_optional_positive_int, check_positive_int
from .._frameworks import import_tensorflow
from .._unet_common import check_gate_inputs

tf = import_tensorflow()
keras = tf.keras


def _resize(t, like):
    """Bilinear resampling of ``t`` (NHWC) to the height and width of ``like`` (NHWC), with
    half-pixel centres and no antialiasing: ``tf.image.resize``'s convention, which is PyTorch's
    ``align_corners=False`` and Paddle's ``align_mode=0`` (also when shrinking: two taps, no
    low-pass filter). A no-op when the static sizes already match."""
    size, target = tuple(t.shape[1:3]), tuple(like.shape[1:3])
    if None not in size and None not in target and size == target:
        return t
    return tf.image.resize(t, tf.shape(like)[1:3], method="bilinear", antialias=False)


def _conv(filters: int, in_channels: int, kernel_size: int = 1, strides: int = 1, use_bias: bool = True,
          name: str = "0") -> keras.layers.Conv2D:
    """A built ``Conv2D`` (``padding="valid"``, kernel HWIO) for ``in_channels`` input channels."""
    conv = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="valid", use_bias=use_bias,
                               name=name)
    conv.build((None, None, None, in_channels))
    return conv


def _batch_norm(channels: int, name: str = "1") -> keras.layers.BatchNormalization:
    """A built BatchNorm with PyTorch's defaults: ``epsilon=1e-5``, Keras ``momentum=0.9``
    (PyTorch's ``momentum=0.1``)."""
    bn = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)
    bn.build((None, None, None, channels))
    return bn


def _sequence(layers, x, training):
    """Apply the layers of a list (PyTorch's ``nn.Sequential``) in order."""
    for layer in layers:
        x = layer(x, training=training)
    return x


class AttentionGate(keras.layers.Layer):
    """Additive attention gate as the Attention U-Net study notes write it.

    ``alpha = sigmoid(BN(psi(relu(BN(W_g g)^ + BN(W_x x)))))`` and ``y = x * alpha``: 1x1
    convolutions (with bias) and BatchNorm project the gating signal ``g`` and the skip
    features ``x`` to ``F_int`` channels, the projected ``g`` is resampled to ``x``'s size
    (``^``), a ReLU of the sum feeds a 1x1 convolution to one channel, BatchNorm and a sigmoid
    give the map ``alpha`` in (0, 1), broadcast over ``x``'s channels.

    Oktay et al., "Attention U-Net: Learning Where to Look for the Pancreas", MIDL 2018,
    Eq. (1)-(2) (additive attention, ``q = psi^T relu(W_x^T x + W_g^T g + b_g) + b_psi``,
    ``alpha = sigmoid(q)``). The BatchNorm layers are not in the paper's equations; the notes'
    gate has them, as does the widely used ``LeeJunHyun/Image_Segmentation`` ``Attention_block``
    (``network.py``), which this class matches parameter for parameter. Deliberate choices, as
    in :class:`vision_attention.torch.AttentionGate`:

    * **resampling**: the notes upsample the *projected* ``g`` bilinearly to ``x``'s size when
      they differ; we do the same with half-pixel centres (``tf.image.resize``, no
      antialiasing), PyTorch's ``align_corners=False``. Inside
      :class:`DecoderBlockWithAttention` ``g`` is the decoder's upsampled map, already of
      ``x``'s size, so nothing is resampled there.
    * the gate is computed at ``x``'s full resolution (the official
      :class:`GridAttentionGate` computes it on a grid twice as coarse).

    Keras layout: ``W_g`` and ``W_x`` are lists ``[Conv2D, BatchNormalization]`` and ``psi``
    the list ``[Conv2D, BatchNormalization, Activation("sigmoid")]`` (PyTorch's
    ``nn.Sequential``; the list index is the canonical name component, ``W_g.0.weight``,
    ``psi.1.running_var``); kernels HWIO; BatchNorm ``epsilon=1e-5``, Keras ``momentum=0.9``
    (PyTorch's 0.1). Every weight is created in the constructor, with Keras' default
    initialisers (glorot uniform kernels, zero biases; not PyTorch's): load canonical weights
    (:func:`vision_attention.parity.load_weights`) for the same start.

    Args:
        F_g: channels of the gating signal ``g``.
        F_l: channels of the skip features ``x``.
        F_int: channels of the intermediate (bottleneck) projection.
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: skip features ``(B, H, W, F_l)`` float32 (NHWC).
        g: gating signal ``(B, h, w, F_g)`` with ``h <= H``, ``w <= W``.

    Returns:
        ``y = x * alpha`` of ``x``'s shape; with ``return_attention=True`` also
        ``{"attention": alpha}``, ``alpha`` of shape ``(B, H, W, 1)`` in (0, 1).

    Raises:
        ValueError: a channel count not a positive integer; ``x`` or ``g`` not 4-D, with other
            channel counts than ``F_l`` / ``F_g``, different batch sizes, or ``g`` larger than
            ``x``.
    """

    def __init__(self, F_g: int, F_l: int, F_int: int, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.F_g = check_positive_int(owner, "F_g", F_g)
        self.F_l = check_positive_int(owner, "F_l", F_l)
        self.F_int = check_positive_int(owner, "F_int", F_int)
        self.W_g = [_conv(self.F_int, self.F_g, name="0"), _batch_norm(self.F_int, name="1")]
        self.W_x = [_conv(self.F_int, self.F_l, name="0"), _batch_norm(self.F_int, name="1")]
        self.psi = [_conv(1, self.F_int, name="0"), _batch_norm(1, name="1"),
                    keras.layers.Activation("sigmoid", name="2")]
        self.built = True

    def __call__(self, x, g, return_attention=False, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        check_gate_inputs(type(self).__name__, tuple(x.shape), tuple(g.shape), self.F_l, self.F_g, "NHWC")
        check_bool(type(self).__name__, "return_attention", return_attention)
        return super().__call__(x, g, return_attention=return_attention, **kwargs)

    def call(self, x, g, return_attention=False, training=None):
        x1 = _sequence(self.W_x, x, training)
        g1 = _resize(_sequence(self.W_g, g, training), x1)
        alpha = _sequence(self.psi, tf.nn.relu(g1 + x1), training)
        y = x * alpha
        return (y, {"attention": alpha}) if return_attention else y


class GridAttentionGate(keras.layers.Layer):
    """The official Attention U-Net gate (grid attention, additive, mode ``concatenation``).

    ``q = psi(relu(theta(x) + phi(g)^))``, ``alpha = up(sigmoid(q))``, ``y = W(alpha * x)``:

    * ``theta``: a bias-free convolution with kernel = stride = ``sub_sample_factor``
      (``padding="valid"``, PyTorch's padding 0) maps ``x`` to ``inter_channels`` on a grid
      ``sub_sample_factor`` times coarser;
    * ``phi``: a 1x1 convolution with bias on ``g``, resampled bilinearly to that grid when its
      size differs (``^``: up, or down without anti-aliasing for a ``g`` between the grid's
      size and ``x``'s; in :class:`AttentionUNet` ``g`` is the decoder's input, already on it);
    * ``psi``: a 1x1 convolution with bias to one channel; the sigmoid map is upsampled
      bilinearly (half-pixel centres) to ``x``'s size and multiplies ``x``;
    * ``W``: the output transform, a 1x1 convolution with bias and BatchNorm.

    Oktay et al., MIDL 2018, Eq. (1)-(2) and Fig. 2; official code
    ``ozan-oktay/Attention-Gated-Networks``, ``models/layers/grid_attention_layer.py``
    (``_GridAttentionBlockND._concatenation``). Differences, deliberate: the official code
    calls ``F.upsample`` (PyTorch 0.3 era, whose bilinear mode aligned corners); we use the
    half-pixel convention the three frameworks share (``tf.image.resize``, no antialiasing,
    also where ``phi(g)`` is shrunk to the grid). The official ``GridAttentionBlock2D``'s
    default ``sub_sample_factor=(2, 2, 2)`` is a 3-D kernel and does not run on 2-D maps; here
    the factor is one integer for both axes (default 2). A factor that does not divide ``H`` or
    ``W`` leaves theta's grid ``floor(H / factor)`` high, as in the official code, and the map
    is stretched over all of ``x``. No BatchNorm inside the gate itself,
    unlike :class:`AttentionGate`.

    Keras layout: ``theta``, ``phi`` and ``psi`` are ``Conv2D`` (kernels HWIO); ``W`` is the
    list ``[Conv2D, BatchNormalization]`` (canonical ``W.0.weight``, ``W.1.running_mean``),
    BatchNorm ``epsilon=1e-5``, Keras ``momentum=0.9`` (PyTorch's 0.1). Every weight is created
    in the constructor, with Keras' default initialisers (not PyTorch's).

    Args:
        in_channels: channels of the skip features ``x`` (and of the output).
        gating_channels: channels of the gating signal ``g``.
        inter_channels: channels of ``theta``/``phi``; ``None`` means ``in_channels // 2``
            (at least 1), the official default.
        sub_sample_factor: kernel size and stride of ``theta``, a positive integer.
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: ``(B, H, W, in_channels)`` float32 (NHWC), ``H, W >= sub_sample_factor``.
        g: ``(B, h, w, gating_channels)`` with ``h <= H``, ``w <= W``.

    Returns:
        ``W(alpha * x)`` of ``x``'s shape; with ``return_attention=True`` also
        ``{"attention": alpha}``, the upsampled map ``(B, H, W, 1)`` in (0, 1).

    Raises:
        ValueError: bad channel counts or factor; ``x`` or ``g`` not 4-D, with other channel
            counts, different batch sizes, ``g`` larger than ``x`` or ``x`` smaller than the
            factor.
    """

    def __init__(self, in_channels: int, gating_channels: int, inter_channels: int | None = None,
                 sub_sample_factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.gating_channels = check_positive_int(owner, "gating_channels", gating_channels)
        inter = check_optional_positive_int(owner, "inter_channels", inter_channels)
        self.inter_channels = max(self.in_channels // 2, 1) if inter is None else inter
        self.sub_sample_factor = check_positive_int(owner, "sub_sample_factor", sub_sample_factor)
        s = self.sub_sample_factor
        self.W = [_conv(self.in_channels, self.in_channels, name="0"), _batch_norm(self.in_channels, name="1")]
        self.theta = _conv(self.inter_channels, self.in_channels, s, strides=s, use_bias=False, name="theta")
        self.phi = _conv(self.inter_channels, self.gating_channels, name="phi")
        self.psi = _conv(1, self.inter_channels, name="psi")
        self.built = True

    def __call__(self, x, g, return_attention=False, **kwargs):
        # Checked here rather than in call() (see AttentionGate.__call__).
        check_gate_inputs(type(self).__name__, tuple(x.shape), tuple(g.shape), self.in_channels,
                          self.gating_channels, "NHWC", channel_names=("in_channels", "gating_channels"),
                          min_size=self.sub_sample_factor,
                          reason=f"theta's kernel and stride sub_sample_factor={self.sub_sample_factor}")
        check_bool(type(self).__name__, "return_attention", return_attention)
        return super().__call__(x, g, return_attention=return_attention, **kwargs)

    def call(self, x, g, return_attention=False, training=None):
        theta_x = self.theta(x)
        phi_g = _resize(self.phi(g), theta_x)
        q = self.psi(tf.nn.relu(theta_x + phi_g))
        alpha = _resize(tf.sigmoid(q), x)
        y = _sequence(self.W, alpha * x, training)
        return (y, {"attention": alpha}) if return_attention else y
