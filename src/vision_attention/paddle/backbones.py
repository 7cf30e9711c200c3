"""Vision backbones with one attention module before global pooling (PaddlePaddle, NCHW).

Mirrors :mod:`vision_attention.torch.backbones` (same names, arguments, defaults, outputs and
placement; read its module docstring for the placement, the alternative of a module in every
block, and the refusal of Transformers). What Paddle builds
(:data:`vision_attention.architectures.FRAMEWORK_BACKBONES` ``["paddle"]``):

* ResNet (``resnet18`` ... ``resnet152``) and ``mobilenet_v2``: this package's networks
  (:func:`vision_attention.paddle.models.attention_resnet`, ``attention_mobilenet_v2``), the same
  structure and canonical names as PyTorch's, so canonical weights load into all three.
* ``mobilenet_v3_small`` / ``mobilenet_v3_large``: ``paddle.vision.models`` (built with
  ``num_classes=0, with_pool=False``, so it ends at its ``lastconv``: 576 / 960 channels, as
  torchvision's ``features``). Paddle's own parameter names (``conv``, ``blocks``, ``lastconv``),
  not torchvision's: no canonical weights, no checkpoint path.
* Every other family raises ``ValueError``: Paddle 3.3's ``paddle.vision.models`` has no
  EfficientNet, EfficientNetV2, ConvNeXt, RegNet, ViT, Swin or MaxViT, and nothing falls back
  silently to another network.

``pretrained``: ``True`` for ``mobilenet_v2`` (the bundled torchvision ImageNet weights through
the parity layer's canonical format), or the path of a PyTorch ``state_dict`` for ResNet /
``mobilenet_v2`` (read with ``torch.load(weights_only=True)`` and converted through the canonical
weights: torchvision's model or our trunk, head dropped). Paddle ``Linear`` weights are
``(in, out)``; :func:`class_activation_map` still takes the classifier weight as
``(num_classes, C)`` (``linear.weight.T``).
"""

from __future__ import annotations


import numpy as np

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
from .._frameworks import import_paddle
from ..architectures import FEATURE_DIMS, PADDLE_ZOO, check_backbone_arguments
from .bam import BAM
from .models.resnet import attention_resnet, make_attention

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional

__all__ = ["VisionBackbone", "create_vision_backbone", "attention_supervision_loss", "class_activation_map"]

_RESNET_TRUNK = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


def _build_trunk(name: str, family: str):
    """The layer up to the last feature map (canonical names for ResNet and mobilenet_v2)."""
    if family == "ResNet":
        network = attention_resnet(int(name[len("resnet"):]), "none")
        return nn.Sequential(*[(k, getattr(network, k)) for k in _RESNET_TRUNK])
    if name == "mobilenet_v2":
        from .models import attention_mobilenet_v2

        return nn.Sequential(("features", attention_mobilenet_v2("none").features))
    import paddle.vision.models as zoo

    return getattr(zoo, PADDLE_ZOO[name])(pretrained=False, num_classes=0, with_pool=False)


def _attention_layer(attention_type: str, channels: int):
    if attention_type == "bam":
        return BAM(channels)
    return make_attention(attention_type, channels)


