"""Exercise 05 (TensorFlow / Keras 3): SimAM, a parameter-free attention module."""

import keras
import tensorflow as tf


class SimAM(keras.layers.Layer):
    """SimAM attention (Yang, Zhang, Li and Xie, "SimAM: A Simple, Parameter-Free Attention
    Module for Convolutional Neural Networks", ICML 2021, PMLR 139:11863-11874; official code
    github.com/ZjjConan/SimAM, ``simam_module.py``).

    SimAM has no weights: it gives every element of ``x`` its own weight in ``(0, 1)`` from the
    closed-form minimal energy of the paper (``e_lambda`` is its coefficient lambda, Eq. 5).

    Forward, for ``x`` of shape ``(B, H, W, C)`` float32 (NHWC, TensorFlow's layout),
    ``H * W >= 2``; every statistic is taken per image and per channel, over H and W only
    (axes 1 and 2, kept as ``(B, 1, 1, C)`` so that it broadcasts):

    1. ``n = H * W - 1`` (a number, not learned);
    2. ``d = (x - mu) ** 2`` with ``mu`` the mean of ``x`` over H and W; ``d`` is ``(B, H, W, C)``;
    3. ``v = (sum of d over H and W) / n``, shape ``(B, 1, 1, C)`` (note: ``n``, not ``H * W``);
    4. ``e_inv = d / (4 * (v + e_lambda)) + 0.5``, shape ``(B, H, W, C)`` (the inverse energy;
       ``e_lambda`` keeps it finite where a channel is constant, so that ``v = 0``);
    5. return ``x * sigmoid(e_inv)``, shape ``(B, H, W, C)``, float32.

    Args:
        e_lambda: the coefficient lambda (a float > 0), stored as ``self.e_lambda``.
    """

    def __init__(self, e_lambda: float = 1e-4, **kwargs):
        super().__init__(**kwargs)
        self.e_lambda = e_lambda

    def call(self, x: tf.Tensor) -> tf.Tensor:
        ### BEGIN SOLUTION
        shape = tf.shape(x)
        n = tf.cast(shape[1] * shape[2] - 1, x.dtype)
        d = tf.square(x - tf.reduce_mean(x, axis=[1, 2], keepdims=True))
        v = tf.reduce_sum(d, axis=[1, 2], keepdims=True) / n
        e_inv = d / (4.0 * (v + self.e_lambda)) + 0.5
        return x * tf.sigmoid(e_inv)
        ### END SOLUTION
