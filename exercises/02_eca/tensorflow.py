"""Exercise 02 (TensorFlow / Keras 3): ECA's kernel-size rule and the forward pass of ECA."""

import math

import keras
import tensorflow as tf


def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """Kernel size ``k`` of ECA's 1-D convolution, chosen from the channel count ``C``.

    ECA-Net (Wang et al., CVPR 2020), Eq. (12): ``k = | log2(C) / gamma + b / gamma |_odd``.
    Implement it as the official code (``BangguWu/ECANet``) and the paper's listing do:

    1. ``t = int(abs((log2(C) + b) / gamma))`` (base-2 logarithm; ``int`` truncates);
    2. return ``t`` if ``t`` is odd, else ``t + 1``.

    Examples with ``gamma=2, b=1``: ``C=64 -> 3``, ``C=128 -> 5``, ``C=2048 -> 7``.

    Args:
        channels: ``C``, a positive Python int.
        gamma, b: the rule's constants (Python numbers); ``gamma > 0``.

    Returns:
        ``k``, an odd positive Python ``int`` (not a float, not a tensor).
    """
    ### BEGIN SOLUTION
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1
    ### END SOLUTION


class ECA(keras.layers.Layer):
    """Efficient Channel Attention (Wang et al., CVPR 2020, Sec. 3.2; kernel size: Eq. (12)).

    Build one ``keras.layers.Conv1D(1, k, padding="same", use_bias=False)`` named exactly
    ``conv`` (kernel ``(k, 1, 1)`` float32 in Keras' ``(K, I, O)`` layout; the grader
    converts its PyTorch-layout weights for you). ``k`` is ``kernel_size`` when it is given,
    otherwise ``eca_kernel_size(in_channels, gamma, b)``. For odd ``k`` at stride 1,
    ``"same"`` pads ``(k - 1) // 2`` zeros at both ends, as the official code's
    ``Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)`` (``BangguWu/ECANet``,
    ``models/eca_module.py``). The block has no other weight.

    Forward, for ``x`` of shape ``(B, H, W, C)`` float32 (NHWC, TensorFlow's layout):

    1. squeeze: ``z = mean of x over H and W``, shape ``(B, C)``;
    2. treat the ``C`` means as a sequence of length ``C`` with one feature (channels-last
       ``Conv1D`` input), shape ``(B, C, 1)``, and apply ``conv``: one kernel shared by all
       channels, sliding along the channel axis, zero-padded at both ends (output ``(B, C, 1)``);
    3. ``s = sigmoid(...)``, reshaped to ``(B, 1, 1, C)``;
    4. scale: return ``x * s`` (``s`` broadcast over ``H`` and ``W``), shape ``(B, H, W, C)``.

    Args:
        in_channels: ``C``.
        gamma, b: constants of the kernel-size rule (see :func:`eca_kernel_size`).
        kernel_size: odd ``k``; ``None`` (default) means "use the rule".
    """

    def __init__(self, in_channels: int, gamma: float = 2, b: float = 1,
                 kernel_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        ### BEGIN SOLUTION
        k = eca_kernel_size(in_channels, gamma, b) if kernel_size is None else kernel_size
        self.conv = keras.layers.Conv1D(1, k, padding="same", use_bias=False)
        ### END SOLUTION

    def call(self, x: tf.Tensor) -> tf.Tensor:
        ### BEGIN SOLUTION
        z = tf.reduce_mean(x, axis=[1, 2])
        s = tf.sigmoid(self.conv(z[:, :, None]))
        return x * s[:, None, None, :, 0]
        ### END SOLUTION
