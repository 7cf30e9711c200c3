"""Exporting and loading weights in the canonical, framework-neutral format.

The format: ``dict[str, numpy.ndarray]``, float32, keys as PyTorch's ``state_dict()``
(without ``num_batches_tracked``), arrays in PyTorch layouts. Every conversion between a
framework's own layout and this one is declared in :mod:`.layouts`; the framework backends
(``_torch``, ``_paddle``, ``_tensorflow``) only enumerate leaf layers and read/write arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ._dispatch import backend, framework_of
from .layouts import (
    CANONICAL_BN_EPS,
    PARAMETER_KIND,
    PARAMETER_MAX_RANK,
    ParamSpec,
    momentum_to_canonical,
    param_specs,
    parameter_specs,
)

__all__ = [
    "WeightMismatchError",
    "export_weights",
    "load_weights",
    "random_weights",
    "batchnorm_config",
]


class WeightMismatchError(ValueError):
    """Canonical weights that do not fit a module.

    Attributes:
        missing: canonical names the module has and the weights lack.
        unexpected: names in the weights the module does not have.
        wrong_shape: ``{name: (expected_shape, given_shape)}`` (canonical layouts).
        wrong_eps: ``{name: eps}`` for BatchNorm layers whose epsilon is not the canonical
            ``1e-5`` (the weights would load, but compute something else).
    """

    def __init__(self, owner: str, missing=(), unexpected=(), wrong_shape=None, wrong_eps=None):
        self.owner = owner
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        self.wrong_shape = dict(wrong_shape or {})
        self.wrong_eps = dict(wrong_eps or {})
        lines = [f"load_weights: argument 'weights' does not fit {owner}; nothing was assigned."]
        if self.missing:
            lines.append(f"  missing ({len(self.missing)}): {', '.join(self.missing)}")
        if self.unexpected:
            lines.append(f"  unexpected ({len(self.unexpected)}): {', '.join(self.unexpected)}")
        if self.wrong_shape:
            lines.append(f"  wrong shape ({len(self.wrong_shape)}), expected vs given (PyTorch layout):")
            lines += [f"    {n}: expected {e}, given {g}" for n, (e, g) in sorted(self.wrong_shape.items())]
        if self.wrong_eps:
            lines.append(
                f"  BatchNorm eps differs from the canonical {CANONICAL_BN_EPS:g} "
                f"({len(self.wrong_eps)}): "
                + ", ".join(f"{n} (eps={e:g})" for n, e in sorted(self.wrong_eps.items()))
            )
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class _Entry:
    name: str  # canonical name
    kind: str
    layer: object
    spec: ParamSpec
    framework_shape: tuple

    @property
    def canonical_shape(self) -> tuple:
        return tuple(self.spec.converter.canonical_shape(self.framework_shape))


def _entries(module) -> tuple[str, list[_Entry], list[tuple[str, object]]]:
    """``(framework, entries, batchnorm layers)`` of ``module``."""
    framework = framework_of(module)
    be = backend(framework)
    entries, norms, seen = [], [], set()
    for prefix, kind, layer in be.leaf_layers(module):
        if kind == "batchnorm":
            norms.append((prefix, layer))
        if kind == PARAMETER_KIND:
            specs = parameter_specs(be.own_parameters(layer))
        else:
            specs = param_specs(framework, kind)
        for spec in specs:
            shape = be.array_shape(layer, spec.framework_name)
            if shape is None:
                if spec.optional:
                    continue
                raise NotImplementedError(
                    f"parity: {framework} layer {prefix or '<root>'} ({type(layer).__name__}) has no "
                    f"'{spec.framework_name}' (for example a BatchNorm without affine parameters "
                    f"or running statistics); the canonical format needs it"
                )
            name = f"{prefix}.{spec.canonical_name}" if prefix else spec.canonical_name
            if kind == PARAMETER_KIND and len(shape) > PARAMETER_MAX_RANK:
                raise NotImplementedError(
                    f"parity: {framework} parameter {name!r} of {type(layer).__name__} has shape "
                    f"{shape}; only 0-D and 1-D parameters are exchanged as-is (no layout is "
                    f"declared for higher ranks)"
                )
            if name in seen:
                raise NotImplementedError(f"parity: two arrays of {type(module).__name__} map to {name!r}")
            seen.add(name)
            entries.append(_Entry(name, kind, layer, spec, shape))
    return framework, entries, norms


def export_weights(module) -> dict[str, np.ndarray]:
    """Export the weights of a torch, paddle or TensorFlow module in the canonical format.

    Args:
        module: a ``torch.nn.Module``, ``paddle.nn.Layer`` or Keras ``Layer`` (built).

    Returns:
        ``{canonical name: float32 array}`` in PyTorch layouts (Conv2d OIHW, Conv1d (O, I, K),
        Linear (out, in), BatchNorm weight/bias/running_mean/running_var, a module's own 0-D/1-D
        parameters such as ``gamma`` unchanged), keyed like
        ``torch.nn.Module.state_dict()`` without ``num_batches_tracked``. Arrays are copies.

    Raises:
        TypeError: ``module`` is not from one of the three frameworks.
        NotImplementedError: the module holds weights in a layer kind with no declared layout.
        ValueError: a TensorFlow module that is not built yet.
    """
    framework, entries, _ = _entries(module)
    be = backend(framework)
    return {
        e.name: e.spec.converter.to_canonical(be.get_array(e.layer, e.spec.framework_name)).astype(
            np.float32, copy=False
        )
        for e in entries
    }


def load_weights(module, weights: Mapping[str, np.ndarray]) -> None:
    """Load canonical weights into a torch, paddle or TensorFlow module, in place.

    Everything is checked before anything is assigned: the names must be exactly the
    module's canonical names, every array must have the module's canonical shape, and every
    BatchNorm layer must use the canonical ``eps=1e-5``. Keys ending in
    ``num_batches_tracked`` (present in PyTorch state dicts) are ignored. Arrays are cast
    to float32 and converted to the framework's layout (see :mod:`.layouts`).

    Args:
        module: a ``torch.nn.Module``, ``paddle.nn.Layer`` or built Keras ``Layer``.
        weights: ``{canonical name: array-like}`` as returned by :func:`export_weights`.

    Raises:
        WeightMismatchError: (a ``ValueError``) listing every missing, unexpected and
            wrongly-shaped name (expected vs given shape) and every BatchNorm with another eps.
        TypeError: ``weights`` is not a mapping with string keys, or ``module`` is not from
            one of the three frameworks.
    """
    if not isinstance(weights, Mapping) or not all(isinstance(k, str) for k in weights):
        raise TypeError(
            f"load_weights: argument 'weights' expected a mapping of str to arrays, got {type(weights)!r}"
        )
    framework, entries, norms = _entries(module)
    be = backend(framework)
    given = {k: v for k, v in weights.items() if not k.endswith("num_batches_tracked")}
    names = {e.name for e in entries}
    missing = names - given.keys()
    unexpected = given.keys() - names
    arrays, wrong_shape = {}, {}
    for e in entries:
        if e.name not in given:
            continue
        array = np.asarray(given[e.name], dtype=np.float32)
        if array.shape != e.canonical_shape:
            wrong_shape[e.name] = (e.canonical_shape, array.shape)
        arrays[e.name] = array
    wrong_eps = {}
    for prefix, layer in norms:
        eps, _ = be.batchnorm_hparams(layer)
        if not np.isclose(eps, CANONICAL_BN_EPS, rtol=1e-6, atol=0.0):
            wrong_eps[prefix or "<root>"] = eps
    if missing or unexpected or wrong_shape or wrong_eps:
        raise WeightMismatchError(
            f"{type(module).__name__} ({framework})", missing, unexpected, wrong_shape, wrong_eps
        )
    for e in entries:
        value = e.spec.converter.from_canonical(arrays[e.name], e.framework_shape)
        be.set_array(e.layer, e.spec.framework_name, value)


def batchnorm_config(module) -> dict[str, dict[str, float]]:
    """``{layer name: {"eps": eps, "momentum": m}}`` for every BatchNorm layer of ``module``,
    momentum in PyTorch's convention (so the three frameworks can be compared directly)."""
    framework, _, norms = _entries(module)
    be = backend(framework)
    result = {}
    for prefix, layer in norms:
        eps, momentum = be.batchnorm_hparams(layer)
        result[prefix] = {"eps": eps, "momentum": momentum_to_canonical(framework, momentum)}
    return result


