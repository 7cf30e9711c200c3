"""Networks with attention modules (PyTorch, NCHW), with torchvision's parameter names.

* :func:`attention_resnet` -- ResNet v1.5 (18/34/50/101/152) with SE, ECA or CBAM in every
  block, or BAM between stages.
* :func:`attention_mobilenet_v2` -- MobileNetV2 with SE, ECA or CBAM in every inverted
  residual block, or BAM between resolution stages; ``pretrained=True`` loads torchvision's
  bundled ImageNet weights.
* :func:`load_pretrained` -- load a local checkpoint file (nothing is ever downloaded).
"""

from .checkpoint import load_pretrained
from .mobilenet_v2 import AttentionMobileNetV2, InvertedResidual, attention_mobilenet_v2
from .resnet import ATTENTION_TYPES, AttentionResNet, attention_resnet, make_attention

__all__ = [
    "ATTENTION_TYPES",
    "AttentionResNet",
    "attention_resnet",
    "AttentionMobileNetV2",
    "InvertedResidual",
    "attention_mobilenet_v2",
    "make_attention",
    "load_pretrained",
]
