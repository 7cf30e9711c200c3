"""ResNet v1.5 with optional attention modules (TensorFlow / Keras 3, NHWC).

Structure and attribute names follow ``torchvision.models.resnet`` (and so
:mod:`vision_attention.torch.models.resnet`); the attention modules add weights under
``layerN.M.attention.*`` or ``bamN.*`` only. Every weight is created in the constructor.

How the layer tree is organised (what the parity layer walks to get canonical names):

* a layer's public attributes (``vars(layer)``, names not starting with ``_``) whose value is
  a ``keras.layers.Layer`` are its children, named by the attribute (``conv1``, ``bn1``,
  ``attention``, ``bam1``, ``fc``); ``None`` stands for an absent child (``attention`` for
  ``"none"``/``"bam"``, ``downsample`` in most blocks, ``bam1..3`` unless ``"bam"``);
* ``layer1`` .. ``layer4`` (blocks) and ``downsample`` (``[conv, bn]``) are plain Python
  lists, which Keras 3 wraps in a ``TrackedList`` (a ``list`` subclass); the list index is
  the name, so ``layer1[0].downsample[0]`` is ``layer1.0.downsample.0``;
* weight-free helpers (``relu``, ``maxpool``, ``avgpool`` as in torchvision, and the
  ``ZeroPadding2D`` layers ``conv1_pad``, ``maxpool_pad``, ``pad`` that reproduce PyTorch's
  symmetric padding) are attributes too; they have no variables and no canonical names.

Leaves are ``Conv2D`` (kernel HWIO), ``Dense`` (kernel ``(in, out)``), ``Conv1D`` (ECA,
``(K, I, O)``) and ``BatchNormalization`` (gamma, beta, moving_mean, moving_variance).
Every sub-layer's ``name`` equals its attribute name (or list index).
"""

from __future__ import annotations

from ..._checks import check_choice, check_odd_kernel_size, check_positive_int
from ...architectures import ATTENTION_TYPES, RESNET_DEPTHS, check_position
from ..._frameworks import import_tensorflow
from ..bam import BAM
from ..cbam import CBAM
from ..eca import ECA
from ..se import SEBlock

tf = import_tensorflow()
keras = tf.keras

def make_attention(attention_type: str, channels: int, reduction_ratio: int = 16,
                   kernel_size: int = 7, name: str = "attention") -> keras.layers.Layer | None:
    """Build the in-block attention layer for ``channels`` channels, or ``None``.

    ``"se"`` -> :class:`SEBlock` with ``reduction_ratio``; ``"cbam"`` -> :class:`CBAM` with
    ``reduction_ratio`` and spatial kernel ``kernel_size`` (16 and 7 in the paper);
    ``"eca"`` -> :class:`ECA` (kernel size from the channel count, Eq. (12) of ECA-Net; it uses
    neither argument). ``"none"`` and ``"bam"`` return ``None``: BAM is not an in-block module;
    the networks place it between stages themselves.
    ``name`` is the Keras layer name (the attribute name ``attention`` by default).

    Raises:
        ValueError: ``attention_type`` not one of :data:`ATTENTION_TYPES`; ``kernel_size`` not
            a positive odd integer; ``reduction_ratio`` invalid for ``channels``.
    """
    check_choice("make_attention", "attention_type", attention_type, ATTENTION_TYPES)
    check_odd_kernel_size("make_attention", kernel_size)
    if attention_type == "se":
        return SEBlock(channels, reduction_ratio, name=name)
    if attention_type == "eca":
        return ECA(channels, name=name)
    if attention_type == "cbam":
        return CBAM(channels, reduction_ratio, kernel_size, name=name)
    return None


def _residual_unit(block, x, residual, training):
    """Shared call of both blocks: ``residual`` is the block's branch ``F`` (a callable taking
    ``(x, training)``); the attention layer goes where ``block.position`` says (see :data:`POSITIONS`). ``block.downsample`` is ``None`` or ``[conv, bn]``."""
    attention, position = block.attention, block.position
    downsample = block.downsample
    identity = x if downsample is None else downsample[1](downsample[0](x), training=training)
    if attention is not None and position == "identity":
        identity = attention(identity, training=training)
    out = residual(attention(x, training=training) if attention is not None and position == "pre" else x, training)
    if attention is not None and position == "standard":
        out = attention(out, training=training)
    out = block.relu(out + identity)
    if attention is not None and position == "post":
        out = attention(out, training=training)
    return out


def _conv_initializer():
    """Kaiming normal, ``fan_out``, ReLU gain: torchvision's ``kaiming_normal_(mode="fan_out")``."""
    return keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="untruncated_normal")


def _batch_norm(name: str) -> keras.layers.BatchNormalization:
    """BatchNorm with PyTorch's defaults: ``epsilon=1e-5``, Keras ``momentum=0.9`` (PyTorch 0.1)."""
    return keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)


