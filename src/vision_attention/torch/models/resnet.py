"""ResNet v1.5 with optional attention modules (PyTorch, NCHW).

Structure and attribute names follow ``torchvision.models.resnet`` exactly, so a local
torchvision checkpoint loads by name (see :func:`vision_attention.torch.models.load_pretrained`);
the attention modules add parameters under ``layerN.M.attention.*`` or ``bamN.*`` only.
"""

from __future__ import annotations

import torch
from torch import nn

from ..._checks import check_choice, check_odd_kernel_size, check_positive_int
from ...architectures import ATTENTION_TYPES, RESNET_DEPTHS, check_position
from ..bam import BAM
from ..cbam import CBAM
from ..eca import ECA
from ..se import SEBlock

def make_attention(attention_type: str, channels: int, reduction_ratio: int = 16,
                   kernel_size: int = 7) -> nn.Module | None:
    """Build the in-block attention module for ``channels`` channels, or ``None``.

    ``"se"`` -> :class:`SEBlock` with ``reduction_ratio``; ``"cbam"`` -> :class:`CBAM` with
    ``reduction_ratio`` and spatial kernel ``kernel_size`` (16 and 7 in the paper);
    ``"eca"`` -> :class:`ECA` (kernel size from the channel count, Eq. (12) of ECA-Net; it uses
    neither argument). ``"none"`` and ``"bam"`` return ``None``: BAM is not an in-block module;
    the networks place it between stages themselves.

    Raises:
        ValueError: ``attention_type`` not one of :data:`ATTENTION_TYPES`; ``kernel_size`` not
            a positive odd integer; ``reduction_ratio`` invalid for ``channels``.
    """
    check_choice("make_attention", "attention_type", attention_type, ATTENTION_TYPES)
    check_odd_kernel_size("make_attention", kernel_size)
    if attention_type == "se":
        return SEBlock(channels, reduction_ratio)
    if attention_type == "eca":
        return ECA(channels)
    if attention_type == "cbam":
        return CBAM(channels, reduction_ratio, kernel_size)
    return None


def _residual_unit(block, x: torch.Tensor, residual) -> torch.Tensor:
    """Shared forward of both blocks: ``residual`` is the block's branch ``F`` (a callable);
    the attention module goes where ``block.position`` says (see :data:`POSITIONS`)."""
    attention, position = block.attention, block.position
    identity = x if block.downsample is None else block.downsample(x)
    if attention is not None and position == "identity":
        identity = attention(identity)
    out = residual(attention(x) if attention is not None and position == "pre" else x)
    if attention is not None and position == "standard":
        out = attention(out)
    out = block.relu(out + identity)
    if attention is not None and position == "post":
        out = attention(out)
    return out


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (torchvision's ``conv3x3``)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias (torchvision's ``conv1x1``)."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34); attention where ``position`` says (default ``"standard"``:
    on the second BN's output, before the addition; see
    :data:`~vision_attention.architectures.POSITIONS`)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 attention_type: str = "none", position: str = "standard", reduction_ratio: int = 16,
                 kernel_size: int = 7):
        super().__init__()
        self.position = check_position(type(self).__name__, position, attention_type)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        channels = inplanes if position == "pre" else planes * self.expansion
        self.attention = make_attention(attention_type, channels, reduction_ratio, kernel_size)
        self.downsample = downsample

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _residual_unit(self, x, self._branch)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride: v1.5), 1x1 expand x4; attention before the addition.

    With ``position="standard"`` (the default) the attention module sees the third BN's output
    (``planes * 4`` channels) and its result is added to the shortcut, as in the official SENet
    (``SE-ResNet-50.prototxt``), CBAM (``MODELS/model_resnet.py``) and ECA-Net
    (``models/eca_resnet.py``) code; the other positions are SENet's alternatives
    (:data:`~vision_attention.architectures.POSITIONS`).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 attention_type: str = "none", position: str = "standard", reduction_ratio: int = 16,
                 kernel_size: int = 7):
        super().__init__()
        self.position = check_position(type(self).__name__, position, attention_type)
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        channels = inplanes if position == "pre" else planes * self.expansion
        self.attention = make_attention(attention_type, channels, reduction_ratio, kernel_size)
        self.downsample = downsample

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _residual_unit(self, x, self._branch)


