"""MUTANT (log2 in -sum(p log p), ln(H*W) to normalise): exercise 10, tensorflow."""

import math

import tensorflow as tf


def attention_statistics(weights: tf.Tensor, spatial: bool) -> dict:
    """Six statistics of one attention tensor ``a`` with values in [0, 1] (the course's
    ``monitor.attention_statistics``, which the practice chapter logs during
    training to see whether attention saturates or collapses onto a few positions):

    * ``mean``: the mean of all values;
    * ``std``: their **population** standard deviation (divide by ``n``, ``ddof=0``);
    * ``low``: the fraction of values strictly below 0.05; ``high``: strictly above 0.95;
    * ``saturated``: ``low + high``;
    * ``entropy``: only when ``spatial`` is true, for a batch of spatial maps ``(B, H, W, 1)``
      (**NHWC**, ``H * W > 1``): for each map ``p = a / sum(a)`` over its ``H * W`` positions,
      ``-sum(p * ln p) / ln(H * W)`` (``0 * ln 0 = 0``), normalised to [0, 1] (1: uniform, 0: all
      the mass on one position), then the mean over the ``B`` maps. When ``spatial`` is false
      (e.g. channel weights ``(B, 1, 1, C)``) the entropy is ``float("nan")``.

    TensorFlow takes NHWC (channels last); PyTorch's and Paddle's versions take NCHW. Use
    TensorFlow's own tensor operations. The grader gives float32 tensors whose maps never sum
    to 0 (no need to check the input here) and calls the function eagerly.

    Args:
        weights: a float32 tensor, ``(B, H, W, 1)`` spatial maps or ``(B, 1, 1, C)`` channel
            weights (NHWC).
        spatial: whether ``weights`` is a batch of spatial maps (then the entropy is computed).

    Returns:
        ``{"mean", "std", "low", "high", "saturated", "entropy"}``, each a Python ``float``.
    """
    a = weights
    low = float(tf.reduce_mean(tf.cast(a < 0.05, tf.float32)))
    high = float(tf.reduce_mean(tf.cast(a > 0.95, tf.float32)))
    entropy = float("nan")
    if spatial:
        flat = tf.reshape(a, (a.shape[0], -1))
        p = flat / tf.reduce_sum(flat, axis=1, keepdims=True)  # (B, H*W)
        terms = tf.where(p > 0, p * (1 / math.log(2.0)) * tf.math.log(tf.where(p > 0, p, tf.ones_like(p))), tf.zeros_like(p))
        entropy = float(tf.reduce_mean(-tf.reduce_sum(terms, axis=1) / math.log(p.shape[1])))
    return {"mean": float(tf.reduce_mean(a)), "std": float(tf.math.reduce_std(a)), "low": low, "high": high,
            "saturated": low + high, "entropy": entropy}
