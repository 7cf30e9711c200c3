"""Networks with attention modules (TensorFlow / Keras 3, NHWC), with torchvision's names.

* :func:`attention_resnet` -- ResNet v1.5 (18/34/50/101/152) with SE, ECA or CBAM in every
  block, or BAM between stages.
* :func:`attention_mobilenet_v2` -- MobileNetV2 with SE, ECA or CBAM in every inverted
  residual block, or BAM between resolution stages; ``pretrained=True`` loads torchvision's
  bundled ImageNet weights.

Attribute names equal the PyTorch parameter-name prefixes (``layer1[0].conv1`` is
``layer1.0.conv1``; see the note at the top of :mod:`.resnet` for how the layer tree is
organised). Keras stores conv kernels HWIO, ``Dense`` kernels ``(in, out)`` and BatchNorm
statistics as ``moving_mean`` / ``moving_variance``; the parity layer maps them.
"""

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
]