def _random_arrays(shapes: Mapping[str, tuple], kinds: Mapping[str, str], rng) -> dict:
    """Seeded random values for canonical arrays of known leaf kinds, drawn in sorted-name
    order (so they depend only on names, shapes and the generator)."""
    out = {}
    for name in sorted(shapes):
        shape = tuple(shapes[name])
        suffix = name.rsplit(".", 1)[-1]
        if kinds[name] == PARAMETER_KIND:
            # Nonzero, so a zero-initialised scale (SAGAN's gamma) does not switch a branch off;
            # small, like the BatchNorm weights (see the docstring).
            value = rng.uniform(0.1, 0.3, shape)
        elif kinds[name] == "batchnorm":
            if suffix == "weight":
                value = rng.uniform(0.1, 0.3, shape)
            elif suffix == "running_var":
                value = rng.uniform(0.5, 1.5, shape)
            else:
                value = rng.normal(0.0, 0.1, shape)
        elif suffix == "weight":
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        out[name] = value.astype(np.float32)
    return {name: out[name] for name in shapes}


def _calibration_shapes(name: str, kwargs: Mapping) -> tuple[tuple[int, int, int, int], ...]:
    """NCHW shapes of the random inputs that calibrate the BatchNorm statistics."""
    from .compare import NETWORKS, example_input_shapes  # local: compare imports this module

    if name in NETWORKS:
        return ((4, 3, 64, 64),)
    return example_input_shapes(name, kwargs, 4, 16, 9)


