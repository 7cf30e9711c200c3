"""Framework-neutral facts about the networks, shared by the three ``models`` subpackages and
the three ``backbones`` modules (families, names, attention types each family accepts, feature
widths, what each framework's model zoo offers), and the argument checks of
``create_vision_backbone``, so that the three frameworks raise the same messages."""

from __future__ import annotations

__all__ = [
    "MOBILENET_V2_SETTING",
    "MOBILENET_V2_BAM_AFTER",
    "make_divisible",
    "ATTENTION_TYPES", "POSITIONS", "IN_BLOCK_ATTENTION_TYPES", "check_position", "RESNET_DEPTHS", "SPATIAL_ATTENTION_TYPES", "TRANSFORMER_REFUSAL", "BackboneFamily",
    "BACKBONE_FAMILIES", "BACKBONE_NAMES", "FEATURE_DIMS", "OWN_TRUNKS", "PADDLE_ZOO", "KERAS_APPLICATIONS",
    "FRAMEWORK_BACKBONES", "BUNDLED_BACKBONES", "backbone_family", "check_backbone_arguments",
]

ATTENTION_TYPES = ("none", "se", "eca", "cbam", "bam")
"""Accepted values of ``attention_type``. In the attention networks ``"bam"`` is placed between
stages, the others in blocks; ``create_vision_backbone`` puts any of them once, on the last map."""

POSITIONS = ("standard", "pre", "post", "identity")
"""Where an in-block attention module sits in a residual unit: the four integration strategies of
Hu et al., "Squeeze-and-Excitation Networks", TPAMI 2020, Sec. 6.5 and Fig. 5 (SE, SE-PRE,
SE-POST, SE-Identity). With ``F`` the residual branch, ``A`` the attention module and
``S`` the shortcut (the identity or the projection ``downsample``):

* ``"standard"``: ``relu(A(F(x)) + S(x))``, on the residual branch before the addition (the
  papers' and official codes' placement; the default);
* ``"pre"``: ``relu(F(A(x)) + S(x))``, before the residual branch, on the unit's input (so ``A``
  has the unit's *input* channel count);
* ``"post"``: ``A(relu(F(x) + S(x)))``, after the addition and its ReLU (the paper: "after the
  summation with the identity branch (after ReLU)");
* ``"identity"``: ``relu(F(x) + A(S(x)))``, on the shortcut, in parallel to the residual branch
  (on the projection's output where the unit has one).
"""

IN_BLOCK_ATTENTION_TYPES = ("se", "eca", "cbam")
"""Attention types that sit inside every residual unit (so ``position`` applies to them)."""


def check_position(owner: str, position, attention_type: str) -> str:
    """Return ``position`` if valid for ``attention_type``, else raise ``ValueError``.

    ``position`` must be one of :data:`POSITIONS`; a position other than ``"standard"`` is
    refused for ``"none"`` (there is no module to place) and ``"bam"`` (BAM sits between
    stages, not inside a unit), rather than ignored.
    """
    if isinstance(position, bool) or position not in POSITIONS:
        raise ValueError(f"{owner}: argument 'position' expected one of {POSITIONS}, got {position!r}")
    if position != "standard" and attention_type not in IN_BLOCK_ATTENTION_TYPES:
        raise ValueError(
            f"{owner}: argument 'position'={position!r} needs an in-block attention type "
            f"{IN_BLOCK_ATTENTION_TYPES}; attention_type={attention_type!r} has "
            + ("no module to place" if attention_type == "none" else "its modules between stages, not in units")
        )
    return position


RESNET_DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
                 50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3)),
                 152: ("bottleneck", (3, 8, 36, 3))}
"""Block type and number of blocks per stage for each supported depth (He et al., 2016, Table 1)."""