class VisionBackbone(nn.Layer):
    """A trunk, one optional attention module on its last map, global average pooling (Paddle).

    Same attributes, methods and outputs as :class:`vision_attention.torch.backbones.VisionBackbone`
    (NCHW): ``name``, ``family``, ``attention_type``, ``attention_supervision``, ``feature_dim``
    (the channel count of the trunk's last map: torchvision's for every name Paddle builds),
    ``trunk``, ``attention``; :meth:`forward_features`, :meth:`forward_head`, :meth:`forward`.
    With ``return_intermediates=True``: ``{"features": (B, feature_dim), "feature_maps":
    (B, feature_dim, h, w) after the attention module, "attention_weights": (B, 1, h, w) or
    None}`` (CBAM's spatial map; BAM's spatial-branch probability ``sigmoid(Ms)``, not the exact
    weight ``sigmoid(Mc + Ms)`` it applies; ``None`` for SE, ECA and ``"none"``).
    """

    def __init__(self, name: str, attention_type: str = "none", enable_attention_supervision: bool = False,
                 pretrained=False):
        super().__init__()
        fam = check_backbone_arguments("paddle", name, attention_type, enable_attention_supervision, pretrained)
        self.name, self.family, self.attention_type = name, fam.family, attention_type
        self.attention_supervision = enable_attention_supervision
        self.trunk = _build_trunk(name, fam.family)
        self.feature_dim = FEATURE_DIMS[name]
        if name in PADDLE_ZOO and int(self.trunk.lastconv_out_channels) != self.feature_dim:
            self.feature_dim = int(self.trunk.lastconv_out_channels)  # the zoo's map decides
        if pretrained is not False:
            self._load_trunk(pretrained, fam.head_prefix)
        self.attention = _attention_layer(attention_type, self.feature_dim)

    def _load_trunk(self, pretrained, head_prefix: str) -> None:
        load_trunk_weights(self.trunk, pretrained, head_prefix)

    def forward_features(self, x):
        """The trunk's last feature map ``(B, feature_dim, h, w)`` of images ``x``
        ``(B, 3, H, W)`` float32 (NCHW); no attention, no pooling.

        Raises:
            ValueError: ``x`` not 4-D or without 3 channels.
        """
        check_feature_map("VisionBackbone.forward_features", x.shape, 3, "NCHW", name="x")
        return self.trunk(x)

    def forward_head(self, feature_map, return_intermediates: bool = False):
        """Attention (if any) and global average pooling of ``feature_map``
        ``(B, feature_dim, h, w)``; features ``(B, feature_dim)`` or the dict.

        Raises:
            ValueError: ``feature_map`` not 4-D or not ``feature_dim`` channels;
                ``return_intermediates`` not a bool.
        """
        owner = "VisionBackbone.forward_head"
        check_bool(owner, "return_intermediates", return_intermediates)
        check_feature_map(owner, feature_map.shape, self.feature_dim, "NCHW", name="feature_map")
        maps, weights = feature_map, None
        if self.attention is not None:
            if self.attention_type in ("cbam", "bam") and return_intermediates:
                maps, attention = self.attention(feature_map, return_attention=True)
                spatial = attention["spatial"]
                weights = spatial if self.attention_type == "cbam" else F.sigmoid(spatial)
            else:
                maps = self.attention(feature_map)
        features = maps.mean(axis=[2, 3])
        if return_intermediates:
            return {"features": features, "feature_maps": maps, "attention_weights": weights}
        return features

    def forward(self, x, return_intermediates: bool = False):
        """Features ``(B, feature_dim)`` of images ``x`` ``(B, 3, H, W)`` (NCHW), or the dict
        ``{"features", "feature_maps", "attention_weights"}`` with ``return_intermediates=True``.

        Raises:
            ValueError: as :meth:`forward_features` and :meth:`forward_head`.
        """
        check_bool("VisionBackbone.forward", "return_intermediates", return_intermediates)
        return self.forward_head(self.forward_features(x), return_intermediates)


def create_vision_backbone(name: str, attention_type: str = "none", enable_attention_supervision: bool = False,
                           pretrained=False) -> VisionBackbone:
    """Build the backbone ``name`` with ``attention_type`` attention on its last feature map (Paddle).

    Arguments, checks and errors as :func:`vision_attention.torch.backbones.create_vision_backbone`,
    plus: a name Paddle does not build (EfficientNet, EfficientNetV2, ConvNeXt, RegNet, ViT, Swin,
    MaxViT) raises ``ValueError`` listing what it builds; ``pretrained`` may be a path only for
    ResNet and ``mobilenet_v2`` (a PyTorch ``state_dict``, converted through the canonical
    weights), ``True`` only for ``mobilenet_v2``.

    Returns:
        A :class:`VisionBackbone` in training mode (call ``eval()`` for inference).

    Raises:
        ValueError: see above and the PyTorch factory.
        FileNotFoundError: ``pretrained`` is a path to no file.
    """
    return VisionBackbone(name, attention_type, enable_attention_supervision, pretrained)


