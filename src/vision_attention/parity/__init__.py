"""Cross-framework parity: one weight format, one comparison, three frameworks.

The canonical weight format is a ``dict[str, numpy.ndarray]`` (float32) keyed like
PyTorch's ``state_dict()`` without ``num_batches_tracked``, arrays in PyTorch layouts.
Every layout difference (conv OIHW <-> HWIO, Linear (out, in) <-> Dense (in, out),
BatchNorm statistics names and eps, NCHW <-> NHWC activations) is declared in
:mod:`vision_attention.parity.layouts` and nowhere else.

* :func:`export_weights` / :func:`load_weights` work on a module of any of the three
  frameworks; :class:`WeightMismatchError` lists missing, unexpected and wrongly-shaped names.
* :func:`build_module`, :func:`random_weights`, :func:`run_module` and
  :func:`compare_frameworks` run one module in all frameworks and tabulate the differences
  beside the contract's tolerances (:func:`difference_table`), in inference and in training:
  :func:`train_step` takes one SGD step in training mode (BatchNorm on batch statistics) and
  reports the parameter gradients and the weights after the step canonically.
* :data:`OUTPUT_ATOL`, :data:`GRAD_ATOL`, :data:`RESNET_RTOL` are those tolerances (float32),
  defined here only: modules' outputs and attention maps ``max |a - b| <= 1e-5``, their input
  gradients of the summed output ``max |a - b| <= 1e-4``, in training the parameter
  gradients ``<= 1e-4`` and the weights after one SGD step ``<= 1e-5``, whole networks in eval mode
  ``max |a - b| / max |a| <= 1e-4`` on the logits.
* :data:`NETWORKS` names the whole networks (``attention_resnet``, ``attention_mobilenet_v2``)
  that :func:`build_module` takes from ``vision_attention.<framework>.models`` and that the
  comparison holds to the whole-network tolerance.

Importing this package imports no framework (nor pandas); a module's framework is read from
``type(module).__mro__`` and the matching backend is imported on first use.
"""

from .compare import (
    GRAD_ATOL,
    NETWORKS,
    OUTPUT_ATOL,
    RESNET_RTOL,
    TABLE_COLUMNS,
    build_module,
    compare_frameworks,
    difference_table,
    run_module,
)
from ._dispatch import FRAMEWORKS, framework_of
from .training import TrainingStep, train_step
from .weights import WeightMismatchError, batchnorm_config, export_weights, load_weights, random_weights

__all__ = [
    "FRAMEWORKS",
    "GRAD_ATOL",
    "NETWORKS",
    "OUTPUT_ATOL",
    "RESNET_RTOL",
    "TABLE_COLUMNS",
    "TrainingStep",
    "WeightMismatchError",
    "batchnorm_config",
    "build_module",
    "compare_frameworks",
    "difference_table",
    "export_weights",
    "framework_of",
    "load_weights",
    "random_weights",
    "run_module",
    "train_step",
]
