"""PyTorch adapter of :mod:`vision_attention.monitor`: module paths, forward hooks, and the
identity that :func:`vision_attention.monitor.ablate` swaps in. Mirrors
:mod:`vision_attention.paddle.monitor` and :mod:`vision_attention.tensorflow.monitor`
(the same functions; Keras replaces a layer's ``call`` instead of swapping modules)."""

from __future__ import annotations

from torch import nn

from ..monitor import identity_output

FRAMEWORK = "torch"
FORWARD = "forward"
"""Name of the method that computes a module's output (whose signature the monitor binds)."""


class AblatedAttention(nn.Module):
    """Stand-in for an ablated attention module: ``forward(x, *inputs, return_attention=False)``
    returns ``x`` (``(x, {})`` with ``return_attention=True``); no parameters."""

    def forward(self, x, *inputs, return_attention: bool = False):
        return identity_output(x, *inputs, return_attention=return_attention)


def named_modules(model) -> list:
    """``(path, module)`` for ``model`` (path ``""``) and every submodule, in pre-order."""
    return list(model.named_modules())


def add_hooks(module, before, after) -> list:
    """Register ``before(module, args, kwargs)`` as a forward pre-hook and ``after(module,
    args, kwargs, output)`` (unless ``None``) as a forward hook, both ``with_kwargs=True``;
    returns the handles (``.remove()``)."""
    handles = [module.register_forward_pre_hook(before, with_kwargs=True)]
    if after is not None:
        handles.append(module.register_forward_hook(after, with_kwargs=True))
    return handles


def is_training(module, kwargs) -> bool:
    """Whether a call of ``module`` is a training pass (``module.training``)."""
    return bool(module.training)


def to_numpy(tensor):
    """A detached CPU numpy copy of ``tensor``."""
    return tensor.detach().cpu().numpy()


def replace_by_identity(parent, key: str, module):
    """Put an :class:`AblatedAttention` in ``parent``'s child slot ``key`` (which holds
    ``module``); returns the function that puts ``module`` back."""
    children = parent._modules
    children[key] = AblatedAttention()
    return lambda: children.__setitem__(key, module)
