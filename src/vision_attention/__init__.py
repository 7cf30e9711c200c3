"""vision_attention: attention modules for vision networks in three frameworks.

Importing this package imports no deep-learning framework (it takes well under 0.2 s).
The framework implementations live in mirrored subpackages, imported on demand:

* ``vision_attention.torch``       PyTorch, NCHW
* ``vision_attention.paddle``      PaddlePaddle, NCHW
* ``vision_attention.tensorflow``  TensorFlow / Keras 3, NHWC

Framework-neutral parts: :mod:`vision_attention.parity` (weight exchange and cross-framework
comparison), :mod:`vision_attention.data` (real images shipped by installed packages, and the pasted-digits
data set with labels and masks), :mod:`vision_attention.metrics` (how well an attention map
points at an object: mask IoU, the pointing game),
:mod:`vision_attention.profiling` (parameters, FLOPs, latency),
:mod:`vision_attention.stats` (paired comparisons across seeds, latency summaries),
:mod:`vision_attention.monitor` (attention-weight statistics during training, ablation),
:mod:`vision_attention.tune` (hyperparameter search with Optuna, and its command line),
:mod:`vision_attention.viz` (the book's figures) and
:func:`vision_attention.eca_kernel_size`.
"""

from .formulas import eca_kernel_size

__version__ = "0.1.0"
FRAMEWORKS = ("torch", "paddle", "tensorflow")
"""Names of the framework subpackages, in the order they can safely be imported."""

__all__ = ["eca_kernel_size", "FRAMEWORKS", "__version__"]
