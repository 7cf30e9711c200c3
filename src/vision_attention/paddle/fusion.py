"""Multi-scale feature fusion for image-quality regression (PaddlePaddle, NCHW): the IQA fusion
note's ``MultiScaleAttention``, its two ablation siblings and a small quality head.

Mirrors :mod:`vision_attention.torch.fusion` (same classes, arguments, defaults and parameter
names; Paddle's ``Linear`` keeps its weight as ``(in, out)``, the parity layer converts).
``MultiScaleBackbone`` and ``BACKBONE_STAGES`` are PyTorch-only: the stage maps come from
torchvision's Swin-T or our PyTorch MobileNetV2 and are computed once, in PyTorch; the fusion
modules here take them as arrays.
"""

from __future__ import annotations

from .._checks import check_bool, check_choice, check_feature_map, check_positive_int
from .._frameworks import import_paddle
from .._fusion_common import (FUSIONS, SWIN_T_CHANNELS, check_dropout, check_stage_channels, check_stage_inputs,
                              fused_channels, unpack_stages)

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional

__all__ = ["MultiScaleAttention", "MultiScaleConcat", "SingleScale", "QualityHead", "MultiScaleIQA"]


class _StageFusion(nn.Layer):
    """Shared part of the three fusion modules: the checks and the pooling of every stage."""

    def __init__(self, in_channels=SWIN_T_CHANNELS, pool_size: int = 7):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = check_stage_channels(owner, in_channels)
        self.pool_size = check_positive_int(owner, "pool_size", pool_size)
        self.out_channels = fused_channels(self.kind, self.in_channels)

    def _pooled(self, features: tuple) -> list:
        """Check the stage maps, then average-pool each to ``pool_size x pool_size`` (window and
        stride ``(H / p, W / p)``; a map already ``p x p`` is passed through)."""
        features = unpack_stages(features)
        check_stage_inputs(type(self).__name__, [tuple(f.shape) for f in features], self.in_channels,
                           self.pool_size, "NCHW")
        p = self.pool_size
        pooled = []
        for f in features:
            h, w = int(f.shape[2]), int(f.shape[3])
            window = (h // p, w // p)
            pooled.append(f if (h, w) == (p, p) else F.avg_pool2d(f, window, stride=window))
        return pooled


class MultiScaleAttention(_StageFusion):
    """Attention-weighted multi-scale fusion, as the IQA fusion note defines it.

    Each of the ``S`` stage maps ``f_i`` is average-pooled to ``pool_size x pool_size``; the
    global average of the last stage drives a two-layer MLP whose softmax gives one weight
    per stage, and the scaled maps are concatenated:

    ``w = softmax(W_2 dropout(relu(W_1 GAP(f_{S-1}) + b_1)) + b_2)``, ``(B, S)``, rows sum to 1;
    ``y = concat_i(w_i * pool(f_i))`` along the channel axis (1),
    ``(B, sum(in_channels), pool_size, pool_size)``.

    The MLP is ``attention_net`` = ``Sequential(Linear(C_last, hidden), ReLU, Dropout(dropout),
    Linear(hidden, S))`` (sublayers ``0`` and ``3`` hold the weights; Paddle's ``Linear`` weight
    is ``(in, out)``, PyTorch's ``(out, in)``), the note's ``attention_net``. It has
    ``C_last * hidden + hidden + hidden * S + S`` parameters: 197,892 with the defaults, not
    the note's 197,632, which leaves out both biases. The note's setting is HyperIQA (Su et al.,
    "Blindly Assess Image Quality in the Wild Guided by a Self-Adaptive Hyper Network", CVPR
    2020; official code SSL92/hyperIQA ``models.py``) on a Swin-T trunk; this module is the
    note's, not part of HyperIQA. Deliberate difference: the note pools with
    ``adaptive_avg_pool2d``; we require sizes that ``pool_size`` divides, where adaptive pooling
    is a plain ``(H/p) x (W/p)`` average that the three frameworks compute identically.
    Dropout is Paddle's ``upscale_in_train`` (PyTorch's convention), active in training only.

    Args:
        in_channels: channels of each stage, finest first (Swin-T's ``(96, 192, 384, 768)``).
        hidden: width of the MLP's hidden layer.
        dropout: dropout probability after the ReLU, in ``[0, 1)``.
        pool_size: side of the pooled maps.

    Input:
        ``S`` stage maps ``(B, in_channels[i], H_i, W_i)`` float32 (NCHW), ``H_i`` and ``W_i``
        divisible by ``pool_size``; positionally (``m(f0, f1, f2, f3)``) or as one list.

    Returns:
        ``(B, sum(in_channels), pool_size, pool_size)``; with ``return_attention=True`` also
        ``{"scale_weights": w}``, ``w`` of shape ``(B, S)``.

    Raises:
        ValueError: bad constructor arguments; ``return_attention`` not a bool; another number
            of stage maps than ``len(in_channels)``, a map that is not 4-D, has other channels
            than declared, another batch size, or a size ``pool_size`` does not divide.
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
        w = F.softmax(self.attention_net(pooled[-1].mean(axis=[2, 3])), axis=1)  # (B, S)
        y = paddle.concat([f * w[:, i].reshape([-1, 1, 1, 1]) for i, f in enumerate(pooled)], axis=1)
        return (y, {"scale_weights": w}) if return_attention else y


class MultiScaleConcat(_StageFusion):
    """The IQA fusion note's baseline: every stage average-pooled to ``pool_size x pool_size``
    and concatenated along the channel axis, with the same weight for every image.

    Input and errors as :class:`MultiScaleAttention` (NCHW); output
    ``(B, sum(in_channels), p, p)``. No parameters.
    """

    kind = "concat"

    def forward(self, *features):
        return paddle.concat(self._pooled(features), axis=1)


class SingleScale(_StageFusion):
    """The single-scale variant of the note's ablation: the last stage alone, pooled to
    ``pool_size x pool_size``. Takes all ``S`` stage maps (checked like
    :class:`MultiScaleAttention`'s) so the three variants are interchangeable; output
    ``(B, in_channels[-1], p, p)`` (NCHW). No parameters."""

    kind = "single"

    def forward(self, *features):
        return self._pooled(features)[-1]


_FUSION_CLASSES = {cls.kind: cls for cls in (MultiScaleAttention, MultiScaleConcat, SingleScale)}


class QualityHead(nn.Layer):
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
        self.conv = nn.Conv2D(self.in_channels, self.hidden, 1)
        self.fc = nn.Linear(self.hidden, 1)

    def forward(self, x):
        check_feature_map(type(self).__name__, tuple(x.shape), self.in_channels, "NCHW")
        return self.fc(F.relu(self.conv(x)).mean(axis=[2, 3]))


class MultiScaleIQA(nn.Layer):
    """A quality regressor on multi-scale stage maps: ``head(fusion(f_0, ..., f_{S-1}))``.

    ``fusion`` is the one switch of the IQA fusion note's ablation (``FUSIONS``):
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
        ValueError: an unknown ``fusion``; ``return_attention`` not a bool; errors of the fusion
            module and the head.
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
