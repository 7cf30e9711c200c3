"""Convolutional Block Attention Module (PyTorch): channel, then spatial attention."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_feature_map, check_odd_kernel_size, check_reduction_ratio


class ChannelAttention(nn.Module):
    """CBAM's channel attention: a shared MLP over average- and max-pooled descriptors.

    ``Mc = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` with ``MLP = fc2 . relu . fc1``;
    Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018, Eq. (2). The two
    descriptors go through the *same* MLP and the results are *summed*; they are not
    concatenated (the attention study notes' prose says "concatenate", its code and the paper sum).
    Official code ``Jongchan/attention-module`` (``MODELS/cbam.py``, ``ChannelGate``): two
    ``nn.Linear`` layers with biases, so ``fc1`` and ``fc2`` have biases here.

    Args:
        in_channels: number of input channels ``C``.
        reduction_ratio: bottleneck ratio ``r``; the hidden layer has ``C // r`` units.

    Input:
        x: ``(B, C, H, W)`` float tensor (NCHW).

    Returns:
        ``y = x * Mc`` like ``x``; with ``return_attention=True`` also ``{"channel": Mc}``,
        ``Mc`` of shape ``(B, C, 1, 1)`` in (0, 1).

    Raises:
        ValueError: bad ``in_channels`` or ``reduction_ratio``; input not 4-D or with a
            channel count other than ``in_channels``.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16):
        super().__init__()
        self.in_channels, self.reduction_ratio = check_reduction_ratio(
            type(self).__name__, in_channels, reduction_ratio
        )
        hidden = self.in_channels // self.reduction_ratio
        self.fc1 = nn.Linear(self.in_channels, hidden)
        self.fc2 = nn.Linear(hidden, self.in_channels)

    def _mlp(self, v: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(v)))

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        check_feature_map(type(self).__name__, x.shape, self.in_channels, "NCHW")
        avg = x.mean(dim=(2, 3))  # (B, C)
        mx = x.amax(dim=(2, 3))  # (B, C)
        mc = torch.sigmoid(self._mlp(avg) + self._mlp(mx))[:, :, None, None]
        y = x * mc
        return (y, {"channel": mc}) if return_attention else y


class SpatialAttention(nn.Module):
    """CBAM's spatial attention: a k x k convolution over channel-pooled maps.

    ``Ms = sigmoid(BN(conv_kxk([max_c(x); mean_c(x)])))``; Woo et al., ECCV 2018, Eq. (3).
    Three details the paper leaves open follow the official code (``Jongchan/attention-module``,
    ``MODELS/cbam.py``: ``ChannelPool`` and ``SpatialGate``):

    * the pooled maps are stacked **max first, then mean** (the paper writes ``[AvgPool; MaxPool]``);
    * the convolution has **no bias** and is followed by **BatchNorm** (``eps=1e-5``,
      ``momentum=0.01``), which the paper's equation omits; the attention study notes' code has neither
      the BatchNorm nor the max-first order;
    * padding ``(k - 1) // 2`` keeps ``H x W`` (so ``k`` must be odd).

    Args:
        kernel_size: odd convolution size ``k`` (the paper uses 7).

    Input:
        x: ``(B, C, H, W)`` float tensor (NCHW), any ``C``.

    Returns:
        ``y = x * Ms`` like ``x``; with ``return_attention=True`` also ``{"spatial": Ms}``,
        ``Ms`` of shape ``(B, 1, H, W)`` in (0, 1).

    Raises:
        ValueError: ``kernel_size`` even or non-positive; input not 4-D.
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.kernel_size = check_odd_kernel_size(type(self).__name__, kernel_size)
        self.conv = nn.Conv2d(2, 1, self.kernel_size, padding=(self.kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        check_feature_map(type(self).__name__, x.shape, None, "NCHW")
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        ms = torch.sigmoid(self.bn(self.conv(pooled)))  # (B, 1, H, W)
        y = x * ms
        return (y, {"spatial": ms}) if return_attention else y


class CBAM(nn.Module):
    """CBAM: channel attention followed by spatial attention (serial arrangement).

    ``x' = x * Mc(x)``, ``y = x' * Ms(x')``; Woo et al., ECCV 2018, Eq. (1), the
    channel-first order the paper found best (its Table 4). Sub-modules:
    :class:`ChannelAttention` as ``channel_attention`` and :class:`SpatialAttention` as
    ``spatial_attention``.

    Args:
        in_channels: number of input channels ``C``.
        reduction_ratio: channel-MLP bottleneck ratio ``r``.
        kernel_size: odd spatial convolution size ``k``.

    Input:
        x: ``(B, C, H, W)`` float tensor (NCHW).

    Returns:
        ``y`` like ``x``; with ``return_attention=True`` also
        ``{"channel": (B, C, 1, 1), "spatial": (B, 1, H, W)}``.

    Raises:
        ValueError: as :class:`ChannelAttention` and :class:`SpatialAttention`.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16, kernel_size: int = 7):
        super().__init__()
        owner = type(self).__name__
        self.in_channels, self.reduction_ratio = check_reduction_ratio(owner, in_channels, reduction_ratio)
        self.kernel_size = check_odd_kernel_size(owner, kernel_size)
        self.channel_attention = ChannelAttention(self.in_channels, self.reduction_ratio)
        self.spatial_attention = SpatialAttention(self.kernel_size)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        check_feature_map(type(self).__name__, x.shape, self.in_channels, "NCHW")
        x, channel = self.channel_attention(x, return_attention=True)
        y, spatial = self.spatial_attention(x, return_attention=True)
        return (y, {**channel, **spatial}) if return_attention else y
