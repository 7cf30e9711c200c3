"""Squeeze-and-Excitation block (TensorFlow / Keras 3, NHWC)."""

from __future__ import annotations

from .._checks import check_feature_map, check_reduction_ratio
from .._frameworks import import_tensorflow

tf = import_tensorflow()
keras = tf.keras


class SEBlock(keras.layers.Layer):
    """Squeeze-and-Excitation channel attention.

    Computes ``s = sigmoid(W2 relu(W1 z))`` from the channel means ``z`` (the squeeze) and
    returns ``x * s`` (the excitation). Hu et al., "Squeeze-and-Excitation Networks",
    CVPR 2018 / TPAMI 2020, Eq. (2)-(4); official code ``hujie-frank/SENet`` (Caffe
    ``InnerProduct`` layers, which have biases, so ``fc1`` and ``fc2`` have biases here).
    ``fc1`` and ``fc2`` are ``keras.layers.Dense`` (kernel ``(in, out)``); all weights are
    created in the constructor.

    Args:
        in_channels: number of input channels ``C``.
        reduction_ratio: bottleneck ratio ``r``; the hidden layer has ``C // r`` units.
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: ``(B, H, W, C)`` float tensor (NHWC).

    Returns:
        ``y`` of the same shape and dtype as ``x``; with ``return_attention=True`` the tuple
        ``(y, {"channel": s})`` where ``s`` is ``(B, 1, 1, C)``, values in (0, 1).

    Raises:
        ValueError: non-positive ``in_channels``; ``reduction_ratio`` not positive or larger
            than ``in_channels``; input not 4-D or with a channel count (last axis) other
            than ``in_channels``.
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

    def __call__(self, x, *args, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        check_feature_map(type(self).__name__, tuple(x.shape), self.in_channels, "NHWC")
        return super().__call__(x, *args, **kwargs)

    def call(self, x, return_attention=False):
        z = tf.reduce_mean(x, axis=(1, 2))  # squeeze: (B, C)
        s = tf.sigmoid(self.fc2(tf.nn.relu(self.fc1(z))))  # excitation: (B, C)
        s = s[:, None, None, :]
        y = x * s
        return (y, {"channel": s}) if return_attention else y
