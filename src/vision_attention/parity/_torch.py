"""PyTorch backend of the parity layer: leaf layers, their arrays, and a forward/backward run.

Leaf names come from ``named_modules()``, so they are the ``state_dict()`` prefixes.
PyTorch layouts are the canonical ones (see :mod:`.layouts`).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from torch import nn

from ._dispatch import TargetShapeError, is_builtin
from .layouts import PARAMETER_KIND

FRAMEWORK = "torch"

_KINDS = (
    (nn.Conv2d, "conv2d"),
    (nn.Conv1d, "conv1d"),
    (nn.ConvTranspose2d, "conv_transpose2d"),
    (nn.Linear, "linear"),
    (nn.modules.batchnorm._BatchNorm, "batchnorm"),
)


def _kind(layer) -> str | None:
    for cls, kind in _KINDS:
        if isinstance(layer, cls):
            return kind
    return None


def leaf_layers(module: nn.Module) -> list[tuple[str, str, nn.Module]]:
    """``(dotted name, leaf kind, layer)`` for every weight-bearing layer of ``module``.

    A layer of no supported kind that is not a torch built-in and owns parameters but no
    buffers (SAGAN's ``gamma``) is a ``"parameter"`` leaf; see :func:`own_parameters`.

    Raises:
        NotImplementedError: a layer holds parameters or buffers but is not a supported
            leaf kind (its arrays would silently be left out of the exchange).
    """
    leaves, unsupported = [], []
    for name, layer in module.named_modules():
        kind = _kind(layer)
        if kind is not None:
            leaves.append((name, kind, layer))
            continue
        params = own_parameters(layer)
        buffers = [n for n, b in layer.named_buffers(recurse=False) if b is not None]
        if params and not buffers and not is_builtin(layer):
            leaves.append((name, PARAMETER_KIND, layer))
            continue
        own = params + buffers
        if own:
            unsupported.append(f"{name or '<root>'} ({type(layer).__name__}: {', '.join(own)})")
    if unsupported:
        raise NotImplementedError(
            "parity: no weight layout for these torch layers: " + "; ".join(unsupported)
        )
    return leaves


def own_parameters(layer) -> list[str]:
    """Names of the parameters ``layer`` holds itself (not in a sub-layer), in definition order."""
    return [n for n, _ in layer.named_parameters(recurse=False)]


def array_shape(layer, name: str) -> tuple[int, ...] | None:
    """Shape of the layer's array ``name`` in the framework layout, ``None`` if absent."""
    value = getattr(layer, name, None)
    return None if value is None else tuple(value.shape)


def get_array(layer, name: str) -> np.ndarray:
    return getattr(layer, name).detach().cpu().numpy().copy()


def set_array(layer, name: str, array: np.ndarray) -> None:
    target = getattr(layer, name)
    with torch.no_grad():
        target.copy_(torch.from_numpy(np.ascontiguousarray(array)).to(target.dtype))


def batchnorm_hparams(layer) -> tuple[float, float]:
    """``(eps, momentum)`` of a BatchNorm layer, momentum in torch's convention."""
    return float(layer.eps), float(layer.momentum)


def supports_attention(module) -> bool:
    return "return_attention" in inspect.signature(module.forward).parameters


def _tensors(xs, requires_grad: bool = False) -> tuple[torch.Tensor, ...]:
    """The module's positional inputs (a tuple of framework-layout arrays) as tensors."""
    return tuple(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).requires_grad_(requires_grad)
                 for x in xs)


