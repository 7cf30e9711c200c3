"""Exercise 06 (TensorFlow / Keras 3): the forward pass of an embedded-Gaussian non-local block."""

import keras
import tensorflow as tf


class NonLocalBlock(keras.layers.Layer):
    """Embedded-Gaussian non-local block (Wang et al., "Non-local Neural Networks", CVPR 2018,
    Eq. (1), (3) and (6); official code ``facebookresearch/video-nonlocal-net``,
    ``lib/models/nonlocal_helper.py``), for images and without sub-sampling.

    Every position attends to every position of the same feature map::

        A_i = softmax_j( theta(x_i)^T phi(x_j) )      (one row per query position i)
        y_i = sum_j A_ij g(x_j)
        z_i = bn(W(y_i)) + x_i

    The constructor is written for you; the grader loads its weights into these attributes
    (keep their names) and converts them from PyTorch's layouts for you:

    * ``theta``, ``phi``, ``g``: ``keras.layers.Conv2D(C_inter, 1)`` with bias, kernel
      ``(1, 1, C, C_inter)`` (HWIO): the queries, keys and values;
    * ``W``: ``keras.layers.Conv2D(C, 1)`` with bias, kernel ``(1, 1, C_inter, C)``;
    * ``bn``: ``keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9)`` over the last
      axis: ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``, each ``(C,)``.

    Every sub-layer is built in the constructor, so the grader can load its weights before
    the first call. The grader calls the layer as ``layer(x, training=False)`` (and with
    ``return_attention=True``): pass ``training`` on to ``bn`` so that it normalises with its
    moving statistics.

    Forward, for ``x`` of shape ``(B, H, W, C)`` float32 (NHWC, TensorFlow's layout), with
    ``N = H * W`` and ``d = C_inter``; positions are flattened row-major, ``n = h * W + w``
    (what a reshape of ``(B, H, W, d)`` to ``(B, N, d)`` gives, the same order as the NCHW
    frameworks):

    1. queries ``theta(x)``, keys ``phi(x)`` and values ``g(x)``, each as ``(B, N, d)``;
    2. affinities ``f = queries @ keys^T``, shape ``(B, N, N)``: ``f[b, i, j]`` is the dot
       product of query position ``i`` with key position ``j``; no scaling (the paper's form);
    3. ``A = softmax of f over the last axis`` (the keys ``j``): every row ``A[b, i, :]``
       sums to 1;
    4. ``y = A @ values``, shape ``(B, N, d)``, reshaped back to ``(B, H, W, d)``;
    5. return ``z = bn(W(y)) + x``, shape ``(B, H, W, C)``.

    With ``return_attention=True`` return the pair ``(z, A)``, ``A`` of shape ``(B, N, N)``
    float32; otherwise ``z`` alone. ``tf.shape(x)`` gives ``B``, ``H`` and ``W`` as tensors.

    Args:
        in_channels: ``C``.
        inter_channels: ``d = C_inter``, the embedding width; ``None`` means
            ``max(C // 2, 1)`` (the paper's half width).
    """

    def __init__(self, in_channels: int, inter_channels: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.in_channels = in_channels
        self.inter_channels = max(in_channels // 2, 1) if inter_channels is None else inter_channels
        d = self.inter_channels
        self.theta = keras.layers.Conv2D(d, 1)
        self.phi = keras.layers.Conv2D(d, 1)
        self.g = keras.layers.Conv2D(d, 1)
        self.W = keras.layers.Conv2D(in_channels, 1)
        self.bn = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9)
        for layer, cin in ((self.theta, in_channels), (self.phi, in_channels),
                           (self.g, in_channels), (self.W, d), (self.bn, in_channels)):
            layer.build((None, None, None, cin))  # the weights exist before the first call

    def call(self, x: tf.Tensor, return_attention: bool = False, training=None):
        ### BEGIN SOLUTION
        shape = tf.shape(x)
        b, h, w = shape[0], shape[1], shape[2]
        query = tf.reshape(self.theta(x), (b, h * w, -1))  # (B, N, d)
        key = tf.reshape(self.phi(x), (b, h * w, -1))  # (B, N, d)
        value = tf.reshape(self.g(x), (b, h * w, -1))  # (B, N, d)
        attention = tf.nn.softmax(tf.matmul(query, key, transpose_b=True), axis=-1)  # (B, N, N)
        y = tf.reshape(tf.matmul(attention, value), (b, h, w, -1))  # (B, H, W, d)
        z = self.bn(self.W(y), training=training) + x
        return (z, attention) if return_attention else z
        ### END SOLUTION
