"""Efficient Channel Attention (TensorFlow / Keras 3, NHWC)."""

from __future__ import annotations

from .._checks import (
    check_feature_map,
    check_odd_kernel_size,
    check_positive_int,
    check_positive_number,
    check_real_number,
)
from .._frameworks import import_tensorflow
from ..formulas import eca_kernel_size

tf = import_tensorflow()
keras = tf.keras


class ECA(keras.layers.Layer):
    """Efficient Channel Attention: a 1-D convolution across channels instead of an MLP.

    ``s = sigmoid(conv1d_k(z))`` where ``z`` holds the channel means, treated as a length-C
    sequence; ``y = x * s``. Wang et al., "ECA-Net: Efficient Channel Attention for Deep
    Convolutional Neural Networks", CVPR 2020, Eq. (7)-(12); official code
    ``BangguWu/ECANet`` (``eca_module.py``: one ``Conv1d(1, 1, k, padding=(k-1)//2,
    bias=False)`` shared by all channels, zero padding at both ends of the channel axis).
    Here ``conv`` is ``keras.layers.Conv1D(1, k, padding="same", use_bias=False)`` applied to
    ``z`` reshaped to ``(B, C, 1)`` (a length-C sequence with one feature); for odd ``k`` at
    stride 1 "same" pads ``(k-1)//2`` zeros at both ends, as the official code. Kernel
    ``(k, 1, 1)`` in Keras' ``(K, I, O)`` layout.

    Args:
        in_channels: number of input channels ``C``.
        gamma, b: constants of the kernel-size rule, see :func:`vision_attention.eca_kernel_size`.
        kernel_size: odd kernel size; ``None`` (default) chooses it with the paper's rule.
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: ``(B, H, W, C)`` float tensor (NHWC).

    Returns:
        ``y`` like ``x``; with ``return_attention=True`` also ``{"channel": s}``, ``s`` of
        shape ``(B, 1, 1, C)`` in (0, 1).

    Raises:
        ValueError: non-positive ``in_channels`` or ``gamma``; ``b`` not a finite number;
            ``kernel_size`` even or non-positive; input not 4-D or with a channel count (last axis) other than
            ``in_channels``.
    """

    def __init__(self, in_channels: int, gamma: float = 2, b: float = 1, kernel_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.gamma = check_positive_number(owner, "gamma", gamma)
        self.b = check_real_number(owner, "b", b)
        if kernel_size is None:
            kernel_size = eca_kernel_size(self.in_channels, gamma, b)
        self.kernel_size = check_odd_kernel_size(owner, kernel_size)
        self.conv = keras.layers.Conv1D(1, self.kernel_size, padding="same", use_bias=False, name="conv")
        self.conv.build((None, self.in_channels, 1))
        self.built = True

    def __call__(self, x, *args, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        check_feature_map(type(self).__name__, tuple(x.shape), self.in_channels, "NHWC")
        return super().__call__(x, *args, **kwargs)

    def call(self, x, return_attention=False):
        z = tf.reduce_mean(x, axis=(1, 2))  # (B, C)
        s = tf.sigmoid(self.conv(z[:, :, None]))  # (B, C, 1): channels as a sequence
        s = s[:, None, None, :, 0]  # (B, 1, 1, C)
        y = x * s
        return (y, {"channel": s}) if return_attention else y
