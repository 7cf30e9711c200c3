"""Bottleneck Attention Module (PaddlePaddle): channel and spatial branches in parallel."""

from __future__ import annotations

from .._checks import check_feature_map, check_positive_int, check_reduction_ratio
from .._frameworks import import_paddle

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional


class BAMChannelGate(nn.Layer):
    """BAM's channel branch: ``Mc = fc2(relu(BN(fc1(avgpool(x)))))``, shape ``(B, C, 1, 1)``.

    Park et al., "BAM: Bottleneck Attention Module", BMVC 2018, Eq. (2); official code
    ``Jongchan/attention-module`` (``MODELS/bam.py``, ``ChannelGate`` with one hidden layer:
    ``Linear`` with bias, ``BatchNorm1d``, ``ReLU``, ``Linear`` with bias). The paper's Eq. (2)
    writes the BatchNorm around the whole MLP; we follow the official code, which puts it on
    the hidden layer. Returns logits (no sigmoid): BAM adds them to the spatial logits.

    Paddle layout note: ``Linear`` weights are ``(in, out)``; ``BatchNorm1D`` (``eps=1e-5``,
    Paddle ``momentum=0.9`` = PyTorch's default 0.1) keeps ``_mean`` / ``_variance``.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16):
        super().__init__()
        hidden = in_channels // reduction_ratio
        self.fc1 = nn.Linear(in_channels, hidden)
        self.bn = nn.BatchNorm1D(hidden, momentum=0.9, epsilon=1e-5)
        self.fc2 = nn.Linear(hidden, in_channels)

    def forward(self, x):
        z = x.mean(axis=(2, 3))
        return self.fc2(F.relu(self.bn(self.fc1(z))))[:, :, None, None]


class BAMSpatialGate(nn.Layer):
    """BAM's spatial branch: 1x1 reduce, two dilated 3x3 convs, 1x1 to one map ``(B, 1, H, W)``.

    Park et al., BMVC 2018, Eq. (3); official ``SpatialGate``: every conv has a bias, each
    of the first three is followed by BatchNorm and ReLU (the paper's Eq. (3) writes one
    BatchNorm at the end; we follow the official code), dilation ``d`` with padding ``d``
    keeps ``H x W``. Returns logits (no sigmoid). BatchNorms: ``eps=1e-5``, Paddle
    ``momentum=0.9`` (= PyTorch 0.1).
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16, dilation: int = 4):
        super().__init__()
        hidden = in_channels // reduction_ratio
        self.reduce_conv = nn.Conv2D(in_channels, hidden, 1)
        self.reduce_bn = nn.BatchNorm2D(hidden, momentum=0.9, epsilon=1e-5)
        self.dilated_conv1 = nn.Conv2D(hidden, hidden, 3, padding=dilation, dilation=dilation)
        self.dilated_bn1 = nn.BatchNorm2D(hidden, momentum=0.9, epsilon=1e-5)
        self.dilated_conv2 = nn.Conv2D(hidden, hidden, 3, padding=dilation, dilation=dilation)
        self.dilated_bn2 = nn.BatchNorm2D(hidden, momentum=0.9, epsilon=1e-5)
        self.final_conv = nn.Conv2D(hidden, 1, 1)

    def forward(self, x):
        h = F.relu(self.reduce_bn(self.reduce_conv(x)))
        h = F.relu(self.dilated_bn1(self.dilated_conv1(h)))
        h = F.relu(self.dilated_bn2(self.dilated_conv2(h)))
        return self.final_conv(h)


class BAM(nn.Layer):
    """Bottleneck Attention Module: channel and spatial branches in parallel.

    ``M = sigmoid(Mc(x) + Ms(x))`` (broadcast to ``(B, C, H, W)``), ``y = x + x * M``;
    Park et al., BMVC 2018, Eq. (1)-(4), reduction ratio 16 and dilation 4 as in the paper.

    Deliberate difference from the official code: ``Jongchan/attention-module``
    (``MODELS/bam.py``) computes ``1 + sigmoid(Mc * Ms)``, a *product* of the branches,
    while the paper's Eq. (1) and its discussion of combination strategies (Table 1(c):
    element-wise summation performs best) use the *sum*. The paper is explicit, so we
    follow it; the chapter shows both.

    Args:
        in_channels: number of input channels ``C``.
        reduction_ratio: bottleneck ratio ``r`` of both branches.
        dilation: dilation ``d`` of the two 3x3 convs in the spatial branch.

    Input:
        x: ``(B, C, H, W)`` float tensor (NCHW).

    Returns:
        ``y`` like ``x``; with ``return_attention=True`` also a dict with
        ``"channel"``: ``Mc`` logits ``(B, C, 1, 1)``, ``"spatial"``: ``Ms`` logits
        ``(B, 1, H, W)`` and ``"attention"``: ``M`` in (0, 1), ``(B, C, H, W)``.

    Raises:
        ValueError: bad ``in_channels``, ``reduction_ratio`` or ``dilation``; input not 4-D
            or with a channel count other than ``in_channels``.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16, dilation: int = 4):
        super().__init__()
        owner = type(self).__name__
        self.in_channels, self.reduction_ratio = check_reduction_ratio(owner, in_channels, reduction_ratio)
        self.dilation = check_positive_int(owner, "dilation", dilation)
        self.channel_gate = BAMChannelGate(self.in_channels, self.reduction_ratio)
        self.spatial_gate = BAMSpatialGate(self.in_channels, self.reduction_ratio, self.dilation)

    def forward(self, x, return_attention: bool = False):
        check_feature_map(type(self).__name__, x.shape, self.in_channels, "NCHW")
        mc = self.channel_gate(x)
        ms = self.spatial_gate(x)
        m = F.sigmoid(mc + ms)
        y = x + x * m
        return (y, {"channel": mc, "spatial": ms, "attention": m}) if return_attention else y
