"""Vision backbones with one attention module before global pooling (PyTorch, NCHW).

:func:`create_vision_backbone` (``name, attention_type="none", enable_attention_supervision=False,
pretrained=False``) is the Med-Framework attention guide's factory over its nine families, with
torchvision's names (:data:`vision_attention.architectures.BACKBONE_FAMILIES`). Also here: the
guide's supervision loss, :func:`attention_supervision_loss`, and CAM,
:func:`class_activation_map`. Mirrored in :mod:`vision_attention.paddle.backbones` and
:mod:`vision_attention.tensorflow.backbones`.

Placement, as the guide's: **one** module (:class:`~vision_attention.torch.SEBlock`,
:class:`~vision_attention.torch.ECA`, :class:`~vision_attention.torch.CBAM` or
:class:`~vision_attention.torch.BAM`, each with its defaults: ``r = 16``, CBAM's 7x7 kernel, ECA's
kernel from the channel count, BAM's dilation 4) on the trunk's last feature map
``(B, C, H, W)``, before global average pooling. The papers (and
:func:`~vision_attention.torch.models.attention_resnet`,
:func:`~vision_attention.torch.models.attention_mobilenet_v2`) instead put SE, ECA or CBAM in
*every* block and BAM at every stage transition; that costs more parameters and compute and
changes every intermediate feature, while the guide's placement only re-weights the final map.

Trunks (``weights=None`` everywhere: nothing downloads):

* ResNet (``resnet18`` ... ``resnet152``): this package's
  ``attention_resnet(depth, "none")`` up to ``layer4`` (torchvision's structure and names,
  parity-proven in three frameworks); the ``fc`` head is left out.
* ``mobilenet_v2``: this package's ``attention_mobilenet_v2("none")``, its ``features``.
* ``mobilenet_v3_*``, EfficientNet, EfficientNetV2, ConvNeXt: torchvision's ``features``.
  ConvNeXt's classifier starts with a ``LayerNorm2d`` applied to the *pooled* vector; it is part
  of the head and left out, so the features are the plain average of the last stage's map.
* RegNet: torchvision's ``stem`` and ``trunk_output``.
* Swin: torchvision's ``features``, ``norm`` and ``permute``: the map ``(B, C, H/32, W/32)``
  whose average torchvision's head classifies.
* MaxViT: torchvision's ``stem`` and ``blocks``; its classifier applies ``LayerNorm``,
  ``Linear(512, 512)`` and ``Tanh`` to the pooled vector before the last ``Linear``: those are
  head and left out (the features are the plain average of the last block's map).
* ViT: torchvision's patch embedding, class token and encoder (whose final ``LayerNorm`` is
  included); the trunk returns the token sequence ``(B, 1 + N, hidden_dim)`` and the features
  are the class token, exactly what torchvision's ``heads`` classify. There is no map.

Why Transformers refuse attention modules (:data:`~vision_attention.architectures.TRANSFORMER_REFUSAL`):
a CNN attention module needs a ``(B, C, H, W)`` map. ViT has none (its output is a class token);
Swin and MaxViT *do* end in a spatial map, but every block already uses (windowed / grid)
self-attention, and the guide refuses external modules on them; so does this factory.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .._backbone_common import (
    REDUCTIONS,
    RESIZE_MODES,
    check_cam_arguments,
    check_float_dtype,
    check_supervision_shapes,
    check_unit_interval,
    read_torch_state_dict,
    resize_matrix,
    trunk_state,
)
from .._checks import check_bool, check_choice, check_feature_map
from ..architectures import FEATURE_DIMS, check_backbone_arguments
from .bam import BAM
from .models.mobilenet_v2 import attention_mobilenet_v2
from .models.resnet import attention_resnet, make_attention

__all__ = ["VisionBackbone", "create_vision_backbone", "attention_supervision_loss", "class_activation_map"]


class _ViTTrunk(nn.Module):
    """torchvision's ViT without its ``heads``: patch embedding, class token, encoder.

    Attribute names are torchvision's (``conv_proj``, ``class_token``, ``encoder``), so a
    torchvision ViT ``state_dict`` without ``heads.*`` loads by name. Input ``(B, 3, S, S)`` with
    ``S`` the model's ``image_size`` (224); output the encoder's tokens ``(B, 1 + N, hidden_dim)``
    (class token first), after the encoder's final ``LayerNorm``.
    """

    def __init__(self, vit: nn.Module):
        super().__init__()
        self.image_size, self.patch_size, self.hidden_dim = vit.image_size, vit.patch_size, vit.hidden_dim
        self.conv_proj = vit.conv_proj
        self.class_token = vit.class_token
        self.encoder = vit.encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torchvision.models.vision_transformer import VisionTransformer

        x = VisionTransformer._process_input(self, x)  # torchvision's own patchify (uses our attributes)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.encoder(x)


def _named(**modules) -> nn.Sequential:
    return nn.Sequential(OrderedDict(modules))


def _torch_network(name: str, family: str) -> nn.Module:
    """The whole classification network for ``name`` (ours or torchvision's), randomly initialised."""
    if family == "ResNet":
        return attention_resnet(int(name[len("resnet"):]), "none")
    if name == "mobilenet_v2":
        return attention_mobilenet_v2("none")
    import torchvision

    return getattr(torchvision.models, name)(weights=None)


def _trunk_of(network: nn.Module, family: str) -> nn.Module:
    """The part of ``network`` up to its last feature map, under torchvision's attribute names."""
    if family == "ResNet":
        return _named(**{k: getattr(network, k) for k in
                         ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")})
    if family in ("MobileNet", "EfficientNet", "EfficientNetV2", "ConvNeXt"):
        return _named(features=network.features)
    if family == "RegNet":
        return _named(stem=network.stem, trunk_output=network.trunk_output)
    if family == "Swin":
        return _named(features=network.features, norm=network.norm, permute=network.permute)
    if family == "MaxViT":
        return _named(stem=network.stem, blocks=nn.Sequential(*network.blocks))
    return _ViTTrunk(network)  # ViT


def _attention_module(attention_type: str, channels: int) -> nn.Module | None:
    if attention_type == "bam":
        return BAM(channels)
    return make_attention(attention_type, channels)


class VisionBackbone(nn.Module):
    """A torchvision-named trunk, one optional attention module on its last map, global pooling.

    Build it with :func:`create_vision_backbone` (same arguments). Attributes:

    * ``name`` (torchvision's name), ``family`` (a key of
      :data:`~vision_attention.architectures.BACKBONE_FAMILIES`), ``attention_type``,
      ``attention_supervision`` (``enable_attention_supervision``, a bool);
    * ``feature_dim``: width of the features, torchvision's final channel count
      (:data:`~vision_attention.architectures.FEATURE_DIMS`: 2048 for resnet50, 1280 for
      mobilenet_v2 and efficientnet_b0, 768 for convnext_tiny, ...);
    * ``trunk``: the network up to its last feature map (see the module docstring per family);
      its ``state_dict`` keys are torchvision's without the head;
    * ``attention``: the :class:`SEBlock` / :class:`ECA` / :class:`CBAM` / :class:`BAM` on the last
      map (``feature_dim`` channels, the modules' defaults), or ``None``.

    Methods: :meth:`forward_features` (trunk only), :meth:`forward_head` (attention and pooling on
    a map, so a caller can cache trunk outputs and train only the attention and a classifier) and
    :meth:`forward` (both).

    Outputs with ``return_intermediates=True``, the guide's dict:

    * ``"features"``: ``(B, feature_dim)`` float32, the global average of ``"feature_maps"``
      (ViT: the class token);
    * ``"feature_maps"``: ``(B, feature_dim, h, w)``, the map that is pooled, i.e. **after** the
      attention module (Swin: after its final ``LayerNorm``; ViT: ``None``). Taking it after the
      attention makes CAM exact: with a linear classifier ``logits = W GAP(F) + b = GAP(W F) + b``,
      so :func:`class_activation_map` on these maps with the classifier's ``W`` decomposes the
      logits over positions;
    * ``"attention_weights"``: ``(B, 1, h, w)`` in (0, 1) or ``None``. CBAM: its spatial
      attention map ``sigmoid(BN(conv([max; mean])))``, the exact factor it multiplies every
      channel by. BAM: the sigmoid of its spatial branch's logits; BAM adds those logits to the
      channel branch's before its own sigmoid (``M = sigmoid(Mc + Ms)``), so this is the spatial
      branch's probability, not the exact weight BAM applies. SE, ECA, ``"none"``: ``None``
      (their weights are per channel, ``(B, C, 1, 1)``).

    ``eval()`` before inference: the trunks hold BatchNorm (and Dropout / stochastic depth in
    some torchvision families).
    """

    def __init__(self, name: str, attention_type: str = "none", enable_attention_supervision: bool = False,
                 pretrained=False):
        super().__init__()
        fam = check_backbone_arguments("torch", name, attention_type, enable_attention_supervision, pretrained)
        self.name, self.family, self.attention_type = name, fam.family, attention_type
        self.attention_supervision = enable_attention_supervision
        self.feature_dim = FEATURE_DIMS[name]
        network = _torch_network(name, fam.family)
        self.trunk = _trunk_of(network, fam.family)
        del network  # the head is dropped with it
        if pretrained is not False:
            if pretrained is True:
                from ..weights import load_bundled_state_dict

                state, source = load_bundled_state_dict(), "the bundled mobilenet_v2 ImageNet weights"
            else:
                state, source = read_torch_state_dict(pretrained), repr(os.fspath(pretrained))
            self._load_trunk(state, fam.head_prefix, source)
        self.attention = None if fam.transformer else _attention_module(attention_type, self.feature_dim)

    def _load_trunk(self, state: dict, head_prefix: str, source: str) -> None:
        own = self.trunk.state_dict()
        kept = trunk_state(state, head_prefix, own.keys(), source)
        wrong = [f"{k} {tuple(v.shape)} vs trunk {tuple(own[k].shape)}" for k, v in kept.items()
                 if tuple(v.shape) != tuple(own[k].shape)]
        if wrong:
            raise ValueError(f"create_vision_backbone: argument 'pretrained': {source} has tensors of the "
                             f"wrong shape: {', '.join(sorted(wrong)[:5])}")
        self.trunk.load_state_dict(kept, strict=False)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's last feature map ``(B, feature_dim, h, w)`` of images ``x`` ``(B, 3, H, W)``
        float32 (NCHW); ViT: its tokens ``(B, 1 + N, feature_dim)``. No attention, no pooling.

        Raises:
            ValueError: ``x`` not 4-D or without 3 channels (torchvision raises its own errors
                for sizes a family cannot take, e.g. ViT's fixed 224 x 224).
        """
        check_feature_map("VisionBackbone.forward_features", x.shape, 3, "NCHW", name="x")
        return self.trunk(x)

    def forward_head(self, feature_map: torch.Tensor, return_intermediates: bool = False):
        """Attention (if any) and global average pooling of a trunk output.

        Args:
            feature_map: :meth:`forward_features`' output, ``(B, feature_dim, h, w)`` (ViT:
                ``(B, 1 + N, feature_dim)``).
            return_intermediates: return the dict described in :class:`VisionBackbone`.

        Returns:
            features ``(B, feature_dim)``, or the dict.

        Raises:
            ValueError: ``feature_map`` of the wrong rank or width; ``return_intermediates`` not a bool.
        """
        owner = "VisionBackbone.forward_head"
        check_bool(owner, "return_intermediates", return_intermediates)
        weights = None
        if self.family == "ViT":
            if feature_map.ndim != 3 or int(feature_map.shape[-1]) != self.feature_dim:
                raise ValueError(f"{owner}: argument 'feature_map' expected ViT tokens (B, 1 + N, "
                                 f"{self.feature_dim}), got shape {tuple(feature_map.shape)}")
            features, maps = feature_map[:, 0], None
        else:
            check_feature_map(owner, feature_map.shape, self.feature_dim, "NCHW", name="feature_map")
            maps = feature_map
            if self.attention is not None:
                if self.attention_type in ("cbam", "bam") and return_intermediates:
                    maps, attention = self.attention(feature_map, return_attention=True)
                    spatial = attention["spatial"]
                    weights = spatial if self.attention_type == "cbam" else torch.sigmoid(spatial)
                else:
                    maps = self.attention(feature_map)
            features = maps.mean(dim=(2, 3))
        if return_intermediates:
            return {"features": features, "feature_maps": maps, "attention_weights": weights}
        return features

    def forward(self, x: torch.Tensor, return_intermediates: bool = False):
        """Features ``(B, feature_dim)`` of images ``x`` ``(B, 3, H, W)`` float32 (NCHW), or with
        ``return_intermediates=True`` the dict ``{"features", "feature_maps",
        "attention_weights"}`` (see :class:`VisionBackbone`).

        Raises:
            ValueError: as :meth:`forward_features` and :meth:`forward_head`.
        """
        check_bool("VisionBackbone.forward", "return_intermediates", return_intermediates)
        return self.forward_head(self.forward_features(x), return_intermediates)

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, family={self.family!r}, attention_type={self.attention_type!r}, "
                f"feature_dim={self.feature_dim}, attention_supervision={self.attention_supervision}")


def create_vision_backbone(name: str, attention_type: str = "none", enable_attention_supervision: bool = False,
                           pretrained=False) -> VisionBackbone:
    """Build the backbone ``name`` with ``attention_type`` attention on its last feature map.

    The Med-Framework attention guide's factory (its support matrix: ResNet, MobileNet,
    EfficientNet, EfficientNetV2, ConvNeXt, RegNet accept ``"none"``, ``"se"``, ``"eca"``,
    ``"cbam"``, ``"bam"``; ViT, Swin, MaxViT only ``"none"``), stricter where the guide is
    silent: every refused combination raises instead of being ignored.

    Args:
        name: a torchvision name (:data:`~vision_attention.architectures.BACKBONE_NAMES`), e.g.
            ``"resnet50"``, ``"mobilenet_v3_large"``, ``"efficientnet_b0"``, ``"regnet_y_400mf"``,
            ``"vit_b_16"``, ``"swin_t"``, ``"maxvit_t"``.
        attention_type: ``"none"``, ``"se"``, ``"eca"``, ``"cbam"`` or ``"bam"``: **one** module
            on the trunk's last map, before pooling (the guide's placement; the papers and
            ``attention_resnet`` / ``attention_mobilenet_v2`` put one in every block instead).
            Transformers take only ``"none"``: ViT's output is a class token, not a
            ``(B, C, H, W)`` map; Swin and MaxViT do end in a map but already use windowed
            (and grid) self-attention in every block, and the guide refuses them.
        enable_attention_supervision: marks the backbone as trained with
            :func:`attention_supervision_loss` (attribute ``attention_supervision``). Needs a
            spatial map: ``"cbam"`` (the guide's only choice) or ``"bam"`` (its spatial branch).
            The guide accepts it silently with SE/ECA and returns nothing; here that raises.
            The map is returned by ``forward(x, return_intermediates=True)`` whether or not the
            flag is set; ``forward(x)`` computes nothing extra.
        pretrained: ``False`` (random initialisation: torchvision's, and the modules' own);
            ``True`` for ``"mobilenet_v2"`` only (the bundled torchvision ImageNet weights,
            :mod:`vision_attention.weights`); or a local file holding a ``state_dict`` (read with
            ``torch.load(weights_only=True)``): the torchvision model's (its head is dropped) or
            the trunk's own (``torch.save(backbone.trunk.state_dict(), path)``). Only the trunk
            is loaded; the attention module keeps its initialisation. Nothing is downloaded.

    Returns:
        A :class:`VisionBackbone` in training mode.

    Raises:
        ValueError: unknown ``name`` (the valid names are listed) or ``attention_type``; an
            attention type on a Transformer (the message gives the reason);
            ``enable_attention_supervision=True`` with ``"se"``, ``"eca"`` or ``"none"``;
            ``pretrained=True`` for a name without bundled weights; a checkpoint that is not a
            state_dict of the trunk or the model, or has tensors of the wrong shape.
        FileNotFoundError: ``pretrained`` is a path to no file.
    """
    return VisionBackbone(name, attention_type, enable_attention_supervision, pretrained)


def _check_values(owner: str, name: str, t: torch.Tensor) -> None:
    check_float_dtype(owner, name, t.dtype, t.is_floating_point())
    if t.numel():
        check_unit_interval(owner, name, float(t.detach().min()), float(t.detach().max()))


def attention_supervision_loss(attention_weights: torch.Tensor, masks: torch.Tensor, mode: str = "area",
                               reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy between a spatial attention map and masks resized to its size.

    The Med-Framework guide's loss, ``F.binary_cross_entropy(attention_weights,
    F.interpolate(masks, size=(h, w)))``, with the resize mode a choice:

    * ``"area"`` (default): each cell of the ``h x w`` map gets the fraction of its area the
      mask covers (:func:`vision_attention._backbone_common.resize_matrix`), so a small object
      never vanishes: a 10 x 10-pixel lesion in a 224 x 224 mask, resized to ResNet's 7 x 7
      map, is a target of ~0.1 in the cell that holds it with ``"area"``, and 0 everywhere
      with ``"nearest"`` unless it happens to cover one of the 49 sampled pixels.
    * ``"nearest"``: the guide's choice (``F.interpolate``'s default): one sampled pixel per
      cell, ``min(floor(i * H / h), H - 1)``.
    * ``"bilinear"``: ``F.interpolate(mode="bilinear", align_corners=False)`` without
      antialiasing: two pixels per axis near the cell centre (also misses small objects).

    Per element ``l = -(m log p + (1 - m) log(1 - p))`` with each log clamped at ``-100``
    (``F.binary_cross_entropy``'s rule, so ``p = 0`` or ``1`` stays finite).

    Args:
        attention_weights: ``(B, 1, h, w)`` float, probabilities in [0, 1] (the
            ``"attention_weights"`` of :meth:`VisionBackbone.forward`).
        masks: ``(B, 1, H, W)`` float in [0, 1] (1 = object), any ``H, W``.
        mode: ``"area"``, ``"bilinear"`` or ``"nearest"``.
        reduction: ``"mean"`` (over all ``B h w`` elements), ``"sum"`` or ``"none"``
            (``(B, 1, h, w)``).

    Returns:
        A 0-D tensor (``"mean"``, ``"sum"``) or ``(B, 1, h, w)``, differentiable in
        ``attention_weights``.

    Raises:
        ValueError: wrong ranks, a channel count other than 1, different batch sizes;
            non-float tensors or values outside [0, 1]; unknown ``mode`` or ``reduction``.
    """
    owner = "attention_supervision_loss"
    check_choice(owner, "mode", mode, RESIZE_MODES)
    check_choice(owner, "reduction", reduction, REDUCTIONS)
    h, w, H, W = check_supervision_shapes(attention_weights.shape, masks.shape, "NCHW")
    _check_values(owner, "attention_weights", attention_weights)
    _check_values(owner, "masks", masks)
    rh = torch.from_numpy(resize_matrix(h, H, mode)).to(masks.device, masks.dtype)
    rw = torch.from_numpy(resize_matrix(w, W, mode)).to(masks.device, masks.dtype)
    target = torch.einsum("iy,bcyx,jx->bcij", rh, masks, rw).to(attention_weights.dtype)
    # Products of exact fractions can leave 1 + 1e-7; binary_cross_entropy insists on [0, 1].
    target = target.clamp(0.0, 1.0)
    return F.binary_cross_entropy(attention_weights, target, reduction=reduction)


def class_activation_map(feature_maps: torch.Tensor, classifier_weight, class_idx) -> torch.Tensor:
    """Class activation maps (Zhou et al., "Learning Deep Features for Discriminative
    Localization", CVPR 2016, Eq. (2)), normalised per map with ReLU and min-max.

    ``M_c(x, y) = sum_k w_{c,k} f_k(x, y)`` for the class ``c`` of each sample, then
    ``ReLU`` and ``(M - min M) / (max M - min M)`` per map, to [0, 1]; a constant map (after the
    ReLU) becomes zeros. Exact for a GAP + linear head: the map's mean plus the bias is the
    class logit (see :class:`VisionBackbone`; use its ``"feature_maps"``, taken after the attention).

    Deliberate differences: the official code (``zhoubolei/CAM``, ``pytorch_CAM.py``) min-max
    normalises *without* a ReLU, so negative evidence is stretched into the [0, 1] range (the
    map's most negative position becomes 0, a zero logit contribution lands above it); the
    Med-Framework guide applies a ReLU and divides by the per-map maximum (plus 1e-8) *without*
    subtracting the minimum, so a map that is positive everywhere keeps its minimum above 0.
    Here: ReLU, then min-max.

    Args:
        feature_maps: ``(B, C, H, W)`` float (NCHW).
        classifier_weight: ``(num_classes, C)``, PyTorch's ``nn.Linear.weight`` layout (in all
            three frameworks: pass a Paddle ``Linear.weight.T`` or a Keras ``Dense.kernel.T``);
            a tensor or array.
        class_idx: an int (the same class for every map) or ``B`` ints (a list, array or integer
            tensor).

    Returns:
        ``(B, H, W)`` tensor in [0, 1], the dtype of ``feature_maps``.

    Raises:
        ValueError: ``feature_maps`` not 4-D; ``classifier_weight`` not ``(num_classes, C)``;
            ``class_idx`` not an int or ``B`` ints, or outside ``[0, num_classes)``.
    """
    weight = torch.as_tensor(classifier_weight)
    idx, _ = check_cam_arguments(feature_maps.shape, weight.shape, class_idx, "NCHW")
    weight = weight.to(feature_maps.device, feature_maps.dtype)
    rows = weight[torch.from_numpy(idx).to(feature_maps.device)]  # (B, C)
    cam = torch.relu(torch.einsum("bchw,bc->bhw", feature_maps, rows))
    lo = cam.amin(dim=(1, 2), keepdim=True)
    span = cam.amax(dim=(1, 2), keepdim=True) - lo
    safe = torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, (cam - lo) / safe, torch.zeros_like(cam))

