"""TensorFlow / Keras 3 implementations (NHWC). Mirrors :mod:`vision_attention.torch` and
:mod:`vision_attention.paddle` file for file: same class names, arguments, defaults
and parameter names; inputs are ``(B, H, W, C)`` and every weight is created in the
constructor (a freshly built layer already holds all its variables).

TensorFlow is imported through :func:`vision_attention._frameworks.import_tensorflow`,
which silences its logs and imports Paddle first (the other order segfaults)."""

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