def run(module: nn.Module, xs: tuple, grad: bool):
    """Eval-mode forward of ``module`` on its inputs ``xs`` (a tuple of framework-layout
    arrays, passed positionally), optionally the input gradients.

    Returns ``(outputs, input_grads)``: ``outputs`` maps ``"output"`` (and the attention keys
    when the module supports ``return_attention``) to numpy arrays; ``input_grads`` is the
    tuple of d(sum(output))/dx, one per input, or ``None``.
    """
    module.eval()
    ts = _tensors(xs, grad)
    with torch.set_grad_enabled(grad):
        if supports_attention(module):
            y, attention = module(*ts, return_attention=True)
        else:
            y, attention = module(*ts), {}
        g = None
        if grad:  # an input the output does not use (SingleScale's finer stages) has gradient 0
            g = tuple((torch.zeros_like(t) if d is None else d).numpy()
                      for t, d in zip(ts, torch.autograd.grad(y.sum(), ts, allow_unused=True)))
    outputs = {"output": y.detach().numpy()}
    outputs.update({k: v.detach().numpy() for k, v in attention.items()})
    return outputs, g


def calibrate_batchnorm(module: nn.Module, xs: tuple, choose) -> None:
    """Set every BatchNorm's running statistics from the statistics of its own input.

    One eval-mode forward pass on the inputs ``xs`` (a tuple of NCHW arrays); a pre-hook on each BatchNorm computes the
    per-channel mean and (biased) variance of the layer's input (over every axis but 1), asks
    ``choose(mean, var) -> (running_mean, running_var)`` (float64 arrays) and writes the
    result before the layer runs, so later layers see calibrated activations. A module
    without BatchNorm is not run at all.
    """
    def pre_hook(layer, args):
        inp = args[0].detach().double()
        dims = [d for d in range(inp.ndim) if d != 1]
        mean = inp.mean(dim=dims).numpy()
        var = inp.var(dim=dims, unbiased=False).numpy()
        running_mean, running_var = choose(mean, var)
        set_array(layer, "running_mean", running_mean.astype(np.float32))
        set_array(layer, "running_var", running_var.astype(np.float32))

    norms = [layer for _, kind, layer in leaf_layers(module) if kind == "batchnorm"]
    if not norms:  # nothing to calibrate; the input's shape may not even suit the module
        return
    handles = [layer.register_forward_pre_hook(pre_hook) for layer in norms]
    module.eval()
    try:
        with torch.no_grad():
            module(*_tensors(xs))
    finally:
        for handle in handles:
            handle.remove()


def train_step(module: nn.Module, xs: tuple, target: np.ndarray, lr: float):
    """One training step of ``module``: training-mode forward on its inputs ``xs`` (a tuple of
    NCHW arrays), the loss
    ``0.5 * mean((y - target)^2)``, its gradients, one ``torch.optim.SGD`` step (``lr``, no
    momentum, no weight decay; none for a module without parameters). The module is left in
    eval mode.

    Returns ``(output, loss, grads, counts)``: the training-mode output (numpy), the loss
    (float), ``{id(parameter): gradient}`` (numpy, framework layout) and ``{id(BatchNorm
    layer): values per channel of its input}``.
    """
    counts = {}

    def pre_hook(layer, args):
        counts[id(layer)] = args[0].numel() // args[0].shape[1]

    norms = [layer for _, kind, layer in leaf_layers(module) if kind == "batchnorm"]
    handles = [layer.register_forward_pre_hook(pre_hook) for layer in norms]
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr) if params else None  # parameter-free: no step
    module.train()
    try:
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
        y = module(*_tensors(xs))
        if tuple(y.shape) != tuple(target.shape):
            raise TargetShapeError(y.shape)
        loss = 0.5 * torch.mean((y - torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32))) ** 2)
        if params:
            loss.backward()
        grads = {id(p): p.grad.detach().numpy().copy() for p in params if p.grad is not None}
        if optimizer is not None:
            optimizer.step()
    finally:
        module.eval()
        for handle in handles:
            handle.remove()
    return y.detach().numpy(), loss.item(), grads, counts


def variable(layer, name: str):
    """The parameter or buffer object ``name`` of ``layer`` (what :func:`train_step` keys on)."""
    return getattr(layer, name)
