"""Vision backbones with one attention module before global pooling (TensorFlow / Keras 3, NHWC).

Mirrors :mod:`vision_attention.torch.backbones` (same names, arguments, defaults, outputs and
placement; read its module docstring for the placement, the alternative of a module in every
block, and the refusal of Transformers), in NHWC everywhere: images ``(B, H, W, 3)``, maps
``(B, h, w, C)``, spatial weights ``(B, h, w, 1)``. What TensorFlow builds
(:data:`vision_attention.architectures.FRAMEWORK_BACKBONES` ``["tensorflow"]``):

* ResNet (``resnet18`` ... ``resnet152``) and ``mobilenet_v2``: this package's networks
  (:func:`vision_attention.tensorflow.models.attention_resnet`, ``attention_mobilenet_v2``), the
  same structure and canonical names as PyTorch's, so canonical weights load into all three.
* ``keras.applications`` with ``include_top=False, weights=None`` for MobileNetV3Small/Large,
  EfficientNetB0-B7, EfficientNetV2S/M/L and ConvNeXtTiny/Small/Base/Large
  (:data:`~vision_attention.architectures.KERAS_APPLICATIONS`), with
  ``include_preprocessing=False`` where the builder has that switch (MobileNetV3,
  EfficientNetV2, ConvNeXt), so those take the input as given. **EfficientNetB0-B7 always
  rescale**: Keras builds ``Rescaling(1/255)`` and a ``Normalization`` layer (identity with
  ``weights=None``) into EfficientNet v1 with no switch, so its input is divided by 255 inside
  the network (torchvision's EfficientNet takes the normalised image as is). ConvNeXt with
  ``include_top=False`` ends in a per-position ``LayerNormalization`` that Keras always adds;
  it is cut off, so the map is the last stage's output, as in PyTorch (whose ``LayerNorm2d``
  belongs to the head). Their maps have torchvision's channel counts (576, 960, 1280 ... 2560,
  1280, 768 ... 1536: checked by tests/test_backbones.py); ``feature_dim`` is read from the
  built map. Keras' own layer names, so no canonical weights and no checkpoint path.
* Every other family raises ``ValueError``: Keras 3's ``keras.applications`` has no RegNet
  (``tf.keras`` 2.x had ``RegNetX002`` ... ``RegNetY320``), ViT, Swin or MaxViT.

``pretrained``: ``True`` for ``mobilenet_v2`` (the bundled torchvision ImageNet weights through
the canonical format), or the path of a PyTorch ``state_dict`` for ResNet / ``mobilenet_v2``
(converted through the canonical weights). Keras ``Dense`` kernels are ``(in, out)``;
:func:`class_activation_map` still takes the classifier weight as ``(num_classes, C)``
(``dense.kernel.T``).
"""

from __future__ import annotations

from .._backbone_common import (
    REDUCTIONS,
    RESIZE_MODES,
    check_cam_arguments,
    load_trunk_weights,
    check_float_dtype,
    check_supervision_shapes,
    check_unit_interval,
    resize_matrix,
)
from .._checks import check_bool, check_choice, check_feature_map
from .._frameworks import import_tensorflow
from ..architectures import FEATURE_DIMS, KERAS_APPLICATIONS, check_backbone_arguments
from .bam import BAM
from .models.resnet import attention_resnet, make_attention

tf = import_tensorflow()
keras = tf.keras

__all__ = ["VisionBackbone", "create_vision_backbone", "attention_supervision_loss", "class_activation_map"]

_PREPROCESSING_SWITCH = ("MobileNetV3", "EfficientNetV2", "ConvNeXt")


def _call(item, x, training):
    """Call a layer, or each layer of a (nested) list in turn."""
    if isinstance(item, (list, tuple)):
        for layer in item:
            x = _call(layer, x, training)
        return x
    return item(x, training=training)


