"""Bottleneck Attention Module (TensorFlow / Keras 3, NHWC): channel and spatial branches in parallel."""

from __future__ import annotations

from .._checks import check_feature_map, check_positive_int, check_reduction_ratio
from .._frameworks import import_tensorflow

tf = import_tensorflow()
keras = tf.keras


class BAMChannelGate(keras.layers.Layer):
    """BAM's channel branch: ``Mc = fc2(relu(BN(fc1(avgpool(x)))))``, shape ``(B, 1, 1, C)``.

    Park et al., "BAM: Bottleneck Attention Module", BMVC 2018, Eq. (2); official code
    ``Jongchan/attention-module`` (``MODELS/bam.py``, ``ChannelGate`` with one hidden layer:
    ``Linear`` with bias, ``BatchNorm1d``, ``ReLU``, ``Linear`` with bias). The paper's Eq. (2)
    writes the BatchNorm around the whole MLP; we follow the official code, which puts it on
    the hidden layer. Returns logits (no sigmoid): BAM adds them to the spatial logits.
    Input ``(B, H, W, C)`` (NHWC); ``fc1``/``fc2`` are ``Dense`` (kernel ``(in, out)``),
    ``bn`` is ``BatchNormalization`` (``epsilon=1e-5``, Keras ``momentum=0.9`` = PyTorch's
    default ``momentum=0.1``).
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16, **kwargs):
        super().__init__(**kwargs)
        hidden = in_channels // reduction_ratio
        self.fc1 = keras.layers.Dense(hidden, name="fc1")
        self.bn = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="bn")
        self.fc2 = keras.layers.Dense(in_channels, name="fc2")
        self.fc1.build((None, in_channels))
        self.bn.build((None, hidden))
        self.fc2.build((None, hidden))
        self.built = True

    def call(self, x, training=None):
        z = tf.reduce_mean(x, axis=(1, 2))
        return self.fc2(tf.nn.relu(self.bn(self.fc1(z), training=training)))[:, None, None, :]


class BAMSpatialGate(keras.layers.Layer):
    """BAM's spatial branch: 1x1 reduce, two dilated 3x3 convs, 1x1 to one map ``(B, H, W, 1)``.

    Park et al., BMVC 2018, Eq. (3); official ``SpatialGate``: every conv has a bias, each
    of the first three is followed by BatchNorm and ReLU (the paper's Eq. (3) writes one
    BatchNorm at the end; we follow the official code), dilation ``d`` keeps ``H x W``
    (``padding="same"`` at stride 1 with a 3x3 kernel pads ``d`` on every side, as the
    official ``padding=d``). Returns logits (no sigmoid). Input ``(B, H, W, C)`` (NHWC);
    conv kernels are HWIO; BatchNorm ``epsilon=1e-5``, Keras ``momentum=0.9`` (PyTorch 0.1).
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16, dilation: int = 4, **kwargs):
        super().__init__(**kwargs)
        hidden = in_channels // reduction_ratio
        self.reduce_conv = keras.layers.Conv2D(hidden, 1, name="reduce_conv")
        self.reduce_bn = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="reduce_bn")
        self.dilated_conv1 = keras.layers.Conv2D(hidden, 3, padding="same", dilation_rate=dilation,
                                                  name="dilated_conv1")
        self.dilated_bn1 = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="dilated_bn1")
        self.dilated_conv2 = keras.layers.Conv2D(hidden, 3, padding="same", dilation_rate=dilation,
                                                  name="dilated_conv2")
        self.dilated_bn2 = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="dilated_bn2")
        self.final_conv = keras.layers.Conv2D(1, 1, name="final_conv")
        self.reduce_conv.build((None, None, None, in_channels))
        for layer in (self.reduce_bn, self.dilated_conv1, self.dilated_bn1, self.dilated_conv2,
                      self.dilated_bn2, self.final_conv):
            layer.build((None, None, None, hidden))
        self.built = True

    def call(self, x, training=None):
        h = tf.nn.relu(self.reduce_bn(self.reduce_conv(x), training=training))
        h = tf.nn.relu(self.dilated_bn1(self.dilated_conv1(h), training=training))
        h = tf.nn.relu(self.dilated_bn2(self.dilated_conv2(h), training=training))
        return self.final_conv(h)


class BAM(keras.layers.Layer):
    """Bottleneck Attention Module: channel and spatial branches in parallel.

    ``M = sigmoid(Mc(x) + Ms(x))`` (broadcast to ``(B, H, W, C)``), ``y = x + x * M``;
    Park et al., BMVC 2018, Eq. (1)-(4), reduction ratio 16 and dilation 4 as in the paper.

    Deliberate difference from the official code: ``Jongchan/attention-module``
    (``MODELS/bam.py``) computes ``1 + sigmoid(Mc * Ms)``, a *product* of the branches,
    while the paper's Eq. (1) and its discussion of combination strategies (Table 1(c):
    element-wise summation performs best) use the *sum*. The paper is explicit, so we
    follow it; the chapter shows both.

    Args:
        in_channels: number of input channels ``C``.
        reduction_ratio: bottleneck ratio ``r`` of both branches.
        dilation: dilation ``d`` of the two 3x3 convs in the spatial branch.
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: ``(B, H, W, C)`` float tensor (NHWC).

    Returns:
        ``y`` like ``x``; with ``return_attention=True`` also a dict with
        ``"channel"``: ``Mc`` logits ``(B, 1, 1, C)``, ``"spatial"``: ``Ms`` logits
        ``(B, H, W, 1)`` and ``"attention"``: ``M`` in (0, 1), ``(B, H, W, C)``.

    Raises:
        ValueError: bad ``in_channels``, ``reduction_ratio`` or ``dilation``; input not 4-D
            or with a channel count (last axis) other than ``in_channels``.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16, dilation: int = 4, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.in_channels, self.reduction_ratio = check_reduction_ratio(owner, in_channels, reduction_ratio)
        self.dilation = check_positive_int(owner, "dilation", dilation)
        self.channel_gate = BAMChannelGate(self.in_channels, self.reduction_ratio, name="channel_gate")
        self.spatial_gate = BAMSpatialGate(self.in_channels, self.reduction_ratio, self.dilation, name="spatial_gate")
        self.built = True

    def __call__(self, x, *args, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        check_feature_map(type(self).__name__, tuple(x.shape), self.in_channels, "NHWC")
        return super().__call__(x, *args, **kwargs)

    def call(self, x, return_attention=False, training=None):
        mc = self.channel_gate(x, training=training)
        ms = self.spatial_gate(x, training=training)
        m = tf.sigmoid(mc + ms)
        y = x + x * m
        return (y, {"channel": mc, "spatial": ms, "attention": m}) if return_attention else y
