"""PaddlePaddle backend of the parity layer: leaf layers, their arrays, and a forward/backward run.

Leaf names come from ``named_sublayers()``, which spells ``Sequential``/``LayerList``
children by index exactly as PyTorch does. Layout differences (Linear ``(in, out)``,
BatchNorm ``_mean``/``_variance``) are declared in :mod:`.layouts`, not here.
"""

from __future__ import annotations

import inspect

import numpy as np

from .._frameworks import import_paddle
from ._dispatch import TargetShapeError, is_builtin
from .layouts import PARAMETER_KIND

paddle = import_paddle()
nn = paddle.nn

FRAMEWORK = "paddle"

_KINDS = (
    (nn.Conv2D, "conv2d"),
    (nn.Conv1D, "conv1d"),
    (nn.Conv2DTranspose, "conv_transpose2d"),
    (nn.Linear, "linear"),
    (nn.layer.norm._BatchNormBase, "batchnorm"),
    (nn.BatchNorm, "batchnorm"),
)


def _kind(layer) -> str | None:
    for cls, kind in _KINDS:
        if isinstance(layer, cls):
            return kind
    return None


def leaf_layers(module) -> list[tuple[str, str, object]]:
    """``(dotted name, leaf kind, layer)`` for every weight-bearing layer of ``module``.

    A layer of no supported kind that is not a Paddle built-in and owns parameters but no
    buffers (SAGAN's ``gamma``) is a ``"parameter"`` leaf; see :func:`own_parameters`.

    Raises:
        NotImplementedError: a layer holds parameters or buffers but is not a supported leaf kind.
    """
    leaves, unsupported = [], []
    for name, layer in module.named_sublayers(include_self=True):
        kind = _kind(layer)
        if kind is not None:
            leaves.append((name, kind, layer))
            continue
        params = own_parameters(layer)
        buffers = [n for n, b in layer.named_buffers(include_sublayers=False) if b is not None]
        if params and not buffers and not is_builtin(layer):
            leaves.append((name, PARAMETER_KIND, layer))
            continue
        own = params + buffers
        if own:
            unsupported.append(f"{name or '<root>'} ({type(layer).__name__}: {', '.join(own)})")
    if unsupported:
        raise NotImplementedError(
            "parity: no weight layout for these paddle layers: " + "; ".join(unsupported)
        )
    return leaves


def own_parameters(layer) -> list[str]:
    """Names of the parameters ``layer`` holds itself (attribute names, as assigned from
    ``create_parameter``), in definition order."""
    return [n for n, _ in layer.named_parameters(include_sublayers=False)]


def array_shape(layer, name: str) -> tuple[int, ...] | None:
    value = getattr(layer, name, None)
    return None if value is None else tuple(int(d) for d in value.shape)


def get_array(layer, name: str) -> np.ndarray:
    return np.array(getattr(layer, name).numpy(), copy=True)


def set_array(layer, name: str, array: np.ndarray) -> None:
    target = getattr(layer, name)
    target.set_value(np.ascontiguousarray(array, dtype=np.float32))


def batchnorm_hparams(layer) -> tuple[float, float]:
    """``(eps, momentum)`` of a BatchNorm layer, momentum in Paddle's convention."""
    return float(layer._epsilon), float(layer._momentum)


def supports_attention(module) -> bool:
    return "return_attention" in inspect.signature(module.forward).parameters


def _tensors(xs, grad: bool = False) -> list:
    """The module's positional inputs (a tuple of NCHW arrays) as Paddle tensors."""
    return [paddle.to_tensor(np.ascontiguousarray(x, dtype=np.float32), stop_gradient=not grad) for x in xs]


def run(module, xs: tuple, grad: bool):
    """Eval-mode forward of ``module`` on its inputs ``xs`` (a tuple of NCHW arrays, passed
    positionally), optionally the tuple of d(sum(output))/dx, one per input."""
    module.eval()
    ts = _tensors(xs, grad)
    if supports_attention(module):
        y, attention = module(*ts, return_attention=True)
    else:
        y, attention = module(*ts), {}
    g = None
    if grad:  # an input the output does not use (SingleScale's finer stages) has gradient 0
        g = tuple((paddle.zeros_like(t) if d is None else d).numpy()
                  for t, d in zip(ts, paddle.grad([y.sum()], ts, allow_unused=True)))
    outputs = {"output": y.numpy()}
    outputs.update({k: v.numpy() for k, v in attention.items()})
    return outputs, g


def train_step(module, xs: tuple, target: np.ndarray, lr: float):
    """One training step: training-mode forward on the inputs ``xs`` (NCHW arrays), the loss
    ``0.5 * mean((y - target)^2)``, its gradients, one ``paddle.optimizer.SGD`` step (``lr``,
    no weight decay; none for a module without parameters). The module is left in eval mode.

    Returns ``(output, loss, grads, counts)`` as the PyTorch backend's ``train_step``:
    gradients keyed by ``id(parameter)``, values per channel keyed by ``id(BatchNorm layer)``.
    """
    counts = {}

    def pre_hook(layer, args):
        shape = args[0].shape
        counts[id(layer)] = int(np.prod(shape)) // int(shape[1])

    norms = [layer for _, kind, layer in leaf_layers(module) if kind == "batchnorm"]
    handles = [layer.register_forward_pre_hook(pre_hook) for layer in norms]
    params = [p for p in module.parameters() if not p.stop_gradient]
    # a module without parameters takes no step (Paddle's SGD refuses an empty parameter list)
    optimizer = paddle.optimizer.SGD(learning_rate=lr, parameters=params) if params else None
    module.train()
    try:
        if optimizer is not None:
            optimizer.clear_grad()
        y = module(*_tensors(xs))
        if tuple(y.shape) != tuple(target.shape):
            raise TargetShapeError(y.shape)
        loss = 0.5 * paddle.mean((y - paddle.to_tensor(np.ascontiguousarray(target, dtype=np.float32))) ** 2)
        if params:
            loss.backward()
        grads = {id(p): p.grad.numpy().copy() for p in params if p.grad is not None}
        if optimizer is not None:
            optimizer.step()
    finally:
        module.eval()
        for handle in handles:
            handle.remove()
    return y.numpy(), float(loss), grads, counts


def variable(layer, name: str):
    """The parameter or buffer object ``name`` of ``layer`` (what :func:`train_step` keys on)."""
    return getattr(layer, name)
