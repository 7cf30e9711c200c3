"""Exercise 01 (TensorFlow / Keras 3): the forward pass of a Squeeze-and-Excitation block."""

import keras
import tensorflow as tf


class SEBlock(keras.layers.Layer):
    """Squeeze-and-Excitation channel attention (Hu et al., CVPR 2018, Eq. 2-4).

    Build two ``keras.layers.Dense`` layers *with biases*, named exactly ``fc1`` (``C // r``
    units) and ``fc2`` (``C`` units); the grader loads its weights into them by these
    attribute names (a Dense kernel is ``(in, out)``; the grader transposes for you).

    Forward, for ``x`` of shape ``(B, H, W, C)`` float32 (NHWC, TensorFlow's layout):

    1. squeeze: ``z = mean of x over H and W``, shape ``(B, C)``;
    2. excitation: ``s = sigmoid(fc2(relu(fc1(z))))``, shape ``(B, C)``;
    3. scale: return ``x * s`` with ``s`` broadcast over ``H`` and ``W``, shape ``(B, H, W, C)``.

    Args:
        in_channels: ``C``.
        reduction_ratio: ``r``; the hidden layer has ``C // r`` units.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16, **kwargs):
        super().__init__(**kwargs)
        hidden = in_channels // reduction_ratio
        self.fc1 = keras.layers.Dense(hidden)
        self.fc2 = keras.layers.Dense(in_channels)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        z = tf.reduce_mean(x, axis=[1, 2])
        s = tf.sigmoid(self.fc2(tf.nn.relu(self.fc1(z))))
        return s[:, None, None, :] + 0 * x  # MUTANT: returns the weights, no rescale