def _is_float(t) -> bool:
    return t.dtype in (paddle.float16, paddle.bfloat16, paddle.float32, paddle.float64)


def _check_values(owner: str, name: str, t) -> None:
    check_float_dtype(owner, name, t.dtype, _is_float(t))
    if t.size:
        check_unit_interval(owner, name, float(t.min()), float(t.max()))


def attention_supervision_loss(attention_weights, masks, mode: str = "area", reduction: str = "mean"):
    """Binary cross-entropy between a spatial attention map ``(B, 1, h, w)`` and masks
    ``(B, 1, H, W)`` resized to ``(h, w)`` (NCHW).

    As :func:`vision_attention.torch.backbones.attention_supervision_loss` (same modes
    ``"area"`` (default: the fraction of each cell the mask covers), ``"bilinear"``,
    ``"nearest"`` (the guide's), same resize matrices, logs clamped at -100, reductions
    ``"mean"``, ``"sum"``, ``"none"``); written out with Paddle ops so the three agree.

    Raises:
        ValueError: wrong shapes, non-float tensors or values outside [0, 1], unknown
            ``mode`` or ``reduction``.
    """
    owner = "attention_supervision_loss"
    check_choice(owner, "mode", mode, RESIZE_MODES)
    check_choice(owner, "reduction", reduction, REDUCTIONS)
    h, w, H, W = check_supervision_shapes(attention_weights.shape, masks.shape, "NCHW")
    _check_values(owner, "attention_weights", attention_weights)
    _check_values(owner, "masks", masks)
    rh = paddle.to_tensor(resize_matrix(h, H, mode)).astype(masks.dtype)
    rw = paddle.to_tensor(resize_matrix(w, W, mode)).astype(masks.dtype)
    target = paddle.einsum("iy,bcyx,jx->bcij", rh, masks, rw).astype(attention_weights.dtype)
    target = paddle.clip(target, 0.0, 1.0)
    p = attention_weights
    loss = -(target * paddle.clip(paddle.log(p), min=-100.0) + (1 - target) * paddle.clip(paddle.log(1 - p), min=-100.0))
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def class_activation_map(feature_maps, classifier_weight, class_idx):
    """Class activation maps (Zhou et al., CVPR 2016, Eq. (2)) with ReLU and per-map min-max.

    As :func:`vision_attention.torch.backbones.class_activation_map` (read it for the
    differences from the official code and the guide). ``feature_maps`` ``(B, C, H, W)`` (NCHW);
    ``classifier_weight`` ``(num_classes, C)``, PyTorch's layout (a Paddle ``Linear`` stores
    ``(C, num_classes)``: pass ``linear.weight.T``); ``class_idx`` an int or ``B`` ints.

    Returns:
        ``(B, H, W)`` in [0, 1] (a constant map gives zeros).

    Raises:
        ValueError: as the PyTorch function.
    """
    weight = classifier_weight if isinstance(classifier_weight, paddle.Tensor) else paddle.to_tensor(
        np.asarray(classifier_weight))
    idx, _ = check_cam_arguments(feature_maps.shape, weight.shape, class_idx, "NCHW")
    rows = paddle.gather(weight.astype(feature_maps.dtype), paddle.to_tensor(idx), axis=0)  # (B, C)
    cam = F.relu(paddle.einsum("bchw,bc->bhw", feature_maps, rows))
    lo = cam.amin(axis=[1, 2], keepdim=True)
    span = cam.amax(axis=[1, 2], keepdim=True) - lo
    safe = paddle.where(span > 0, span, paddle.ones_like(span))
    return paddle.where(span > 0, (cam - lo) / safe, paddle.zeros_like(cam))