class _ResNetTrunk(keras.layers.Layer):
    """This package's ResNet up to ``layer4`` (attribute names and call as
    :class:`vision_attention.tensorflow.models.AttentionResNet`, without ``avgpool``/``fc``)."""

    def __init__(self, network, **kwargs):
        super().__init__(**kwargs)
        self.conv1_pad, self.conv1, self.bn1 = network.conv1_pad, network.conv1, network.bn1
        self.relu, self.maxpool_pad, self.maxpool = network.relu, network.maxpool_pad, network.maxpool
        self.layer1, self.layer2 = list(network.layer1), list(network.layer2)
        self.layer3, self.layer4 = list(network.layer3), list(network.layer4)
        self.built = True

    def call(self, x, training=None):
        x = self.relu(self.bn1(self.conv1(self.conv1_pad(x)), training=training))
        x = self.maxpool(self.maxpool_pad(x))
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = _call(layer, x, training)
        return x


class _FeaturesTrunk(keras.layers.Layer):
    """A ``features`` list (MobileNetV2's, torchvision's name), applied in order."""

    def __init__(self, features, **kwargs):
        super().__init__(**kwargs)
        self.features = list(features)
        self.built = True

    def call(self, x, training=None):
        return _call(self.features, x, training)


def _build_trunk(name: str, family: str):
    """The layer (or functional model) up to the last feature map."""
    if family == "ResNet":
        return _ResNetTrunk(attention_resnet(int(name[len("resnet"):]), "none"), name="trunk")
    if name == "mobilenet_v2":
        from .models import attention_mobilenet_v2

        return _FeaturesTrunk(attention_mobilenet_v2("none").features, name="trunk")
    builder_name = KERAS_APPLICATIONS[name]
    kwargs = {"include_top": False, "weights": None, "input_shape": (None, None, 3)}
    if builder_name.startswith(_PREPROCESSING_SWITCH):
        kwargs["include_preprocessing"] = False
    app = getattr(keras.applications, builder_name)(**kwargs)
    if builder_name.startswith("ConvNeXt"):  # cut Keras' final per-position LayerNormalization
        app = keras.Model(app.inputs, app.layers[-1].input, name=app.name)
    return app


def _attention_layer(attention_type: str, channels: int):
    if attention_type == "bam":
        return BAM(channels, name="attention")
    return make_attention(attention_type, channels, name="attention")