def random_weights(name: str, /, seed: int = 0, **kwargs) -> dict[str, np.ndarray]:
    """Reference weights for ``vision_attention.torch.<name>(**kwargs)``, seeded.

    Names and shapes come from the PyTorch module; the values are drawn with numpy's
    ``default_rng(seed)``, not taken from the module's own initialisation:

    * conv/linear weights ~ N(0, 2/fan_in) (He), biases ~ N(0, 0.1^2);
    * parameters a module holds directly (leaf kind ``"parameter"``, e.g. SAGAN's ``gamma``,
      which initialises to 0) ~ U(0.1, 0.3): never zero, so the branch they scale is tested,
      and small like a residual-branch scale. With ``gamma ~ 1`` SAGAN's unscaled logits
      ``q.k`` (std ~10 with He weights) make the softmax so sharp that float32 round-off alone
      puts each framework 1.4e-5..1.7e-5 from a float64 run (256 channels, 8x8) and the
      frameworks up to 3e-5 apart; with ``gamma`` ~ 0.2, 4e-6;
      the attention maps are compared at full strength either way;
    * BatchNorm weight ~ U(0.1, 0.3), bias ~ N(0, 0.1^2);
    * BatchNorm running statistics *calibrated and then perturbed*: one eval forward pass
      of the PyTorch module on a seeded N(0, 1) input (``(4, 3, 64, 64)`` for the whole
      networks of :data:`~vision_attention.parity.NETWORKS`, the shapes of
      :data:`~vision_attention.parity.compare.MULTI_INPUT_SHAPES` for modules with several
      inputs or a U-Net, else ``(4, in_channels or 16, 9, 9)``) measures each BatchNorm
      input's per-channel mean ``m`` and variance ``v``; the weights get
      ``running_mean = m + N(0, 0.1^2) * sqrt(v)`` and ``running_var = v * U(0.5, 1.5) + 1e-3``
      (positive). Modules without BatchNorm are not run (the calibration input need not suit
      them, e.g. a window size that does not divide 9).

    So every BatchNorm array is random (a swapped mean/variance or a wrong eps changes the
    output), yet the network behaves like a trained one, which keeps the comparison about the
    implementations rather than about float32 round-off:

    * without the calibration, activations of a random ResNet-50 in eval mode grow to ~1e3
      and saturate the attention sigmoids (torch-paddle logits then differ by 4e-4 relative);
    * with calibrated statistics and unit-scale BatchNorm weights, the random network is
      chaotic (normalised random ReLU layers amplify perturbations exponentially with depth),
      and float32 round-off alone grows by ~1.3x per bottleneck, to 4e-5..8e-5 relative at the
      logits of ResNet-50 in every framework (measured against float64); small BatchNorm
      weights, like the small residual-branch scales of trained ResNets, halve that.

    Args:
        name: a class of :mod:`vision_attention.torch` (``"SEBlock"``, ``"CBAM"``, ...) or a
            whole network of :data:`~vision_attention.parity.NETWORKS` (``"attention_resnet"``,
            ``"attention_mobilenet_v2"``, ``"create_vision_backbone"``; positional-only, so
            ``name=`` in ``kwargs`` is the backbone's name).
        seed: seed of the generator.
        **kwargs: constructor arguments.

    Returns:
        canonical weights ``{name: float32 array}`` (PyTorch layouts), deterministic for
        given arguments and library versions.
    """
    from .compare import build_module  # local: compare imports this module

    module = build_module("torch", name, **kwargs)
    _, entries, _ = _entries(module)
    rng = np.random.default_rng(seed)
    shapes = {e.name: e.canonical_shape for e in entries}
    load_weights(module, _random_arrays(shapes, {e.name: e.kind for e in entries}, rng))

    def choose(mean, var):
        running_mean = mean + rng.normal(0.0, 0.1, mean.shape) * np.sqrt(var)
        running_var = var * rng.uniform(0.5, 1.5, var.shape) + 1e-3
        return running_mean, running_var

    xs = tuple(rng.standard_normal(shape).astype(np.float32) for shape in _calibration_shapes(name, kwargs))
    backend("torch").calibrate_batchnorm(module, xs, choose)
    return export_weights(module)