MOBILENET_V2_SETTING = (
    # expand ratio t, output channels c, repeats n, first stride s (Sandler et al., 2018, Table 2)
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
"""MobileNetV2's inverted-residual stages, shared by the three ``models/mobilenet_v2.py``."""

MOBILENET_V2_BAM_AFTER = (3, 6, 13)
"""Indices into MobileNetV2's ``features`` after which ``bam1``, ``bam2``, ``bam3`` are applied."""


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below 90 % of it
    (torchvision's ``_make_divisible``, used for MobileNetV2's channel widths)."""
    new_value = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new_value + divisor if new_value < 0.9 * value else new_value



# ---------------------------------------------------------------------------------------------
# Vision backbones (create_vision_backbone in the three frameworks)
# ---------------------------------------------------------------------------------------------

SPATIAL_ATTENTION_TYPES = ("cbam", "bam")
"""Attention types with a spatial map ``(B, 1, H, W)`` (what attention supervision needs).
SE and ECA only weight channels (``(B, C, 1, 1)``); ``"none"`` has no attention at all."""

TRANSFORMER_REFUSAL = {
    "ViT": (
        "ViT has no (B, C, H, W) feature map to put a CNN attention module on: its output is the "
        "class token (B, hidden_dim), taken after global self-attention over all patches"
    ),
    "Swin": (
        "Swin does end in a spatial map (B, C, H/32, W/32), but every block already applies "
        "(shifted-)window self-attention; the Med-Framework guide refuses external attention "
        "modules on Transformers, and so does this factory"
    ),
    "MaxViT": (
        "MaxViT does end in a spatial map (B, C, H/32, W/32), but every block already applies "
        "block (window) and grid self-attention after an MBConv with squeeze-excitation; the "
        "Med-Framework guide refuses external attention modules on Transformers, and so does "
        "this factory"
    ),
}
"""Why each Transformer family accepts only ``attention_type="none"`` (the ValueError's text)."""


class BackboneFamily:
    """One family of :data:`BACKBONE_FAMILIES`: its torchvision names, the attention types it
    accepts, whether it is a Transformer (and so why it refuses attention modules), and the
    prefix of the torchvision head that the backbone leaves out.

    Attributes:
        family: the family's name (``"ResNet"``, ``"ViT"``, ...).
        names: torchvision's builder names of the family, e.g. ``("resnet18", ...)``.
        attention_types: the accepted ``attention_type`` values.
        transformer: ``True`` for ViT, Swin and MaxViT.
        refusal: why a Transformer refuses attention modules (``None`` for CNNs).
        head_prefix: key prefix of the torchvision classifier head in a torchvision
            ``state_dict`` (``"fc."``, ``"classifier."``, ``"heads."``, ``"head."``), dropped
            when a checkpoint is loaded into the trunk.
    """

    __slots__ = ("family", "names", "attention_types", "transformer", "refusal", "head_prefix")

    def __init__(self, family, names, transformer, head_prefix):
        self.family = family
        self.names = tuple(names)
        self.transformer = bool(transformer)
        self.attention_types = ("none",) if transformer else ATTENTION_TYPES
        self.refusal = TRANSFORMER_REFUSAL.get(family) if transformer else None
        self.head_prefix = head_prefix

    def __repr__(self) -> str:
        return (f"BackboneFamily({self.family!r}, names={self.names}, "
                f"attention_types={self.attention_types}, transformer={self.transformer})")


_REGNET_SIZES_Y = ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf")
_REGNET_SIZES_X = ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")

BACKBONE_FAMILIES = {
    f.family: f
    for f in (
        BackboneFamily("ResNet", [f"resnet{d}" for d in RESNET_DEPTHS], False, "fc."),
        BackboneFamily("MobileNet", ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"], False,
                       "classifier."),
        BackboneFamily("EfficientNet", [f"efficientnet_b{i}" for i in range(8)], False, "classifier."),
        BackboneFamily("EfficientNetV2", ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"], False,
                       "classifier."),
        BackboneFamily("ConvNeXt", ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"], False,
                       "classifier."),
        BackboneFamily("RegNet", [f"regnet_y_{s}" for s in _REGNET_SIZES_Y] + [f"regnet_x_{s}" for s in _REGNET_SIZES_X],
                       False, "fc."),
        BackboneFamily("ViT", ["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"], True, "heads."),
        BackboneFamily("Swin", ["swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b"], True, "head."),
        BackboneFamily("MaxViT", ["maxvit_t"], True, "classifier."),
    )
}
"""The nine families of the Med-Framework guide's support matrix, by family name.

CNN families accept every :data:`ATTENTION_TYPES` value; ViT, Swin and MaxViT only ``"none"``
(:data:`TRANSFORMER_REFUSAL` says why). Names are torchvision's builder names."""

BACKBONE_NAMES = tuple(n for f in BACKBONE_FAMILIES.values() for n in f.names)
"""Every name :func:`create_vision_backbone` knows, family by family."""

FEATURE_DIMS = {
    # ResNet: fc.in_features; MobileNet/EfficientNet/ConvNeXt: channels of `features`' output;
    # RegNet: fc.in_features; ViT: hidden_dim; Swin: the final norm's width; MaxViT: the last
    # block's channels. Measured with torchvision 0.28 for every name (tests/test_backbones.py
    # re-measures one name per family and the widths the issue lists).
    "resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048,
    "mobilenet_v2": 1280, "mobilenet_v3_small": 576, "mobilenet_v3_large": 960,
    "efficientnet_b0": 1280, "efficientnet_b1": 1280, "efficientnet_b2": 1408, "efficientnet_b3": 1536,
    "efficientnet_b4": 1792, "efficientnet_b5": 2048, "efficientnet_b6": 2304, "efficientnet_b7": 2560,
    "efficientnet_v2_s": 1280, "efficientnet_v2_m": 1280, "efficientnet_v2_l": 1280,
    "convnext_tiny": 768, "convnext_small": 768, "convnext_base": 1024, "convnext_large": 1536,
    "regnet_y_400mf": 440, "regnet_y_800mf": 784, "regnet_y_1_6gf": 888, "regnet_y_3_2gf": 1512,
    "regnet_y_8gf": 2016, "regnet_y_16gf": 3024, "regnet_y_32gf": 3712, "regnet_y_128gf": 7392,
    "regnet_x_400mf": 400, "regnet_x_800mf": 672, "regnet_x_1_6gf": 912, "regnet_x_3_2gf": 1008,
    "regnet_x_8gf": 1920, "regnet_x_16gf": 2048, "regnet_x_32gf": 2520,
    "vit_b_16": 768, "vit_b_32": 768, "vit_l_16": 1024, "vit_l_32": 1024, "vit_h_14": 1280,
    "swin_t": 768, "swin_s": 768, "swin_b": 1024, "swin_v2_t": 768, "swin_v2_s": 768, "swin_v2_b": 1024,
    "maxvit_t": 512,
}
"""torchvision's final channel count per name: the width of the features the backbone returns
(the input width of torchvision's classifier, before any hidden layer of the head)."""

OWN_TRUNKS = tuple(f"resnet{d}" for d in RESNET_DEPTHS) + ("mobilenet_v2",)
"""Names whose trunk is this package's parity-proven network in all three frameworks
(``attention_resnet(depth, "none")``, ``attention_mobilenet_v2("none")``); their weights
convert between frameworks through the canonical format."""

PADDLE_ZOO = {"mobilenet_v3_small": "mobilenet_v3_small", "mobilenet_v3_large": "mobilenet_v3_large"}
"""Names built from ``paddle.vision.models`` (torchvision name -> Paddle builder). Paddle 3.3's
``paddle.vision.models`` has ResNet, ResNeXt, Wide-ResNet, MobileNet v1/v2/v3, DenseNet,
GoogLeNet, Inception v3, ShuffleNet v2, SqueezeNet, VGG, AlexNet and LeNet: no EfficientNet,
EfficientNetV2, ConvNeXt, RegNet, ViT, Swin or MaxViT."""

KERAS_APPLICATIONS = {
    "mobilenet_v3_small": "MobileNetV3Small", "mobilenet_v3_large": "MobileNetV3Large",
    **{f"efficientnet_b{i}": f"EfficientNetB{i}" for i in range(8)},
    "efficientnet_v2_s": "EfficientNetV2S", "efficientnet_v2_m": "EfficientNetV2M",
    "efficientnet_v2_l": "EfficientNetV2L",
    "convnext_tiny": "ConvNeXtTiny", "convnext_small": "ConvNeXtSmall", "convnext_base": "ConvNeXtBase",
    "convnext_large": "ConvNeXtLarge",
}
"""Names built from ``keras.applications`` (torchvision name -> Keras builder). Keras 3.15's
``keras.applications`` has no RegNet (``tf.keras`` 2.x had ``RegNetX002`` ... ``RegNetY320``;
Keras 3 dropped them), no ViT, no Swin and no MaxViT."""

FRAMEWORK_BACKBONES = {
    "torch": BACKBONE_NAMES,
    "paddle": OWN_TRUNKS + tuple(PADDLE_ZOO),
    "tensorflow": OWN_TRUNKS + tuple(KERAS_APPLICATIONS),
}
"""The names each framework's :func:`create_vision_backbone` builds."""

BUNDLED_BACKBONES = ("mobilenet_v2",)
"""Names with bundled ImageNet weights (``pretrained=True``; see :mod:`vision_attention.weights`)."""


def backbone_family(name: str) -> BackboneFamily:
    """The :class:`BackboneFamily` that ``name`` belongs to (``KeyError`` if none)."""
    for family in BACKBONE_FAMILIES.values():
        if name in family.names:
            return family
    raise KeyError(name)


def _suggest(name) -> str:
    import difflib

    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name.lower().replace("-", "_"), BACKBONE_NAMES, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def check_backbone_arguments(framework: str, name, attention_type, enable_attention_supervision,
                             pretrained) -> BackboneFamily:
    """Check :func:`create_vision_backbone`'s arguments for ``framework``; return the family.

    The same checks, in the same order and with the same messages, in the three frameworks;
    nothing is built before they pass.

    Raises:
        ValueError: ``name`` unknown (the message lists the valid names by family) or not built
            in ``framework`` (the message lists what that framework builds and why);
            ``attention_type`` not in :data:`ATTENTION_TYPES`, or not ``"none"`` on a
            Transformer (the reason from :data:`TRANSFORMER_REFUSAL`);
            ``enable_attention_supervision`` not a bool, or ``True`` with an attention type
            that has no spatial map (``"se"``, ``"eca"``, ``"none"``); ``pretrained`` neither
            ``False``, ``True`` nor a path, or ``True`` for a name without bundled weights.
        FileNotFoundError: ``pretrained`` is a path and no file exists there.
    """
    import os

    owner = "create_vision_backbone"
    if not isinstance(name, str) or name not in BACKBONE_NAMES:
        listing = "; ".join(f"{f.family}: {', '.join(f.names)}" for f in BACKBONE_FAMILIES.values())
        raise ValueError(f"{owner}: argument 'name' expected a torchvision backbone name, got {name!r}"
                         f"{_suggest(name)}. Valid names by family: {listing}")
    family = backbone_family(name)
    if framework != "torch" and name not in FRAMEWORK_BACKBONES[framework]:
        if framework == "paddle":
            offer = ("PaddlePaddle builds: " + ", ".join(FRAMEWORK_BACKBONES["paddle"])
                     + " (ResNet and mobilenet_v2 are this package's networks, mobilenet_v3_* come "
                       "from paddle.vision.models, which has no EfficientNet, EfficientNetV2, ConvNeXt, "
                       "RegNet, ViT, Swin or MaxViT)")
        else:
            offer = ("TensorFlow builds: " + ", ".join(FRAMEWORK_BACKBONES["tensorflow"])
                     + " (ResNet and mobilenet_v2 are this package's networks, the others come from "
                       "keras.applications, which in Keras 3 has no RegNet, ViT, Swin or MaxViT)")
        raise ValueError(f"{owner}: argument 'name': {family.family} backbone {name!r} is not available "
                         f"in {framework}. {offer}. PyTorch (vision_attention.torch) builds every name.")
    if not isinstance(attention_type, str) or attention_type not in ATTENTION_TYPES:
        raise ValueError(f"{owner}: argument 'attention_type' expected one of {ATTENTION_TYPES}, "
                         f"got {attention_type!r}")
    if attention_type not in family.attention_types:
        raise ValueError(f"{owner}: argument 'attention_type' expected 'none' for the {family.family} "
                         f"backbone {name!r}, got {attention_type!r}: {family.refusal}")
    if not isinstance(enable_attention_supervision, bool):
        raise ValueError(f"{owner}: argument 'enable_attention_supervision' expected a bool (True or "
                         f"False), got {enable_attention_supervision!r}")
    if enable_attention_supervision and attention_type not in SPATIAL_ATTENTION_TYPES:
        what = ("'none' has no attention module" if attention_type == "none" else
                f"{attention_type.upper()}'s weights are (B, C, 1, 1) channel weights with no spatial map")
        raise ValueError(f"{owner}: argument 'enable_attention_supervision' expected False with "
                         f"attention_type={attention_type!r}, got True: attention supervision compares a "
                         f"spatial attention map (B, 1, H, W) with a mask, and {what}; use "
                         f"attention_type='cbam' (or 'bam')")
    if pretrained is True:
        if name not in BUNDLED_BACKBONES:
            raise ValueError(f"{owner}: argument 'pretrained' expected False or a local checkpoint path for "
                             f"{name!r}, got True: only {', '.join(BUNDLED_BACKBONES)} has bundled weights "
                             f"(vision_attention.weights); nothing is downloaded")
    elif pretrained is not False:
        if not isinstance(pretrained, (str, os.PathLike)):
            raise ValueError(f"{owner}: argument 'pretrained' expected False, True or a local checkpoint "
                             f"path (str or os.PathLike), got {pretrained!r}")
        if framework != "torch" and name not in OWN_TRUNKS:
            raise ValueError(f"{owner}: argument 'pretrained' expected False for {name!r} in {framework}, "
                             f"got a path: only the trunks shared with PyTorch ({', '.join(OWN_TRUNKS)}) "
                             f"convert from a PyTorch state_dict (through the canonical weights)")
        if not os.path.isfile(os.fspath(pretrained)):
            raise FileNotFoundError(f"{owner}: argument 'pretrained': no checkpoint file at "
                                    f"{os.fspath(pretrained)!r}")
    return family
