"""Squeeze-and-Excitation block (PaddlePaddle)."""

from __future__ import annotations

from .._checks import check_feature_map, check_reduction_ratio
from .._frameworks import import_paddle

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional


class SEBlock(nn.Layer):
    """Squeeze-and-Excitation channel attention.

    Computes ``s = sigmoid(W2 relu(W1 z))`` from the channel means ``z`` (the squeeze) and
    returns ``x * s`` (the excitation). Hu et al., "Squeeze-and-Excitation Networks",
    CVPR 2018 / TPAMI 2020, Eq. (2)-(4); official code ``hujie-frank/SENet`` (Caffe
    ``InnerProduct`` layers, which have biases, so ``fc1`` and ``fc2`` have biases here).

    Paddle layout note: ``paddle.nn.Linear`` stores its weight as ``(in, out)``, the
    transpose of PyTorch's ``(out, in)``; the parity layer transposes it.

    Args:
        in_channels: number of input channels ``C``.
        reduction_ratio: bottleneck ratio ``r``; the hidden layer has ``C // r`` units.

    Input:
        x: ``(B, C, H, W)`` float tensor (NCHW).

    Returns:
        ``y`` of the same shape and dtype as ``x``; with ``return_attention=True`` the tuple
        ``(y, {"channel": s})`` where ``s`` is ``(B, C, 1, 1)``, values in (0, 1).

    Raises:
        ValueError: non-positive ``in_channels``; ``reduction_ratio`` not positive or larger
            than ``in_channels``; input not 4-D or with a channel count other than
            ``in_channels``.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16):
        super().__init__()
        self.in_channels, self.reduction_ratio = check_reduction_ratio(
            type(self).__name__, in_channels, reduction_ratio
        )
        hidden = self.in_channels // self.reduction_ratio
        self.fc1 = nn.Linear(self.in_channels, hidden)
        self.fc2 = nn.Linear(hidden, self.in_channels)

    def forward(self, x, return_attention: bool = False):
        check_feature_map(type(self).__name__, x.shape, self.in_channels, "NCHW")
        z = x.mean(axis=(2, 3))  # squeeze: (B, C)
        s = F.sigmoid(self.fc2(F.relu(self.fc1(z))))  # excitation: (B, C)
        s = s[:, :, None, None]
        y = x * s
        return (y, {"channel": s}) if return_attention else y
