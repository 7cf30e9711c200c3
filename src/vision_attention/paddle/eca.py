"""Efficient Channel Attention (PaddlePaddle)."""

from __future__ import annotations

from .._checks import (
    check_feature_map,
    check_odd_kernel_size,
    check_positive_int,
    check_positive_number,
    check_real_number,
)
from .._frameworks import import_paddle
from ..formulas import eca_kernel_size

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional


class ECA(nn.Layer):
    """Efficient Channel Attention: a 1-D convolution across channels instead of an MLP.

    ``s = sigmoid(conv1d_k(z))`` where ``z`` holds the channel means, treated as a length-C
    sequence; ``y = x * s``. Wang et al., "ECA-Net: Efficient Channel Attention for Deep
    Convolutional Neural Networks", CVPR 2020, Eq. (7)-(12); official code
    ``BangguWu/ECANet`` (``eca_module.py``: one ``Conv1d(1, 1, k, padding=(k-1)//2,
    bias=False)`` shared by all channels, zero padding at both ends of the channel axis).
    Here ``paddle.nn.Conv1D`` (layout ``NCL``, weight ``(1, 1, k)`` as in PyTorch) with
    ``bias_attr=False``.

    Args:
        in_channels: number of input channels ``C``.
        gamma, b: constants of the kernel-size rule, see :func:`vision_attention.eca_kernel_size`.
        kernel_size: odd kernel size; ``None`` (default) chooses it with the paper's rule.

    Input:
        x: ``(B, C, H, W)`` float tensor (NCHW).

    Returns:
        ``y`` like ``x``; with ``return_attention=True`` also ``{"channel": s}``, ``s`` of
        shape ``(B, C, 1, 1)`` in (0, 1).

    Raises:
        ValueError: non-positive ``in_channels`` or ``gamma``; ``b`` not a finite number;
            ``kernel_size`` even or non-positive; input not 4-D or with a channel count other than ``in_channels``.
    """

    def __init__(self, in_channels: int, gamma: float = 2, b: float = 1, kernel_size: int | None = None):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.gamma = check_positive_number(owner, "gamma", gamma)
        self.b = check_real_number(owner, "b", b)
        if kernel_size is None:
            kernel_size = eca_kernel_size(self.in_channels, gamma, b)
        self.kernel_size = check_odd_kernel_size(owner, kernel_size)
        self.conv = nn.Conv1D(1, 1, self.kernel_size, padding=(self.kernel_size - 1) // 2, bias_attr=False)

    def forward(self, x, return_attention: bool = False):
        check_feature_map(type(self).__name__, x.shape, self.in_channels, "NCHW")
        z = x.mean(axis=(2, 3))  # (B, C)
        s = F.sigmoid(self.conv(z[:, None, :]))  # (B, 1, C): channels as a sequence
        s = s[:, 0, :, None, None]  # (B, C, 1, 1)
        y = x * s
        return (y, {"channel": s}) if return_attention else y