class VisionBackbone(keras.Model):
    """A trunk, one optional attention module on its last map, global average pooling (Keras, NHWC).

    Same attributes, methods and outputs as :class:`vision_attention.torch.backbones.VisionBackbone`,
    in NHWC: ``name`` (also the Keras model name), ``family``, ``attention_type``,
    ``attention_supervision``, ``feature_dim`` (the channel count of the trunk's last map:
    torchvision's for every name TensorFlow builds), ``trunk``, ``attention``;
    :meth:`forward_features`, :meth:`forward_head`, and ``call`` (``model(x,
    return_intermediates=False, training=None)``). With ``return_intermediates=True``:
    ``{"features": (B, feature_dim), "feature_maps": (B, h, w, feature_dim) after the attention
    module, "attention_weights": (B, h, w, 1) or None}`` (CBAM's spatial map; BAM's
    spatial-branch probability ``sigmoid(Ms)``, not the exact weight ``sigmoid(Mc + Ms)`` it
    applies; ``None`` for SE, ECA and ``"none"``). ``training=True`` runs BatchNorm on batch
    statistics; the default is inference.
    """

    def __init__(self, name: str, attention_type: str = "none", enable_attention_supervision: bool = False,
                 pretrained=False, **kwargs):
        fam = check_backbone_arguments("tensorflow", name, attention_type, enable_attention_supervision,
                                       pretrained)
        super().__init__(name=name, **kwargs)
        self.family, self.attention_type = fam.family, attention_type
        self.attention_supervision = enable_attention_supervision
        self.trunk = _build_trunk(name, fam.family)
        self.feature_dim = FEATURE_DIMS[name]
        if name in KERAS_APPLICATIONS and int(self.trunk.output.shape[-1]) != self.feature_dim:
            self.feature_dim = int(self.trunk.output.shape[-1])  # the zoo's map decides
        if pretrained is not False:
            self._load_trunk(pretrained, fam.head_prefix)
        self.attention = _attention_layer(attention_type, self.feature_dim)
        self.built = True

    def _load_trunk(self, pretrained, head_prefix: str) -> None:
        load_trunk_weights(self.trunk, pretrained, head_prefix)

    def forward_features(self, x, training=None):
        """The trunk's last feature map ``(B, h, w, feature_dim)`` of images ``x``
        ``(B, H, W, 3)`` float32 (NHWC); no attention, no pooling.

        Raises:
            ValueError: ``x`` not 4-D or without 3 channels.
        """
        check_feature_map("VisionBackbone.forward_features", x.shape, 3, "NHWC", name="x")
        return self.trunk(x, training=training)

    def forward_head(self, feature_map, return_intermediates: bool = False, training=None):
        """Attention (if any) and global average pooling of ``feature_map``
        ``(B, h, w, feature_dim)``; features ``(B, feature_dim)`` or the dict.

        Raises:
            ValueError: ``feature_map`` not 4-D or not ``feature_dim`` channels;
                ``return_intermediates`` not a bool.
        """
        owner = "VisionBackbone.forward_head"
        check_bool(owner, "return_intermediates", return_intermediates)
        check_feature_map(owner, feature_map.shape, self.feature_dim, "NHWC", name="feature_map")
        maps, weights = feature_map, None
        if self.attention is not None:
            if self.attention_type in ("cbam", "bam") and return_intermediates:
                maps, attention = self.attention(feature_map, return_attention=True, training=training)
                spatial = attention["spatial"]
                weights = spatial if self.attention_type == "cbam" else tf.sigmoid(spatial)
            else:
                maps = self.attention(feature_map, training=training)
        features = tf.reduce_mean(maps, axis=[1, 2])
        if return_intermediates:
            return {"features": features, "feature_maps": maps, "attention_weights": weights}
        return features

    def call(self, x, return_intermediates: bool = False, training=None):
        """Features ``(B, feature_dim)`` of images ``x`` ``(B, H, W, 3)`` (NHWC), or the dict
        ``{"features", "feature_maps", "attention_weights"}`` with ``return_intermediates=True``.

        Raises:
            ValueError: as :meth:`forward_features` and :meth:`forward_head`.
        """
        check_bool("VisionBackbone.call", "return_intermediates", return_intermediates)
        return self.forward_head(self.forward_features(x, training=training), return_intermediates,
                                 training=training)


def create_vision_backbone(name: str, attention_type: str = "none", enable_attention_supervision: bool = False,
                           pretrained=False) -> VisionBackbone:
    """Build the backbone ``name`` with ``attention_type`` attention on its last feature map (Keras).

    Arguments, checks and errors as :func:`vision_attention.torch.backbones.create_vision_backbone`,
    plus: a name TensorFlow does not build (RegNet, ViT, Swin, MaxViT) raises ``ValueError``
    listing what it builds; ``pretrained`` may be a path only for ResNet and ``mobilenet_v2`` (a
    PyTorch ``state_dict``, converted through the canonical weights), ``True`` only for
    ``mobilenet_v2``.

    Returns:
        A built :class:`VisionBackbone` (all weights created) taking NHWC input.

    Raises:
        ValueError: see above and the PyTorch factory.
        FileNotFoundError: ``pretrained`` is a path to no file.
    """
    return VisionBackbone(name, attention_type, enable_attention_supervision, pretrained)


