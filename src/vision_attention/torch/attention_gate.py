"""Attention gates of Attention U-Net (PyTorch, NCHW): the study notes' gate and the official one."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_bool, check_optional_positive_int, check_positive_int
from .._unet_common import check_gate_inputs


def _resize(t: torch.Tensor, size) -> torch.Tensor:
    """Bilinear resampling to ``size`` with half-pixel centres (``align_corners=False``), the
    convention Paddle (``align_mode=0``) and Keras share; a no-op when the size already matches."""
    if tuple(t.shape[2:]) == tuple(size):
        return t
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)


class AttentionGate(nn.Module):
    """Additive attention gate as the Attention U-Net study notes write it.

    ``alpha = sigmoid(BN(psi(relu(BN(W_g g)^ + BN(W_x x)))))`` and ``y = x * alpha``: 1x1
    convolutions (with bias) and BatchNorm project the gating signal ``g`` and the skip
    features ``x`` to ``F_int`` channels, the projected ``g`` is resampled to ``x``'s size
    (``^``), a ReLU of the sum feeds a 1x1 convolution to one channel, BatchNorm and a sigmoid
    give the map ``alpha`` in (0, 1), broadcast over ``x``'s channels.

    Oktay et al., "Attention U-Net: Learning Where to Look for the Pancreas", MIDL 2018,
    Eq. (1)-(2) (additive attention, ``q = psi^T relu(W_x^T x + W_g^T g + b_g) + b_psi``,
    ``alpha = sigmoid(q)``). The BatchNorm layers are not in the paper's equations; the notes'
    gate has them, as does the widely used ``LeeJunHyun/Image_Segmentation`` ``Attention_block``
    (``network.py``), which this class matches parameter for parameter. Deliberate choices:

    * **resampling**: the notes upsample the *projected* ``g`` bilinearly to ``x``'s size when
      they differ; we do the same with half-pixel centres (``align_corners=False``), which the
      three frameworks share. Inside :class:`DecoderBlockWithAttention` ``g`` is the decoder's
      upsampled map, already of ``x``'s size, so nothing is resampled there.
    * the gate is computed at ``x``'s full resolution (the official
      :class:`GridAttentionGate` computes it on a grid twice as coarse).

    Args:
        F_g: channels of the gating signal ``g``.
        F_l: channels of the skip features ``x``.
        F_int: channels of the intermediate (bottleneck) projection.

    Input:
        x: skip features ``(B, F_l, H, W)`` float32 (NCHW).
        g: gating signal ``(B, F_g, h, w)`` with ``h <= H``, ``w <= W``.

    Returns:
        ``y = x * alpha`` of ``x``'s shape; with ``return_attention=True`` also
        ``{"attention": alpha}``, ``alpha`` of shape ``(B, 1, H, W)`` in (0, 1).

    Raises:
        ValueError: a channel count not a positive integer; ``x`` or ``g`` not 4-D, with other
            channel counts than ``F_l`` / ``F_g``, different batch sizes, or ``g`` larger than
            ``x``.
    """

    def __init__(self, F_g: int, F_l: int, F_int: int):
        super().__init__()
        owner = type(self).__name__
        self.F_g = check_positive_int(owner, "F_g", F_g)
        self.F_l = check_positive_int(owner, "F_l", F_l)
        self.F_int = check_positive_int(owner, "F_int", F_int)
        self.W_g = nn.Sequential(nn.Conv2d(self.F_g, self.F_int, 1), nn.BatchNorm2d(self.F_int))
        self.W_x = nn.Sequential(nn.Conv2d(self.F_l, self.F_int, 1), nn.BatchNorm2d(self.F_int))
        self.psi = nn.Sequential(nn.Conv2d(self.F_int, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, x: torch.Tensor, g: torch.Tensor, return_attention: bool = False):
        check_gate_inputs(type(self).__name__, x.shape, g.shape, self.F_l, self.F_g, "NCHW")
        check_bool(type(self).__name__, "return_attention", return_attention)
        g1 = _resize(self.W_g(g), x.shape[2:])
        alpha = self.psi(torch.relu(g1 + self.W_x(x)))
        y = x * alpha
        return (y, {"attention": alpha}) if return_attention else y


class GridAttentionGate(nn.Module):
    """The official Attention U-Net gate (grid attention, additive, mode ``concatenation``).

    ``q = psi(relu(theta(x) + phi(g)^))``, ``alpha = up(sigmoid(q))``, ``y = W(alpha * x)``:

    * ``theta``: a bias-free convolution with kernel = stride = ``sub_sample_factor`` maps
      ``x`` to ``inter_channels`` on a grid ``sub_sample_factor`` times coarser;
    * ``phi``: a 1x1 convolution with bias on ``g``, resampled bilinearly to that grid when its
      size differs (``^``: up, or down without anti-aliasing for a ``g`` between the grid's
      size and ``x``'s; in :class:`AttentionUNet` ``g`` is the decoder's input, already on it);
    * ``psi``: a 1x1 convolution with bias to one channel; the sigmoid map is upsampled
      bilinearly (half-pixel centres) to ``x``'s size and multiplies ``x``;
    * ``W``: the output transform, a 1x1 convolution with bias and BatchNorm.

    Oktay et al., MIDL 2018, Eq. (1)-(2) and Fig. 2; official code
    ``ozan-oktay/Attention-Gated-Networks``, ``models/layers/grid_attention_layer.py``
    (``_GridAttentionBlockND._concatenation``). Differences, deliberate: the official code
    calls ``F.upsample`` (PyTorch 0.3 era, whose bilinear mode aligned corners); we use the
    half-pixel convention the three frameworks share. The official ``GridAttentionBlock2D``'s
    default ``sub_sample_factor=(2, 2, 2)`` is a 3-D kernel and does not run on 2-D maps; here
    the factor is one integer for both axes (default 2). A factor that does not divide ``H`` or
    ``W`` leaves theta's grid ``floor(H / factor)`` high, as in the official code, and the map is
    stretched over all of ``x``. No BatchNorm inside the gate itself,
    unlike :class:`AttentionGate`.

    Args:
        in_channels: channels of the skip features ``x`` (and of the output).
        gating_channels: channels of the gating signal ``g``.
        inter_channels: channels of ``theta``/``phi``; ``None`` means ``in_channels // 2``
            (at least 1), the official default.
        sub_sample_factor: kernel size and stride of ``theta``, a positive integer.

    Input:
        x: ``(B, in_channels, H, W)`` float32 (NCHW), ``H, W >= sub_sample_factor``.
        g: ``(B, gating_channels, h, w)`` with ``h <= H``, ``w <= W``.

    Returns:
        ``W(alpha * x)`` of ``x``'s shape; with ``return_attention=True`` also
        ``{"attention": alpha}``, the upsampled map ``(B, 1, H, W)`` in (0, 1).

    Raises:
        ValueError: bad channel counts or factor; ``x`` or ``g`` not 4-D, with other channel
            counts, different batch sizes, ``g`` larger than ``x`` or ``x`` smaller than the
            factor.
    """

    def __init__(self, in_channels: int, gating_channels: int, inter_channels: int | None = None,
                 sub_sample_factor: int = 2):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.gating_channels = check_positive_int(owner, "gating_channels", gating_channels)
        inter = check_optional_positive_int(owner, "inter_channels", inter_channels)
        self.inter_channels = max(self.in_channels // 2, 1) if inter is None else inter
        self.sub_sample_factor = check_positive_int(owner, "sub_sample_factor", sub_sample_factor)
        s = self.sub_sample_factor
        self.W = nn.Sequential(nn.Conv2d(self.in_channels, self.in_channels, 1),
                               nn.BatchNorm2d(self.in_channels))
        self.theta = nn.Conv2d(self.in_channels, self.inter_channels, s, stride=s, bias=False)
        self.phi = nn.Conv2d(self.gating_channels, self.inter_channels, 1)
        self.psi = nn.Conv2d(self.inter_channels, 1, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor, return_attention: bool = False):
        check_gate_inputs(type(self).__name__, x.shape, g.shape, self.in_channels,
                          self.gating_channels, "NCHW", channel_names=("in_channels", "gating_channels"),
                          min_size=self.sub_sample_factor,
                          reason=f"theta's kernel and stride sub_sample_factor={self.sub_sample_factor}")
        check_bool(type(self).__name__, "return_attention", return_attention)
        theta_x = self.theta(x)
        phi_g = _resize(self.phi(g), theta_x.shape[2:])
        q = self.psi(torch.relu(theta_x + phi_g))
        alpha = _resize(torch.sigmoid(q), x.shape[2:])
        y = self.W(alpha * x)
        return (y, {"attention": alpha}) if return_attention else y
