"""Convolutional Block Attention Module (TensorFlow / Keras 3, NHWC): channel, then spatial attention."""

from __future__ import annotations

from .._checks import check_feature_map, check_odd_kernel_size, check_reduction_ratio
from .._frameworks import import_tensorflow

tf = import_tensorflow()
keras = tf.keras


class ChannelAttention(keras.layers.Layer):
    """CBAM's channel attention: a shared MLP over average- and max-pooled descriptors.

    ``Mc = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` with ``MLP = fc2 . relu . fc1``;
    Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018, Eq. (2). The two
    descriptors go through the *same* MLP and the results are *summed*; they are not
    concatenated (the attention study notes' prose says "concatenate", its code and the paper sum).
    Official code ``Jongchan/attention-module`` (``MODELS/cbam.py``, ``ChannelGate``): two
    ``nn.Linear`` layers with biases, so ``fc1`` and ``fc2`` (``keras.layers.Dense``, kernel
    ``(in, out)``) have biases here.

    Args:
        in_channels: number of input channels ``C``.
        reduction_ratio: bottleneck ratio ``r``; the hidden layer has ``C // r`` units.
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: ``(B, H, W, C)`` float tensor (NHWC).

    Returns:
        ``y = x * Mc`` like ``x``; with ``return_attention=True`` also ``{"channel": Mc}``,
        ``Mc`` of shape ``(B, 1, 1, C)`` in (0, 1).

    Raises:
        ValueError: bad ``in_channels`` or ``reduction_ratio``; input not 4-D or with a
            channel count (last axis) other than ``in_channels``.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.reduction_ratio = check_reduction_ratio(
            type(self).__name__, in_channels, reduction_ratio
        )
        hidden = self.in_channels // self.reduction_ratio
        self.fc1 = keras.layers.Dense(hidden, name="fc1")
        self.fc2 = keras.layers.Dense(self.in_channels, name="fc2")
        self.fc1.build((None, self.in_channels))
        self.fc2.build((None, hidden))
        self.built = True

    def _mlp(self, v):
        return self.fc2(tf.nn.relu(self.fc1(v)))

    def __call__(self, x, *args, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        check_feature_map(type(self).__name__, tuple(x.shape), self.in_channels, "NHWC")
        return super().__call__(x, *args, **kwargs)

    def call(self, x, return_attention=False):
        avg = tf.reduce_mean(x, axis=(1, 2))  # (B, C)
        mx = tf.reduce_max(x, axis=(1, 2))  # (B, C)
        mc = tf.sigmoid(self._mlp(avg) + self._mlp(mx))[:, None, None, :]
        y = x * mc
        return (y, {"channel": mc}) if return_attention else y


class SpatialAttention(keras.layers.Layer):
    """CBAM's spatial attention: a k x k convolution over channel-pooled maps.

    ``Ms = sigmoid(BN(conv_kxk([max_c(x); mean_c(x)])))``; Woo et al., ECCV 2018, Eq. (3).
    Three details the paper leaves open follow the official code (``Jongchan/attention-module``,
    ``MODELS/cbam.py``: ``ChannelPool`` and ``SpatialGate``):

    * the pooled maps are stacked **max first, then mean** (the paper writes ``[AvgPool; MaxPool]``);
    * the convolution has **no bias** and is followed by **BatchNorm** (``epsilon=1e-5``,
      Keras ``momentum=0.99``, i.e. PyTorch's ``momentum=0.01``), which the paper's equation
      omits; the attention study notes' code has neither the BatchNorm nor the max-first order;
    * ``padding="same"`` keeps ``H x W``; for odd ``k`` at stride 1 it pads ``(k - 1) // 2``
      on every side, as the official code (so ``k`` must be odd).

    ``conv`` is ``keras.layers.Conv2D`` with kernel ``(k, k, 2, 1)`` (HWIO), ``bn`` is
    ``keras.layers.BatchNormalization`` over the last axis.

    Args:
        kernel_size: odd convolution size ``k`` (the paper uses 7).
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: ``(B, H, W, C)`` float tensor (NHWC), any ``C``.

    Returns:
        ``y = x * Ms`` like ``x``; with ``return_attention=True`` also ``{"spatial": Ms}``,
        ``Ms`` of shape ``(B, H, W, 1)`` in (0, 1).

    Raises:
        ValueError: ``kernel_size`` even or non-positive; input not 4-D.
    """

    def __init__(self, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = check_odd_kernel_size(type(self).__name__, kernel_size)
        self.conv = keras.layers.Conv2D(1, self.kernel_size, padding="same", use_bias=False, name="conv")
        self.bn = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.99, name="bn")
        self.conv.build((None, None, None, 2))
        self.bn.build((None, None, None, 1))
        self.built = True

    def __call__(self, x, *args, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        check_feature_map(type(self).__name__, tuple(x.shape), None, "NHWC")
        return super().__call__(x, *args, **kwargs)

    def call(self, x, return_attention=False, training=None):
        pooled = tf.concat(
            [tf.reduce_max(x, axis=-1, keepdims=True), tf.reduce_mean(x, axis=-1, keepdims=True)], axis=-1
        )
        ms = tf.sigmoid(self.bn(self.conv(pooled), training=training))  # (B, H, W, 1)
        y = x * ms
        return (y, {"spatial": ms}) if return_attention else y


class CBAM(keras.layers.Layer):
    """CBAM: channel attention followed by spatial attention (serial arrangement).

    ``x' = x * Mc(x)``, ``y = x' * Ms(x')``; Woo et al., ECCV 2018, Eq. (1), the
    channel-first order the paper found best (its Table 4). Sub-layers:
    :class:`ChannelAttention` as ``channel_attention`` and :class:`SpatialAttention` as
    ``spatial_attention``.

    Args:
        in_channels: number of input channels ``C``.
        reduction_ratio: channel-MLP bottleneck ratio ``r``.
        kernel_size: odd spatial convolution size ``k``.
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: ``(B, H, W, C)`` float tensor (NHWC).

    Returns:
        ``y`` like ``x``; with ``return_attention=True`` also
        ``{"channel": (B, 1, 1, C), "spatial": (B, H, W, 1)}``.

    Raises:
        ValueError: as :class:`ChannelAttention` and :class:`SpatialAttention`.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.in_channels, self.reduction_ratio = check_reduction_ratio(owner, in_channels, reduction_ratio)
        self.kernel_size = check_odd_kernel_size(owner, kernel_size)
        self.channel_attention = ChannelAttention(self.in_channels, self.reduction_ratio, name="channel_attention")
        self.spatial_attention = SpatialAttention(self.kernel_size, name="spatial_attention")
        self.built = True

    def __call__(self, x, *args, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        check_feature_map(type(self).__name__, tuple(x.shape), self.in_channels, "NHWC")
        return super().__call__(x, *args, **kwargs)

    def call(self, x, return_attention=False, training=None):
        x, channel = self.channel_attention(x, return_attention=True)
        y, spatial = self.spatial_attention(x, return_attention=True, training=training)
        return (y, {**channel, **spatial}) if return_attention else y
