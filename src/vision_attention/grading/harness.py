"""Helpers for the exercises' ``cases.py``, run inside the grading child (importable there as ``harness``).

They put canonical weights (PyTorch names and layouts, float32 numpy; see
:mod:`vision_attention.parity.layouts`) into a student's module, with an error that names
the parameter and both shapes when the module was built differently, and turn framework
tensors back into numpy. Each function imports only its own framework.
"""

from __future__ import annotations

import numpy as np


class WeightError(ValueError):
    """The student's module has no parameter of that name, or one of another shape."""


def _check(owner: str, name: str, have, want, layout: str) -> None:
    if tuple(have) != tuple(want):
        raise WeightError(
            f"{owner}.{name} has shape {tuple(have)} but the grader's weights need {tuple(want)} "
            f"({layout}); check the layer's sizes (e.g. the hidden width C // reduction_ratio)"
        )


def _missing(owner: str, name: str, available) -> WeightError:
    return WeightError(f"{owner} has no parameter {name!r} (it has: {sorted(available) or 'none'}); "
                       "use the attribute names given in the docstring")


def set_torch(module, weights: dict) -> None:
    """Copy canonical ``weights`` into a ``torch.nn.Module`` (parameters and buffers, by name)."""
    import torch

    owner = type(module).__name__
    tensors = dict(module.named_parameters()) | dict(module.named_buffers())
    for name, value in weights.items():
        if name not in tensors:
            raise _missing(owner, name, tensors)
        _check(owner, name, tensors[name].shape, value.shape, "PyTorch layout")
        with torch.no_grad():
            tensors[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))


_PADDLE_BN = {"running_mean": "_mean", "running_var": "_variance"}


def set_paddle(module, weights: dict, convert: bool = True) -> None:
    """Copy canonical ``weights`` into a ``paddle.nn.Layer``.

    With ``convert`` (default) ``Linear`` weights are transposed to Paddle's ``(in, out)`` and
    BatchNorm statistics renamed (``running_mean`` -> ``_mean``, ``running_var`` -> ``_variance``);
    with ``convert=False`` the names and arrays are used as given (Paddle's own layout).
    """
    import paddle

    owner = type(module).__name__
    layers = dict(module.named_sublayers())
    tensors = {n: p for n, p in module.named_parameters()} | {n: b for n, b in module.named_buffers()}
    for name, value in weights.items():
        target, array = name, value
        if convert:
            parent, _, leaf = name.rpartition(".")
            layer = layers.get(parent)
            if isinstance(layer, paddle.nn.Linear) and leaf == "weight":
                array = value.T
            if leaf in _PADDLE_BN:
                target = f"{parent}.{_PADDLE_BN[leaf]}" if parent else _PADDLE_BN[leaf]
        if target not in tensors:
            raise _missing(owner, target, tensors)
        _check(owner, target, tensors[target].shape, array.shape, "Paddle layout")
        tensors[target].set_value(np.ascontiguousarray(array, dtype=np.float32))


_KERAS_NAMES = {"weight": None, "bias": "bias", "running_mean": "moving_mean", "running_var": "moving_variance"}


def _keras_array(layer, leaf: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        return {"weight": "gamma", "bias": "beta"}.get(leaf, _KERAS_NAMES.get(leaf, leaf)), value
    if leaf == "weight":
        if isinstance(layer, keras.layers.Dense):
            return "kernel", value.T
        if isinstance(layer, keras.layers.Conv2D):
            return "kernel", value.transpose(2, 3, 1, 0)
        if isinstance(layer, keras.layers.Conv1D):
            return "kernel", value.transpose(2, 1, 0)
        return "kernel", value
    return leaf, value


def set_keras(layer, weights: dict, convert: bool = True) -> None:
    """Assign canonical ``weights`` to a built Keras layer's sub-layers, found by attribute path.

    ``"fc1.weight"`` is ``layer.fc1``'s kernel; a number picks a layer of a ``keras.Sequential``
    (``"W_g.0.weight"`` is the kernel of ``layer.W_g.layers[0]``, as PyTorch names the children
    of an ``nn.Sequential``). With ``convert`` (default) kernels are
    transposed to Keras layouts (Dense ``(in, out)``, Conv2D ``(kH, kW, I, O)``, Conv1D
    ``(K, I, O)``) and BatchNorm names mapped (gamma, beta, moving_mean, moving_variance);
    with ``convert=False`` the leaf names are Keras variable names and arrays are used as given.
    """
    owner = type(layer).__name__
    for name, value in weights.items():
        path, _, leaf = name.rpartition(".")
        target = layer
        for part in path.split(".") if path else []:
            children = getattr(target, "layers", None) if part.isdigit() else None
            if isinstance(children, list) and int(part) < len(children):
                target = children[int(part)]
                continue
            if not hasattr(target, part):
                raise _missing(owner, name, [a for a in vars(target) if not a.startswith("_")])
            target = getattr(target, part)
        var_name, array = _keras_array(target, leaf, value) if convert else (leaf, value)
        variables = {v.name.rpartition("/")[2]: v for v in target.weights}
        if var_name not in variables:
            raise _missing(owner, f"{path}.{var_name}", variables)
        _check(owner, f"{path}.{var_name}", variables[var_name].shape, array.shape, "Keras layout")
        variables[var_name].assign(np.ascontiguousarray(array, dtype=np.float32))


def nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def nhwc_to_nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))


def to_numpy(value) -> np.ndarray:
    """A framework tensor (or array-like) as a numpy array, without keeping the graph."""
    if hasattr(value, "detach"):  # torch
        value = value.detach().cpu()
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value)
