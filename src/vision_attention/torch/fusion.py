"""Multi-scale feature fusion for image-quality regression (PyTorch, NCHW): the IQA fusion note's
``MultiScaleAttention``, its two ablation siblings, a small quality head, and the stage
extractor of Swin-T and MobileNetV2."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_bool, check_choice, check_positive_int
from .._fusion_common import (FUSIONS, SWIN_T_CHANNELS, check_dropout, check_stage_channels, check_stage_inputs,
                              fused_channels, unpack_stages)

__all__ = ["MultiScaleAttention", "MultiScaleConcat", "SingleScale", "QualityHead", "MultiScaleIQA",
           "MultiScaleBackbone", "BACKBONE_STAGES"]


class _StageFusion(nn.Module):
    """Shared part of the three fusion modules: the checks and the pooling of every stage."""

    def __init__(self, in_channels=SWIN_T_CHANNELS, pool_size: int = 7):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = check_stage_channels(owner, in_channels)
        self.pool_size = check_positive_int(owner, "pool_size", pool_size)
        self.out_channels = fused_channels(self.kind, self.in_channels)

    def _pooled(self, features: tuple) -> list[torch.Tensor]:
        """Check the stage maps, then average-pool each to ``pool_size x pool_size``."""
        features = unpack_stages(features)
        check_stage_inputs(type(self).__name__, [f.shape for f in features], self.in_channels, self.pool_size,
                           "NCHW")
        p = self.pool_size
        return [f if tuple(f.shape[2:]) == (p, p) else F.avg_pool2d(f, (f.shape[2] // p, f.shape[3] // p))
                for f in features]


class MultiScaleAttention(_StageFusion):
    """Attention-weighted multi-scale fusion, as the IQA fusion note defines it.

    Each of the ``S`` stage maps ``f_i`` is average-pooled to ``pool_size x pool_size``; the
    global average of the last stage drives a two-layer MLP whose softmax gives one weight
    per stage, and the scaled maps are concatenated:

    ``w = softmax(W_2 dropout(relu(W_1 GAP(f_{S-1}) + b_1)) + b_2)``, ``(B, S)``, rows sum to 1;
    ``y = concat_i(w_i * pool(f_i))``, ``(B, sum(in_channels), pool_size, pool_size)``.

    The MLP is ``attention_net`` = ``Sequential(Linear(C_last, hidden), ReLU, Dropout(dropout),
    Linear(hidden, S))`` (indices 0 and 3 hold the weights), the note's ``attention_net``. It has
    ``C_last * hidden + hidden + hidden * S + S`` parameters: 197,892 with the defaults, not
    the note's 197,632, which leaves out both biases. The note's setting is HyperIQA (Su et al.,
    "Blindly Assess Image Quality in the Wild Guided by a Self-Adaptive Hyper Network", CVPR
    2020; official code SSL92/hyperIQA ``models.py``) on a Swin-T trunk; this module is the
    note's, not part of HyperIQA. Deliberate difference: the note pools with
    ``adaptive_avg_pool2d``; we require sizes that ``pool_size`` divides, where adaptive pooling
    is a plain ``(H/p) x (W/p)`` average that Paddle and Keras compute identically.

    Args:
        in_channels: channels of each stage, finest first (Swin-T's ``(96, 192, 384, 768)``).
        hidden: width of the MLP's hidden layer.
        dropout: dropout probability after the ReLU, in ``[0, 1)`` (active in training only).
        pool_size: side of the pooled maps.

    Input:
        ``S`` stage maps ``(B, in_channels[i], H_i, W_i)`` float32 (NCHW), ``H_i`` and ``W_i``
        divisible by ``pool_size``; positionally (``m(f0, f1, f2, f3)``) or as one list.

    Returns:
        ``(B, sum(in_channels), pool_size, pool_size)``; with ``return_attention=True`` also
        ``{"scale_weights": w}``, ``w`` of shape ``(B, S)``.

    Raises:
        ValueError: bad constructor arguments; another number of stage maps than
            ``len(in_channels)``, a map that is not 4-D, has other channels than declared, another
            batch size, or a size ``pool_size`` does not divide; a non-bool ``return_attention``.
    """

    kind = "attention"

    def __init__(self, in_channels=SWIN_T_CHANNELS, hidden: int = 256, dropout: float = 0.1, pool_size: int = 7):
        super().__init__(in_channels, pool_size)
        owner = type(self).__name__
        self.hidden = check_positive_int(owner, "hidden", hidden)
        self.dropout = check_dropout(owner, dropout)
        self.attention_net = nn.Sequential(
            nn.Linear(self.in_channels[-1], self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden, len(self.in_channels)),
        )

    def forward(self, *features, return_attention: bool = False):
        check_bool(type(self).__name__, "return_attention", return_attention)
        pooled = self._pooled(features)
        w = torch.softmax(self.attention_net(pooled[-1].mean(dim=(2, 3))), dim=1)  # (B, S)
        y = torch.cat([f * w[:, i, None, None, None] for i, f in enumerate(pooled)], dim=1)
        return (y, {"scale_weights": w}) if return_attention else y


class MultiScaleConcat(_StageFusion):
    """The IQA fusion note's baseline: every stage average-pooled to ``pool_size x pool_size``
    and concatenated, with the same weight for every image (``torch.cat(feats, dim=1)``).

    Input and errors as :class:`MultiScaleAttention`; output ``(B, sum(in_channels), p, p)``.
    No parameters.
    """

    kind = "concat"

    def forward(self, *features):
        return torch.cat(self._pooled(features), dim=1)


class SingleScale(_StageFusion):
    """The single-scale variant of the note's ablation: the last stage alone, pooled to
    ``pool_size x pool_size``. Takes all ``S`` stage maps (checked like
    :class:`MultiScaleAttention`'s) so the three variants are interchangeable; output
    ``(B, in_channels[-1], p, p)``. No parameters."""

    kind = "single"

    def forward(self, *features):
        return self._pooled(features)[-1]


_FUSION_CLASSES = {cls.kind: cls for cls in (MultiScaleAttention, MultiScaleConcat, SingleScale)}


class QualityHead(nn.Module):
    """A small quality-regression head: ``fc(GAP(relu(conv(x))))``, one score per image.

    ``conv`` is a 1x1 convolution ``in_channels -> hidden`` (with bias), then ReLU, global
    average pooling and ``fc`` = ``Linear(hidden, 1)``. Ours (documented, not the note's, which
    feeds HyperIQA's hyper network): on scaled stage maps the 1x1 convolution mixes
    ``sum_i w_i W_i f_i``, so the fusion weights change how much each stage contributes.

    Input ``(B, in_channels, H, W)`` float32 (NCHW); output ``(B, 1)``.

    Raises:
        ValueError: a non-positive ``in_channels`` / ``hidden``; an input that is not 4-D with
            ``in_channels`` channels.
    """

    def __init__(self, in_channels: int, hidden: int = 64):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.hidden = check_positive_int(owner, "hidden", hidden)
        self.conv = nn.Conv2d(self.in_channels, self.hidden, 1)
        self.fc = nn.Linear(self.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .._checks import check_feature_map

        check_feature_map(type(self).__name__, x.shape, self.in_channels, "NCHW")
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class MultiScaleIQA(nn.Module):
    """A quality regressor on multi-scale stage maps: ``head(fusion(f_0, ..., f_{S-1}))``.

    ``fusion`` is the one switch of the IQA fusion note's ablation (:data:`FUSIONS`):
    ``"attention"`` (:class:`MultiScaleAttention`), ``"concat"`` (:class:`MultiScaleConcat`)
    or ``"single"`` (:class:`SingleScale`); ``head`` is a :class:`QualityHead` on its output.

    Args:
        in_channels, hidden, dropout, pool_size: as :class:`MultiScaleAttention` (``hidden``
            and ``dropout`` are used by ``"attention"`` only).
        fusion: ``"attention"``, ``"concat"`` or ``"single"``.
        head_channels: hidden width of the :class:`QualityHead`.

    Input:
        ``S`` stage maps ``(B, in_channels[i], H_i, W_i)`` float32 (NCHW), as
        :class:`MultiScaleAttention`.

    Returns:
        scores ``(B, 1)``; with ``return_attention=True`` also a dict: ``{"scale_weights":
        (B, S)}`` for ``"attention"``, empty for the others (they weigh nothing).

    Raises:
        ValueError: an unknown ``fusion``; a non-positive ``hidden`` or ``head_channels`` or a
            ``dropout`` outside [0, 1) (checked for every fusion); a non-bool
            ``return_attention``; errors of the fusion module and the head.
    """

    def __init__(self, in_channels=SWIN_T_CHANNELS, fusion: str = "attention", hidden: int = 256,
                 dropout: float = 0.1, pool_size: int = 7, head_channels: int = 64):
        super().__init__()
        owner = type(self).__name__
        self.fusion_kind = check_choice(owner, "fusion", fusion, FUSIONS)
        # Checked here for every fusion (the siblings do not use them) and under this class's name.
        check_positive_int(owner, "hidden", hidden)
        check_dropout(owner, dropout)
        check_positive_int(owner, "head_channels", head_channels)
        if fusion == "attention":
            self.fusion = MultiScaleAttention(in_channels, hidden, dropout, pool_size)
        else:
            self.fusion = _FUSION_CLASSES[fusion](in_channels, pool_size)
        self.head = QualityHead(self.fusion.out_channels, head_channels)

    def forward(self, *features, return_attention: bool = False):
        check_bool(type(self).__name__, "return_attention", return_attention)
        if self.fusion_kind == "attention":
            fused, attention = self.fusion(*features, return_attention=True)
        else:
            fused, attention = self.fusion(*features), {}
        score = self.head(fused)
        return (score, attention) if return_attention else score


BACKBONE_STAGES = {
    "swin_t": ((1, 3, 5, 7), SWIN_T_CHANNELS),
    "mobilenet_v2": ((3, 6, 13, 17), (24, 32, 96, 320)),
}
"""``name -> (indices into the trunk's ``features``, channels)`` of the four stages
:class:`MultiScaleBackbone` returns: Swin-T's four stages (56, 28, 14, 7 pixels at 224 input,
NHWC inside torchvision) and MobileNetV2's last block at each of the same four resolutions
(``features.3``, ``.6``, ``.13``, ``.17``; ``features.18``, the 1x1 expansion to 1280 channels,
is the classifier's, not a stage)."""


class MultiScaleBackbone(nn.Module):
    """A frozen trunk returning its four stage maps, finest first, in NCHW.

    ``"swin_t"`` is torchvision's ``swin_t()`` built without weights (nothing is downloaded: for
    shapes and cost only); its stages ``features[1, 3, 5, 7]`` are NHWC and are permuted to NCHW.
    ``"mobilenet_v2"`` is :func:`vision_attention.torch.models.attention_mobilenet_v2` with
    ``pretrained`` (the bundled, SHA-256 verified ImageNet weights when ``True``).

    Input ``(B, 3, H, W)`` float32 (NCHW, ImageNet-normalised for the pretrained trunk; H and W
    multiples of 32); output a list of four maps ``(B, C_i, H / s_i, W / s_i)`` with
    ``C_i = BACKBONE_STAGES[name][1][i]`` and strides ``s = (4, 8, 16, 32)``. The module is put
    in eval mode and its parameters do not require gradients.

    Raises:
        ValueError: unknown ``name``; ``pretrained`` for ``"swin_t"`` (no weights ship offline);
            an input that is not ``(B, 3, H, W)`` with H and W multiples of 32.
    """

    def __init__(self, name: str = "mobilenet_v2", pretrained: bool = True):
        super().__init__()
        owner = type(self).__name__
        self.name = check_choice(owner, "name", name, tuple(BACKBONE_STAGES))
        check_bool(owner, "pretrained", pretrained)
        self.stage_indices, self.stage_channels = BACKBONE_STAGES[name]
        if name == "swin_t":
            if pretrained:
                raise ValueError(f"{owner}: argument 'pretrained' expected False for 'swin_t' (no Swin-T "
                                 f"weights ship offline; it serves shapes and cost only), got True")
            from torchvision.models import swin_t

            trunk = swin_t(weights=None)
        else:
            from .models import attention_mobilenet_v2

            trunk = attention_mobilenet_v2("none", pretrained=pretrained)
        self.features = trunk.features[: self.stage_indices[-1] + 1]
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):  # frozen: BatchNorm statistics never update
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        from .._checks import check_feature_map

        owner = type(self).__name__
        check_feature_map(owner, x.shape, 3, "NCHW")
        if x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"{owner}: argument 'x' expected a height and width that are multiples of 32, "
                             f"got {tuple(x.shape[2:])}")
        stages = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.stage_indices:
                stages.append(x.permute(0, 3, 1, 2).contiguous() if self.name == "swin_t" else x)
        return stages
