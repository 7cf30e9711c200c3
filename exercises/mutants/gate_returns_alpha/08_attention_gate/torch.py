"""Exercise 08 (PyTorch): the forward pass of Attention U-Net's additive attention gate."""

import torch
from torch import nn


class AttentionGate(nn.Module):
    """Additive attention gate of Attention U-Net as the study notes write it (Oktay et al.,
    "Attention U-Net: Learning Where to Look for the Pancreas", MIDL 2018, Eq. (1)-(2), with
    BatchNorm after each projection as in ``LeeJunHyun/Image_Segmentation``'s
    ``Attention_block``).

    The gating signal ``g`` (coarser, from the decoder) decides where the skip features ``x``
    pass::

        alpha = sigmoid(BN(psi(relu(up(BN(W_g g)) + BN(W_x x)))))     (B, 1, H, W), in (0, 1)
        y     = x * alpha                                            (B, F_l, H, W)

    The constructor is written for you; the grader loads its weights into these attributes
    (keep their names):

    * ``W_g``: ``nn.Sequential(nn.Conv2d(F_g, F_int, 1), nn.BatchNorm2d(F_int))``: ``W_g.0``
      with weight ``(F_int, F_g, 1, 1)`` and bias ``(F_int,)``; ``W_g.1`` with ``weight``,
      ``bias``, ``running_mean``, ``running_var``, each ``(F_int,)``;
    * ``W_x``: the same from ``F_l`` to ``F_int`` channels (weight ``(F_int, F_l, 1, 1)``);
    * ``psi``: ``nn.Sequential(nn.Conv2d(F_int, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())``:
      ``psi.0`` with weight ``(1, F_int, 1, 1)`` and bias ``(1,)``, ``psi.1`` a BatchNorm of
      one channel, ``psi.2`` the sigmoid (no weights).

    Every BatchNorm has ``eps=1e-5`` (``momentum=0.1``). The grader calls the module in
    inference mode (``.eval()``), so they normalise with their running statistics.

    Forward, for ``x`` of shape ``(B, F_l, H, W)`` and ``g`` of shape ``(B, F_g, h, w)``,
    float32 (NCHW), with ``h <= H`` and ``w <= W``:

    1. ``g1 = W_g(g)``, shape ``(B, F_int, h, w)``; when ``(h, w) != (H, W)``, resample it to
       ``(H, W)`` **bilinearly with half-pixel centres** (``align_corners=False``);
    2. ``x1 = W_x(x)``, shape ``(B, F_int, H, W)``;
    3. ``alpha = psi(relu(g1 + x1))``, shape ``(B, 1, H, W)``;
    4. ``y = x * alpha`` (``alpha`` broadcast over the ``F_l`` channels).

    Resampling ``g`` before ``W_g`` instead of after gives the same result (a 1x1 convolution
    and an inference-mode BatchNorm act on each position alone, and the bilinear weights of
    every output position sum to 1), so either order is accepted.

    With ``return_attention=True`` return the pair ``(y, alpha)``; otherwise ``y`` alone.

    Args:
        F_g: channels of the gating signal ``g``.
        F_l: channels of the skip features ``x``.
        F_int: channels of the intermediate projection.
    """

    def __init__(self, F_g: int, F_l: int, F_int: int):
        super().__init__()
        self.F_g, self.F_l, self.F_int = F_g, F_l, F_int
        self.W_g = nn.Sequential(nn.Conv2d(F_g, F_int, 1), nn.BatchNorm2d(F_int, eps=1e-5, momentum=0.1))
        self.W_x = nn.Sequential(nn.Conv2d(F_l, F_int, 1), nn.BatchNorm2d(F_int, eps=1e-5, momentum=0.1))
        self.psi = nn.Sequential(nn.Conv2d(F_int, 1, 1), nn.BatchNorm2d(1, eps=1e-5, momentum=0.1),
                                 nn.Sigmoid())

    def forward(self, x: torch.Tensor, g: torch.Tensor, return_attention: bool = False):
        g1 = self.W_g(g)
        if g1.shape[2:] != x.shape[2:]:
            g1 = nn.functional.interpolate(g1, size=x.shape[2:], mode="bilinear", align_corners=False)
        alpha = self.psi(torch.relu(g1 + self.W_x(x)))  # (B, 1, H, W)
        y = alpha
        return (y, alpha) if return_attention else y
