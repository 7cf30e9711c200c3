"""PaddlePaddle implementations (NCHW). Mirrors :mod:`vision_attention.torch` and
:mod:`vision_attention.tensorflow` file for file: same class names, arguments, defaults
and parameter names. Paddle is imported through
:func:`vision_attention._frameworks.import_paddle` (quiet, and safe against the
TensorFlow-first import order that crashes)."""

from .bam import BAM
from .cbam import CBAM, ChannelAttention, SpatialAttention
from .eca import ECA
from .nonlocal_block import NonLocalBlock
from .se import SEBlock
from .self_attention import MultiHeadSelfAttention2d, SelfAttention2d
from .attention_gate import AttentionGate, GridAttentionGate
from .unet import AttentionUNet, DecoderBlock, DecoderBlockWithAttention, UNet
from .fusion import MultiScaleAttention, MultiScaleConcat, MultiScaleIQA, QualityHead, SingleScale
from .backbones import VisionBackbone, attention_supervision_loss, class_activation_map, create_vision_backbone

__all__ = [
    "SEBlock", "ECA", "ChannelAttention", "SpatialAttention", "CBAM", "BAM", "NonLocalBlock",
    "SelfAttention2d", "MultiHeadSelfAttention2d",
    "AttentionGate", "GridAttentionGate", "DecoderBlock", "DecoderBlockWithAttention", "UNet",
    "AttentionUNet",
    "VisionBackbone", "create_vision_backbone", "attention_supervision_loss", "class_activation_map",
    "MultiScaleAttention", "MultiScaleConcat", "SingleScale", "QualityHead", "MultiScaleIQA",
]