class AttentionResNet(nn.Module):
    """ResNet v1.5 (torchvision layout) with SE, ECA or CBAM in every block, or BAM between stages.

    Placement, following each paper's official code:

    * ``"se"``, ``"eca"``, ``"cbam"``: attribute ``attention`` in every block, applied to the
      block's last BN output before the residual addition by default (``position="standard"``;
      the alternatives: :data:`~vision_attention.architectures.POSITIONS`) (SENet Fig. 3; CBAM Fig. 3;
      ECA-Net ``models/eca_resnet.py``). ECA kernel sizes come from Eq. (12): 5, 5, 5, 7 in
      the four stages of ResNet-50 (256...2048 channels), 86 parameters in all; the official
      ImageNet model was trained with 3, 5, 5, 7 (README: ``--ksize 3557``), the paper's
      "80 parameters".
    * ``"bam"``: top-level ``bam1``, ``bam2``, ``bam3`` after ``layer1``, ``layer2``, ``layer3``,
      i.e. at the three stage transitions where the next stage downsamples (BAM paper Sec. 3,
      Fig. 1; ``Jongchan/attention-module`` ``MODELS/model_resnet.py``). They are ``None``
      for the other types, as ``attention`` is ``None`` in every block for ``"none"``/``"bam"``.

    Input ``(B, 3, H, W)`` float32 (NCHW, H and W >= 32 so layer4 is at least 1x1);
    output logits ``(B, num_classes)`` float32.
    """

    def __init__(self, depth: int = 50, attention_type: str = "none", num_classes: int = 1000,
                 position: str = "standard", reduction_ratio: int = 16, kernel_size: int = 7):
        super().__init__()
        check_choice("attention_resnet", "depth", depth, tuple(RESNET_DEPTHS))
        check_choice("attention_resnet", "attention_type", attention_type, ATTENTION_TYPES)
        num_classes = check_positive_int("attention_resnet", "num_classes", num_classes)
        check_position("attention_resnet", position, attention_type)
        reduction_ratio = check_positive_int("attention_resnet", "reduction_ratio", reduction_ratio)
        check_odd_kernel_size("attention_resnet", kernel_size)
        kind, blocks = RESNET_DEPTHS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.depth, self.attention_type, self.position = depth, attention_type, position
        self.reduction_ratio, self.kernel_size = reduction_ratio, kernel_size
        self.inplanes = 64

        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, blocks[0], 1, attention_type)
        self.layer2 = self._make_layer(block, 128, blocks[1], 2, attention_type)
        self.layer3 = self._make_layer(block, 256, blocks[2], 2, attention_type)
        self.layer4 = self._make_layer(block, 512, blocks[3], 2, attention_type)
        # (position, reduction_ratio and kernel_size reach every block through _make_layer.)
        use_bam = attention_type == "bam"
        e = block.expansion
        self.bam1 = BAM(64 * e) if use_bam else None
        self.bam2 = BAM(128 * e) if use_bam else None
        self.bam3 = BAM(256 * e) if use_bam else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * e, num_classes)

        # torchvision's initialisation; the attention modules' own layers get it too.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int, attention_type: str) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        options = dict(position=self.position, reduction_ratio=self.reduction_ratio, kernel_size=self.kernel_size)
        layers = [block(self.inplanes, planes, stride, downsample, attention_type, **options)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, 1, None, attention_type, **options) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        layers = (self.layer1, self.layer2, self.layer3, self.layer4)
        for layer, bam in zip(layers, (self.bam1, self.bam2, self.bam3, None)):
            x = layer(x)
            if bam is not None:
                x = bam(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def attention_resnet(depth: int = 50, attention_type: str = "none", num_classes: int = 1000,
                     position: str = "standard", reduction_ratio: int = 16,
                     kernel_size: int = 7) -> AttentionResNet:
    """Build a ResNet of ``depth`` (18, 34, 50, 101, 152) with ``attention_type`` attention.

    Args:
        depth: 18 or 34 (basic blocks), 50, 101 or 152 (bottleneck blocks).
        attention_type: ``"none"``, ``"se"``, ``"eca"``, ``"cbam"`` or ``"bam"``
            (placement: see :class:`AttentionResNet`).
        num_classes: size of the ``fc`` output.
        position: where the in-block module sits in each unit: ``"standard"`` (default, the
            papers'), ``"pre"``, ``"post"`` or ``"identity"`` (SENet TPAMI 2020, Sec. 6.5,
            Fig. 5; see :data:`vision_attention.architectures.POSITIONS`). Only ``"standard"``
            is accepted for ``"none"`` and ``"bam"``.
        reduction_ratio: ``r`` of SE's and CBAM's channel MLP (16 in both papers; ECA has
            none). It must not exceed the smallest channel count a module sees.
        kernel_size: CBAM's spatial-attention kernel ``k`` (7 in the paper), odd.

    Returns:
        An :class:`AttentionResNet` in training mode, randomly initialised (torchvision's
        initialisation). Weights are never downloaded; use
        :func:`vision_attention.torch.models.load_pretrained` with a local file.

    Raises:
        ValueError: ``depth``, ``attention_type``, ``num_classes``, ``position``,
            ``reduction_ratio`` or ``kernel_size`` invalid (the message names the argument,
            the accepted values and the value given).
    """
    return AttentionResNet(depth, attention_type, num_classes, position, reduction_ratio, kernel_size)
