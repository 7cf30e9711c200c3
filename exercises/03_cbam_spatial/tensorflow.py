"""Exercise 03 (TensorFlow / Keras 3): the spatial attention branch of CBAM."""

import keras
import tensorflow as tf


class SpatialAttention(keras.layers.Layer):
    """CBAM's spatial attention (Woo et al., ECCV 2018, Eq. 3), as in the official code.

    ``Ms = sigmoid(BN(conv_kxk([max_c(x); mean_c(x)])))`` and ``y = x * Ms``. Follow the
    official code (``Jongchan/attention-module``, ``MODELS/cbam.py``: ``ChannelPool``,
    ``SpatialGate``) where it differs from the paper's equation: the maximum map comes
    **first**, the convolution has **no bias** and is followed by a **BatchNorm**.

    Build, with exactly these attribute names (the grader loads its weights into them and
    converts them from PyTorch's layouts for you):

    * ``conv``: ``keras.layers.Conv2D(1, k, padding="same", use_bias=False)``, kernel
      ``(k, k, 2, 1)`` float32 (HWIO; input channel 0 sees the max map, 1 the mean map);
      for odd ``k`` at stride 1 ``"same"`` pads ``(k - 1) // 2`` zeros on every side, as the
      official code's ``padding=(k - 1) // 2``;
    * ``bn``: ``keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.99)`` over the last
      axis (Keras' defaults differ: ``epsilon=1e-3``): ``gamma``, ``beta``, ``moving_mean``,
      ``moving_variance``, each of shape ``(1,)``.

    The grader calls the layer as ``layer(x, training=False)``: pass ``training`` on to
    ``bn`` so that it normalises with its moving statistics,
    ``(v - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta``.

    Forward, for ``x`` of shape ``(B, H, W, C)`` float32 (NHWC, TensorFlow's layout), any ``C``:

    1. pool over the channel axis (the last): ``max_c(x)`` and ``mean_c(x)``, each ``(B, H, W, 1)``;
    2. concatenate them along the last axis, max first: ``(B, H, W, 2)``;
    3. ``Ms = sigmoid(bn(conv(pooled)))``, shape ``(B, H, W, 1)`` (``"same"`` keeps H x W);
    4. return ``x * Ms`` (``Ms`` broadcast over the channels), shape ``(B, H, W, C)``.

    Args:
        kernel_size: odd ``k`` (the paper uses 7).
    """

    def __init__(self, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        ### BEGIN SOLUTION
        self.conv = keras.layers.Conv2D(1, kernel_size, padding="same", use_bias=False)
        self.bn = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.99)
        ### END SOLUTION

    def call(self, x: tf.Tensor, training=None) -> tf.Tensor:
        ### BEGIN SOLUTION
        pooled = tf.concat([tf.reduce_max(x, axis=-1, keepdims=True),
                            tf.reduce_mean(x, axis=-1, keepdims=True)], axis=-1)
        return x * tf.sigmoid(self.bn(self.conv(pooled), training=training))
        ### END SOLUTION
