"""Which framework a module belongs to, and the matching backend, imported lazily."""

from __future__ import annotations

import importlib
from types import ModuleType

FRAMEWORKS = ("torch", "paddle", "tensorflow")

# Top-level package of a class's module -> framework name.
_ROOTS = {"torch": "torch", "paddle": "paddle", "keras": "tensorflow", "tensorflow": "tensorflow"}


class TargetShapeError(ValueError):
    """Raised by a backend's ``train_step`` when the target's shape is not the output's,
    before the loss (``shape``: the output's shape in the framework's layout)."""

    def __init__(self, shape):
        self.shape = tuple(int(d) for d in shape)
        super().__init__(f"the output has shape {self.shape}")


def framework_of(module) -> str:
    """Name of the framework (``"torch"``, ``"paddle"``, ``"tensorflow"``) ``module`` belongs to.

    Read from the module paths of ``type(module).__mro__`` so that no framework is imported
    to find out (a ``vision_attention.torch`` class is recognised by its ``torch.nn.Module``
    base, not by its own package name).

    Raises:
        TypeError: if no class in the MRO comes from one of the three frameworks.
    """
    for cls in type(module).__mro__:
        root = (cls.__module__ or "").split(".")[0]
        if root in _ROOTS:
            return _ROOTS[root]
    raise TypeError(
        f"expected a torch.nn.Module, paddle.nn.Layer or keras.layers.Layer, got {type(module)!r}"
    )


def is_builtin(layer) -> bool:
    """Whether ``layer``'s own class comes from a framework (``torch.nn.LayerNorm``) rather
    than from this package or a user (its top-level module is torch, paddle, keras or
    tensorflow). Only non-built-in layers may own ``parameter`` leaves (see :mod:`.layouts`)."""
    return (type(layer).__module__ or "").split(".")[0] in _ROOTS


def check_framework(framework: str) -> str:
    """Return ``framework`` if it is one of :data:`FRAMEWORKS`, else raise ``ValueError``."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"argument 'framework' expected one of {FRAMEWORKS}, got {framework!r}")
    return framework


def backend(framework: str) -> ModuleType:
    """The backend module (``_torch``, ``_paddle`` or ``_tensorflow``) of ``framework``."""
    return importlib.import_module(f"._{check_framework(framework)}", __package__)
