"""Exercise 03 (PyTorch): the spatial attention branch of CBAM."""

import torch
from torch import nn


class SpatialAttention(nn.Module):
    """CBAM's spatial attention (Woo et al., ECCV 2018, Eq. 3), as in the official code.

    ``Ms = sigmoid(BN(conv_kxk([max_c(x); mean_c(x)])))`` and ``y = x * Ms``. Follow the
    official code (``Jongchan/attention-module``, ``MODELS/cbam.py``: ``ChannelPool``,
    ``SpatialGate``) where it differs from the paper's equation: the maximum map comes
    **first**, the convolution has **no bias** and is followed by a **BatchNorm**.

    Build, with exactly these attribute names (the grader loads its weights into them):

    * ``conv``: ``nn.Conv2d(2, 1, k, padding=(k - 1) // 2, bias=False)``, weight
      ``(1, 2, k, k)`` float32 (OIHW; input channel 0 sees the max map, 1 the mean map);
    * ``bn``: ``nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)``: ``weight``, ``bias``,
      ``running_mean``, ``running_var``, each of shape ``(1,)``.

    The grader calls the module in inference mode (``.eval()``), so ``bn`` normalises with
    its running statistics: ``(v - running_mean) / sqrt(running_var + eps) * weight + bias``.

    Forward, for ``x`` of shape ``(B, C, H, W)`` float32 (NCHW), any ``C``:

    1. pool over the channel axis: ``max_c(x)`` and ``mean_c(x)``, each ``(B, 1, H, W)``;
    2. concatenate them along the channel axis, max first: ``(B, 2, H, W)``;
    3. ``Ms = sigmoid(bn(conv(pooled)))``, shape ``(B, 1, H, W)`` (zero padding keeps H x W);
    4. return ``x * Ms`` (``Ms`` broadcast over the channels), shape ``(B, C, H, W)``.

    Args:
        kernel_size: odd ``k`` (the paper uses 7).
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.bn(self.conv(pooled)))