def _check_values(owner: str, name: str, t) -> None:
    check_float_dtype(owner, name, t.dtype, t.dtype.is_floating)
    if tf.executing_eagerly() and int(tf.size(t)):  # values are only known eagerly
        check_unit_interval(owner, name, float(tf.reduce_min(t)), float(tf.reduce_max(t)))


def attention_supervision_loss(attention_weights, masks, mode: str = "area", reduction: str = "mean"):
    """Binary cross-entropy between a spatial attention map ``(B, h, w, 1)`` and masks
    ``(B, H, W, 1)`` resized to ``(h, w)`` (NHWC).

    As :func:`vision_attention.torch.backbones.attention_supervision_loss` (same modes
    ``"area"`` (default: the fraction of each cell the mask covers), ``"bilinear"``,
    ``"nearest"`` (the guide's), same resize matrices, logs clamped at -100, reductions
    ``"mean"``, ``"sum"``, ``"none"`` (``(B, h, w, 1)``)); written out with TensorFlow ops so the
    three agree. The value checks run in eager mode only (inside ``tf.function`` the values
    are unknown; shapes are still checked).

    Raises:
        ValueError: wrong shapes, non-float tensors or values outside [0, 1], unknown
            ``mode`` or ``reduction``.
    """
    owner = "attention_supervision_loss"
    check_choice(owner, "mode", mode, RESIZE_MODES)
    check_choice(owner, "reduction", reduction, REDUCTIONS)
    attention_weights = tf.convert_to_tensor(attention_weights)
    masks = tf.convert_to_tensor(masks)
    h, w, H, W = check_supervision_shapes(attention_weights.shape, masks.shape, "NHWC")
    _check_values(owner, "attention_weights", attention_weights)
    _check_values(owner, "masks", masks)
    rh = tf.constant(resize_matrix(h, H, mode), dtype=masks.dtype)
    rw = tf.constant(resize_matrix(w, W, mode), dtype=masks.dtype)
    target = tf.cast(tf.einsum("iy,byxc,jx->bijc", rh, masks, rw), attention_weights.dtype)
    target = tf.clip_by_value(target, 0.0, 1.0)
    p = attention_weights
    loss = -(target * tf.maximum(tf.math.log(p), -100.0) + (1 - target) * tf.maximum(tf.math.log(1 - p), -100.0))
    if reduction == "mean":
        return tf.reduce_mean(loss)
    if reduction == "sum":
        return tf.reduce_sum(loss)
    return loss


def class_activation_map(feature_maps, classifier_weight, class_idx):
    """Class activation maps (Zhou et al., CVPR 2016, Eq. (2)) with ReLU and per-map min-max.

    As :func:`vision_attention.torch.backbones.class_activation_map` (read it for the
    differences from the official code and the guide), in NHWC: ``feature_maps``
    ``(B, H, W, C)``; ``classifier_weight`` ``(num_classes, C)``, PyTorch's layout (a Keras
    ``Dense`` kernel is ``(C, num_classes)``: pass ``tf.transpose(dense.kernel)``);
    ``class_idx`` an int or ``B`` ints.

    Returns:
        ``(B, H, W)`` in [0, 1] (a constant map gives zeros).

    Raises:
        ValueError: as the PyTorch function.
    """
    feature_maps = tf.convert_to_tensor(feature_maps)
    weight = tf.convert_to_tensor(classifier_weight)
    idx, _ = check_cam_arguments(feature_maps.shape, weight.shape, class_idx, "NHWC")
    rows = tf.gather(tf.cast(weight, feature_maps.dtype), idx)  # (B, C)
    cam = tf.nn.relu(tf.einsum("bhwc,bc->bhw", feature_maps, rows))
    lo = tf.reduce_min(cam, axis=[1, 2], keepdims=True)
    span = tf.reduce_max(cam, axis=[1, 2], keepdims=True) - lo
    safe = tf.where(span > 0, span, tf.ones_like(span))
    return tf.where(span > 0, (cam - lo) / safe, tf.zeros_like(cam))