def _built(layer: keras.layers.Layer, in_channels: int) -> keras.layers.Layer:
    """Create ``layer``'s weights now, for NHWC inputs with ``in_channels`` channels."""
    layer.build((None, None, None, in_channels))
    return layer


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, name: str = "conv") -> keras.layers.Conv2D:
    """3x3 convolution, no bias (torchvision's ``conv3x3``), ``padding="valid"``.

    torchvision pads 1 on every side; Keras' ``padding="same"`` pads ``(0, 1)`` at stride 2
    on even sizes, so the blocks pad explicitly with ``ZeroPadding2D(1)`` before this conv.
    """
    conv = keras.layers.Conv2D(out_planes, 3, strides=stride, padding="valid", use_bias=False,
                               kernel_initializer=_conv_initializer(), name=name)
    return _built(conv, in_planes)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1, name: str = "conv") -> keras.layers.Conv2D:
    """1x1 convolution, no bias (torchvision's ``conv1x1``)."""
    conv = keras.layers.Conv2D(out_planes, 1, strides=stride, use_bias=False,
                               kernel_initializer=_conv_initializer(), name=name)
    return _built(conv, in_planes)


class BasicBlock(keras.layers.Layer):
    """Two 3x3 convs (ResNet-18/34); attention where ``position`` says (default ``"standard"``:
    on the second BN's output, before the addition; see
    :data:`~vision_attention.architectures.POSITIONS`).

    Input ``(B, H, W, inplanes)`` (NHWC); output ``(B, H / stride, W / stride, planes)``.
    BatchNorms: ``epsilon=1e-5``, Keras ``momentum=0.9`` (PyTorch's ``momentum=0.1``).
    ``pad`` (``ZeroPadding2D(1)``) reproduces the 3x3 convs' symmetric padding 1.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: list | None = None,
                 attention_type: str = "none", position: str = "standard", reduction_ratio: int = 16,
                 kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.position = check_position(type(self).__name__, position, attention_type)
        self.pad = keras.layers.ZeroPadding2D(1, name="pad")
        self.conv1 = conv3x3(inplanes, planes, stride, name="conv1")
        self.bn1 = _built(_batch_norm("bn1"), planes)
        self.relu = keras.layers.ReLU(name="relu")
        self.conv2 = conv3x3(planes, planes, name="conv2")
        self.bn2 = _built(_batch_norm("bn2"), planes)
        channels = inplanes if position == "pre" else planes * self.expansion
        self.attention = make_attention(attention_type, channels, reduction_ratio, kernel_size)
        self.downsample = downsample
        self.built = True

    def _branch(self, x, training):
        out = self.relu(self.bn1(self.conv1(self.pad(x)), training=training))
        return self.bn2(self.conv2(self.pad(out)), training=training)

    def call(self, x, training=None):
        return _residual_unit(self, x, self._branch, training)


class Bottleneck(keras.layers.Layer):
    """1x1 reduce, 3x3 (carrying the stride: v1.5), 1x1 expand x4; attention before the addition.

    With ``position="standard"`` (the default) the attention layer sees the third BN's output
    (``planes * 4`` channels) and its result is added to the shortcut, as in the official SENet
    (``SE-ResNet-50.prototxt``), CBAM (``MODELS/model_resnet.py``) and ECA-Net
    (``models/eca_resnet.py``) code; the other positions are SENet's alternatives
    (:data:`~vision_attention.architectures.POSITIONS`). Input
    ``(B, H, W, inplanes)`` (NHWC); output ``(B, H / stride, W / stride, planes * 4)``.
    BatchNorms: ``epsilon=1e-5``, Keras ``momentum=0.9`` (PyTorch's ``momentum=0.1``).
    ``pad`` (``ZeroPadding2D(1)``) reproduces the 3x3 conv's symmetric padding 1.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: list | None = None,
                 attention_type: str = "none", position: str = "standard", reduction_ratio: int = 16,
                 kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.position = check_position(type(self).__name__, position, attention_type)
        self.conv1 = conv1x1(inplanes, planes, name="conv1")
        self.bn1 = _built(_batch_norm("bn1"), planes)
        self.pad = keras.layers.ZeroPadding2D(1, name="pad")
        self.conv2 = conv3x3(planes, planes, stride, name="conv2")
        self.bn2 = _built(_batch_norm("bn2"), planes)
        self.conv3 = conv1x1(planes, planes * self.expansion, name="conv3")
        self.bn3 = _built(_batch_norm("bn3"), planes * self.expansion)
        self.relu = keras.layers.ReLU(name="relu")
        channels = inplanes if position == "pre" else planes * self.expansion
        self.attention = make_attention(attention_type, channels, reduction_ratio, kernel_size)
        self.downsample = downsample
        self.built = True

    def _branch(self, x, training):
        out = self.relu(self.bn1(self.conv1(x), training=training))
        out = self.relu(self.bn2(self.conv2(self.pad(out)), training=training))
        return self.bn3(self.conv3(out), training=training)

    def call(self, x, training=None):
        return _residual_unit(self, x, self._branch, training)


class AttentionResNet(keras.Model):
    """ResNet v1.5 (torchvision layout) with SE, ECA or CBAM in every block, or BAM between stages.

    Placement, following each paper's official code:

    * ``"se"``, ``"eca"``, ``"cbam"``: attribute ``attention`` in every block, applied to the
      block's last BN output before the residual addition by default (``position="standard"``;
      the alternatives: :data:`~vision_attention.architectures.POSITIONS`) (SENet Fig. 3; CBAM Fig. 3;
      ECA-Net ``eca_resnet.py``).
    * ``"bam"``: top-level ``bam1``, ``bam2``, ``bam3`` after ``layer1``, ``layer2``, ``layer3``,
      i.e. at the three stage transitions where the next stage downsamples (BAM paper Sec. 3,
      Fig. 1; ``Jongchan/attention-module`` ``MODELS/model_resnet.py``). They are ``None``
      for the other types, as ``attention`` is ``None`` in every block for ``"none"``/``"bam"``.

    Input ``(B, H, W, 3)`` float32 (NHWC, H and W >= 32 so layer4 is at least 1x1);
    output logits ``(B, num_classes)`` float32. Call with ``training=True`` to use batch
    statistics in BatchNorm (and update the moving ones); the default is inference.

    Keras differences: ``fc`` is ``Dense`` (kernel ``(512 * expansion, num_classes)``); conv
    kernels are HWIO; BatchNorm statistics are ``moving_mean`` / ``moving_variance``.
    PyTorch's symmetric padding of the 7x7 stem conv, of the strided 3x3 convs and of the max
    pool is done by explicit ``ZeroPadding2D`` layers followed by ``padding="valid"``
    (Keras' ``"same"`` pads ``(0, 1)`` at stride 2 on even sizes, which shifts every window).
    The backbone convs get torchvision's initialisation (kaiming normal, ``fan_out``); the
    attention layers keep Keras' default initialisers (glorot uniform).
    """

    def __init__(self, depth: int = 50, attention_type: str = "none", num_classes: int = 1000,
                 position: str = "standard", reduction_ratio: int = 16, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
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

        self.conv1_pad = keras.layers.ZeroPadding2D(3, name="conv1_pad")
        self.conv1 = _built(keras.layers.Conv2D(64, 7, strides=2, padding="valid", use_bias=False,
                                                kernel_initializer=_conv_initializer(), name="conv1"), 3)
        self.bn1 = _built(_batch_norm("bn1"), 64)
        self.relu = keras.layers.ReLU(name="relu")
        # Padding with zeros instead of -inf is exact here: the pool's input is post-ReLU (>= 0)
        # and every 3x3 window holds at least one real value.
        self.maxpool_pad = keras.layers.ZeroPadding2D(1, name="maxpool_pad")
        self.maxpool = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="maxpool")
        self.layer1 = self._make_layer(block, 64, blocks[0], 1, attention_type)
        self.layer2 = self._make_layer(block, 128, blocks[1], 2, attention_type)
        self.layer3 = self._make_layer(block, 256, blocks[2], 2, attention_type)
        self.layer4 = self._make_layer(block, 512, blocks[3], 2, attention_type)
        # (position, reduction_ratio and kernel_size reach every block through _make_layer.)
        use_bam = attention_type == "bam"
        e = block.expansion
        self.bam1 = BAM(64 * e, name="bam1") if use_bam else None
        self.bam2 = BAM(128 * e, name="bam2") if use_bam else None
        self.bam3 = BAM(256 * e, name="bam3") if use_bam else None
        self.avgpool = keras.layers.GlobalAveragePooling2D(name="avgpool")
        self.fc = keras.layers.Dense(num_classes, name="fc")
        self.fc.build((None, 512 * e))
        self.built = True

    def _make_layer(self, block, planes: int, blocks: int, stride: int, attention_type: str) -> list:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = [
                conv1x1(self.inplanes, planes * block.expansion, stride, name="0"),
                _built(_batch_norm("1"), planes * block.expansion),
            ]
        options = dict(position=self.position, reduction_ratio=self.reduction_ratio, kernel_size=self.kernel_size)
        layers = [block(self.inplanes, planes, stride, downsample, attention_type, name="0", **options)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, 1, None, attention_type, name=str(i), **options)
                   for i in range(1, blocks)]
        return layers

    def call(self, x, training=None):
        x = self.relu(self.bn1(self.conv1(self.conv1_pad(x)), training=training))
        x = self.maxpool(self.maxpool_pad(x))
        stages = ((self.layer1, self.bam1), (self.layer2, self.bam2), (self.layer3, self.bam3), (self.layer4, None))
        for layer, bam in stages:
            for block in layer:
                x = block(x, training=training)
            if bam is not None:
                x = bam(x, training=training)
        return self.fc(self.avgpool(x))


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
        An :class:`AttentionResNet` with all weights created, randomly initialised (Keras'
        random stream, so not the PyTorch values); it takes NHWC input. Weights are never
        downloaded; load canonical weights through the parity layer.

    Raises:
        ValueError: ``depth``, ``attention_type``, ``num_classes``, ``position``,
            ``reduction_ratio`` or ``kernel_size`` invalid (the message names the argument,
            the accepted values and the value given).
    """
    return AttentionResNet(depth, attention_type, num_classes, position, reduction_ratio, kernel_size)
