"""Training parity: parameter gradients and one SGD step, in the canonical format.

:func:`train_step` takes one step of plain SGD on a fixed regression loss in any of the three
frameworks and returns everything in the canonical format (PyTorch names and layouts, NCHW),
so that :func:`vision_attention.parity.difference_table` can hold the frameworks to the same
tolerances in training as in inference:

* the loss is ``L = 0.5 * mean((y - t)^2)`` of the training-mode output ``y`` against a fixed
  target ``t`` (a random target makes every output element matter, unlike ``sum(y)``, whose
  gradient with respect to a BatchNorm's scale is zero);
* parameter gradients ``dL/dw`` are converted to canonical layouts with the same converters
  as the weights (a gradient has its parameter's layout);
* the step is each framework's own optimizer (``torch.optim.SGD``, ``paddle.optimizer.SGD``,
  ``keras.optimizers.SGD``; learning rate ``lr``, no momentum, no weight decay), so the
  weights after it are ``w - lr * dL/dw`` as each framework computes it;
* BatchNorm runs in training mode: it normalises with the batch statistics and updates its
  running statistics with its own momentum; the running variance is rewritten in PyTorch's
  unbiased convention (:func:`vision_attention.parity.layouts.running_var_to_canonical`),
  because Paddle and Keras update it with the biased batch variance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._dispatch import TargetShapeError, backend, check_framework, framework_of
from .layouts import activation_from_framework, activation_to_framework, running_var_to_canonical
from .weights import _entries, batchnorm_config, export_weights, load_weights

__all__ = ["TrainingStep", "train_step", "DEFAULT_LR"]

DEFAULT_LR = 0.1
"""Learning rate of the parity step: large enough that the step moves every weight by far more
than the tolerance (``lr * |dL/dw|``), small enough to stay a step of ordinary training."""



@dataclass(frozen=True)
class TrainingStep:
    """One SGD step of a module, in the canonical format.

    Attributes:
        framework: the module's framework.
        output: training-mode output ``(B, C, H, W)`` NCHW float32, before the step.
        loss: ``0.5 * mean((output - target)^2)``, float.
        param_grads: ``{canonical name: dL/dw}`` for every trainable array (PyTorch layouts;
            BatchNorm running statistics have none).
        weights_after: canonical weights after the step (:func:`export_weights`), every
            ``running_var`` in PyTorch's unbiased convention.
        raw_running_var: ``{canonical name: running_var}`` after the step as the framework
            stores it (before that rewrite), for showing the convention's effect.
        counts: ``{BatchNorm canonical prefix: values per channel of its input}``.
    """

    framework: str
    output: np.ndarray
    loss: float
    param_grads: dict = field(repr=False)
    weights_after: dict = field(repr=False)
    raw_running_var: dict = field(repr=False)
    counts: dict = field(repr=False)


def _check_array(owner: str, name: str, value, per_image: bool = False) -> np.ndarray:
    """``value`` as float32, 4-D (NCHW), or also 2-D ``(B, K)`` when ``per_image`` (a target
    for per-image outputs such as quality scores, which have no layout)."""
    array = np.asarray(value, dtype=np.float32)
    if array.ndim != 4 and not (per_image and array.ndim == 2):
        what = "a 4-D NCHW array or a 2-D (B, K) array" if per_image else "a 4-D NCHW array"
        raise ValueError(f"{owner}: argument {name!r} expected {what}, got shape {array.shape}")
    return array


def train_step(framework: str, module, x_nchw, target_nchw, lr: float = DEFAULT_LR) -> TrainingStep:
    """Take one SGD step of ``module`` on ``(x, target)`` and report it canonically.

    Args:
        framework: ``"torch"``, ``"paddle"`` or ``"tensorflow"``; must be ``module``'s.
        module: a module of this package (its weights change in place: one step is taken).
        x_nchw: input ``(B, C, H, W)``, cast to float32, converted to the framework's layout;
            a ``tuple`` of such inputs for a module with several (passed positionally).
        target_nchw: target of the output's shape, NCHW; or ``(B, K)`` for a module with
            per-image outputs (a quality head's ``(B, 1)`` scores).
        lr: learning rate, positive.

    Returns:
        a :class:`TrainingStep`. The module is left in eval (inference) mode.

    Raises:
        ValueError: ``framework`` is not the module's; an input not 4-D; ``target_nchw``
            neither 4-D nor 2-D; ``lr`` not positive; the target's shape is not the output's
            (found by the forward pass; the module's weights and statistics are then restored,
            no step is taken).
    """
    check_framework(framework)
    actual = framework_of(module)
    if actual != framework:
        raise ValueError(
            f"train_step: argument 'framework' expected {actual!r} (the module's framework), got {framework!r}"
        )
    from .compare import as_inputs  # local: compare imports this module

    xs = tuple(_check_array("train_step", "x_nchw", x) for x in as_inputs("train_step", x_nchw))
    target = _check_array("train_step", "target_nchw", target_nchw, per_image=True)
    if not np.isscalar(lr) or not float(lr) > 0:
        raise ValueError(f"train_step: argument 'lr' expected a positive number, got {lr!r}")
    be = backend(framework)
    _, entries, norms = _entries(module)
    before = export_weights(module)
    try:
        output, loss, grads, counts = be.train_step(
            module, tuple(activation_to_framework(framework, x) for x in xs),
            activation_to_framework(framework, target), float(lr)
        )
    except TargetShapeError as error:  # only the forward knows the output's shape: undo its
        load_weights(module, before)   # BatchNorm updates; no loss or step was computed
        shape = activation_from_framework(framework, np.empty(error.shape, np.float32)).shape
        raise ValueError(
            f"train_step: argument 'target_nchw' expected the output's shape {shape}, got {target.shape}"
        ) from None
    output = activation_from_framework(framework, output)
    param_grads = {}
    for e in entries:
        g = grads.get(id(be.variable(e.layer, e.spec.framework_name)))
        if g is not None:
            param_grads[e.name] = e.spec.converter.to_canonical(g).astype(np.float32, copy=False)
    weights = export_weights(module)
    momentum = {prefix: cfg["momentum"] for prefix, cfg in batchnorm_config(module).items()}
    layer_counts = {prefix: counts[id(layer)] for prefix, layer in norms if id(layer) in counts}
    raw = {}
    for prefix in layer_counts:
        name = f"{prefix}.running_var" if prefix else "running_var"
        raw[name] = weights[name]
        weights[name] = running_var_to_canonical(
            framework, weights[name], before[name], momentum[prefix], layer_counts[prefix]
        ).astype(np.float32)
    return TrainingStep(framework, output, loss, param_grads, weights, raw, layer_counts)
