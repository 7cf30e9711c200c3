"""Every layout difference between the three frameworks, in one place.

The canonical weight format is PyTorch's: a ``dict[str, numpy.ndarray]`` keyed like
``state_dict()`` (without ``num_batches_tracked``), float32, with these layouts:

================  ==========================  ===========================  =================================
leaf kind         PyTorch (canonical)         Paddle                       Keras 3
================  ==========================  ===========================  =================================
conv2d            weight (O, I/g, kH, kW)     weight, same                 kernel (kH, kW, I/g, O)
conv1d            weight (O, I, K)            weight, same                 kernel (K, I, O)
conv_transpose2d  weight (I, O/g, kH, kW)     weight, same                 Conv2DTranspose kernel (kH, kW, O, I)
depthwise         weight (C*M, 1, kH, kW)     weight, same (groups=C)      DepthwiseConv2D kernel (kH, kW, C, M)
linear            weight (out, in)            weight (in, out)             Dense kernel (in, out)
batchnorm         weight, bias,               weight, bias,                gamma, beta,
                  running_mean, running_var   _mean, _variance             moving_mean, moving_variance
parameter         own nn.Parameter ``name``   own parameter ``name``       own Variable attribute ``name``
                  (0-D or 1-D), as-is         (create_parameter), as-is    (add_weight), as-is
================  ==========================  ===========================  =================================

The ``parameter`` kind covers arrays a module of this package holds directly rather than in a
framework layer, such as SAGAN's scalar ``gamma`` (canonical shape ``(1,)``): the canonical
name is the attribute name (prefixed like any leaf), the array is copied unchanged. Only
0-D and 1-D arrays qualify (:data:`PARAMETER_MAX_RANK`), since nothing declares a layout for
higher ranks; only layers whose class is not a framework built-in qualify, so a built-in layer
with no declared layout (a ``LayerNorm``, whose ``eps`` would also have to agree) stays an error.

Biases are 1-D ``(O,)`` everywhere. BatchNorm hyper-parameters are not weights but must
agree too: the canonical ``eps`` is ``1e-5`` (PyTorch's and Paddle's default; Keras's default is
``1e-3``), and momentum is written in PyTorch's convention ``m`` (new = (1-m)*old + m*batch),
which is ``1 - m`` in Paddle and Keras.

Training mode adds one more convention (:data:`RUNNING_VAR_ESTIMATOR`): when a BatchNorm
updates its running variance from a batch of ``n`` values per channel, PyTorch uses the
unbiased batch variance (divided by ``n - 1``), Paddle and Keras the biased one (divided by
``n``); all three normalise the batch itself with the biased variance. The canonical format
is PyTorch's, so :func:`running_var_to_canonical` rewrites a biased update as the unbiased one.

Activations: PyTorch and Paddle modules take NCHW, the TensorFlow modules NHWC. The parity
layer always speaks NCHW; 4-D inputs, outputs, attention maps and input gradients are
transposed here. Arrays of any other rank (e.g. logits ``(B, classes)``) are layout-free.

Nothing in this module imports a framework: it converts numpy arrays only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = [
    "CANONICAL_BN_EPS",
    "FRAMEWORK_LAYOUT",
    "Converter",
    "ParamSpec",
    "PARAMS",
    "param_specs",
    "momentum_to_canonical",
    "momentum_from_canonical",
    "activation_to_framework",
    "activation_from_framework",
    "outputs_from_framework",
    "LAYOUT_FREE_KEYS",
    "PARAMETER_KIND",
    "PARAMETER_MAX_RANK",
    "parameter_specs",
    "RUNNING_VAR_ESTIMATOR",
    "running_var_to_canonical",
]

CANONICAL_BN_EPS = 1e-5
"""BatchNorm epsilon assumed by the canonical weight format (PyTorch's default)."""

FRAMEWORK_LAYOUT = {"torch": "NCHW", "paddle": "NCHW", "tensorflow": "NHWC"}
"""Activation layout of each framework's modules."""


@dataclass(frozen=True)
class Converter:
    """A pair of inverse array conversions between a framework layout and the canonical one.

    ``to_canonical(a)`` maps a framework array to the canonical layout;
    ``from_canonical(a, framework_shape)`` maps a canonical array back (the framework shape
    is needed where the canonical layout folds two axes, as for depthwise kernels);
    ``canonical_shape(framework_shape)`` gives the canonical shape without touching data.
    """

    name: str
    to_canonical: Callable[[np.ndarray], np.ndarray]
    from_canonical: Callable[[np.ndarray, tuple], np.ndarray]
    canonical_shape: Callable[[tuple], tuple]


def _permutation(axes: tuple[int, ...], name: str) -> Converter:
    inverse = tuple(int(i) for i in np.argsort(axes))
    return Converter(
        name=name,
        to_canonical=lambda a: np.ascontiguousarray(np.transpose(a, axes)),
        from_canonical=lambda a, shape: np.ascontiguousarray(np.transpose(a, inverse)),
        canonical_shape=lambda shape: tuple(shape[i] for i in axes),
    )


def _depthwise_to_canonical(a: np.ndarray) -> np.ndarray:
    # Keras (kH, kW, C, M) -> PyTorch (C*M, 1, kH, kW); output channel o = c*M + m in both.
    kh, kw, c, m = a.shape
    return np.ascontiguousarray(np.transpose(a, (2, 3, 0, 1)).reshape(c * m, 1, kh, kw))


def _depthwise_from_canonical(a: np.ndarray, shape: tuple) -> np.ndarray:
    kh, kw, c, m = shape
    return np.ascontiguousarray(np.transpose(a.reshape(c, m, kh, kw), (2, 3, 0, 1)))


IDENTITY = Converter(
    name="identity",
    to_canonical=lambda a: np.ascontiguousarray(a),
    from_canonical=lambda a, shape: np.ascontiguousarray(a),
    canonical_shape=lambda shape: tuple(shape),
)
LINEAR_IN_OUT = _permutation((1, 0), "(in, out) <-> (out, in)")
CONV2D_HWIO = _permutation((3, 2, 0, 1), "HWIO <-> OIHW")
CONV1D_KIO = _permutation((2, 1, 0), "(K, I, O) <-> (O, I, K)")
DEPTHWISE_HWCM = Converter(
    name="(kH, kW, C, M) <-> (C*M, 1, kH, kW)",
    to_canonical=_depthwise_to_canonical,
    from_canonical=_depthwise_from_canonical,
    canonical_shape=lambda s: (s[2] * s[3], 1, s[0], s[1]),
)


@dataclass(frozen=True)
class ParamSpec:
    """One array of a leaf layer: its attribute name in the framework, its canonical suffix,
    its converter, and whether the layer may lack it (a conv without bias)."""

    framework_name: str
    canonical_name: str
    converter: Converter
    optional: bool = False


def _bn(weight: str, bias: str, mean: str, var: str) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec(weight, "weight", IDENTITY),
        ParamSpec(bias, "bias", IDENTITY),
        ParamSpec(mean, "running_mean", IDENTITY),
        ParamSpec(var, "running_var", IDENTITY),
    )


def _weight_bias(weight: str, converter: Converter, bias: str = "bias") -> tuple[ParamSpec, ...]:
    return (ParamSpec(weight, "weight", converter), ParamSpec(bias, "bias", IDENTITY, optional=True))


PARAMS: dict[str, dict[str, tuple[ParamSpec, ...]]] = {
    "torch": {
        "conv2d": _weight_bias("weight", IDENTITY),
        "conv1d": _weight_bias("weight", IDENTITY),
        "conv_transpose2d": _weight_bias("weight", IDENTITY),
        "linear": _weight_bias("weight", IDENTITY),
        "batchnorm": _bn("weight", "bias", "running_mean", "running_var"),
    },
    "paddle": {
        "conv2d": _weight_bias("weight", IDENTITY),
        "conv1d": _weight_bias("weight", IDENTITY),
        "conv_transpose2d": _weight_bias("weight", IDENTITY),
        "linear": _weight_bias("weight", LINEAR_IN_OUT),
        "batchnorm": _bn("weight", "bias", "_mean", "_variance"),
    },
    "tensorflow": {
        "conv2d": _weight_bias("kernel", CONV2D_HWIO),
        "conv1d": _weight_bias("kernel", CONV1D_KIO),
        # Keras stores a transposed convolution's kernel (kH, kW, out, in) and applies it
        # unflipped, like PyTorch's (in, out, kH, kW): the same axis permutation as conv2d's.
        "conv_transpose2d": _weight_bias("kernel", CONV2D_HWIO),
        "depthwise": _weight_bias("kernel", DEPTHWISE_HWCM),
        "linear": _weight_bias("kernel", LINEAR_IN_OUT),
        "batchnorm": _bn("gamma", "beta", "moving_mean", "moving_variance"),
    },
}
"""``PARAMS[framework][kind]``: the arrays of one leaf layer and how each converts."""


PARAMETER_KIND = "parameter"
"""Leaf kind of the arrays a (non-built-in) module owns directly, e.g. SAGAN's ``gamma``."""

PARAMETER_MAX_RANK = 1
"""Highest rank of a ``parameter`` leaf: scalars stored as ``()`` or ``(1,)`` and vectors."""


def parameter_specs(names) -> tuple[ParamSpec, ...]:
    """:class:`ParamSpec` tuple of a ``parameter`` leaf owning the arrays ``names``: same name
    in every framework and in the canonical format, no conversion."""
    return tuple(ParamSpec(name, name, IDENTITY) for name in names)


def param_specs(framework: str, kind: str) -> tuple[ParamSpec, ...]:
    """The :class:`ParamSpec` tuple of a leaf kind in a framework (``KeyError`` if unknown)."""
    try:
        return PARAMS[framework][kind]
    except KeyError:
        raise KeyError(f"no layout for leaf kind {kind!r} in framework {framework!r}") from None


def momentum_to_canonical(framework: str, momentum: float) -> float:
    """BatchNorm momentum of ``framework`` written in PyTorch's convention (``m`` <-> ``1-m``)."""
    return float(momentum) if framework == "torch" else 1.0 - float(momentum)


def momentum_from_canonical(framework: str, momentum: float) -> float:
    """PyTorch-convention BatchNorm momentum written in ``framework``'s convention."""
    return momentum_to_canonical(framework, momentum)  # the map m -> 1-m is its own inverse


RUNNING_VAR_ESTIMATOR = {"torch": "unbiased", "paddle": "biased", "tensorflow": "biased"}
"""Batch variance each framework's BatchNorm uses to update ``running_var`` in training mode
(measured: one training-mode step of ``BatchNorm2d`` / ``BatchNorm2D`` /
``BatchNormalization`` on the same batch; tests/test_training_parity.py checks it)."""


def running_var_to_canonical(framework: str, new, old, momentum: float, count: int) -> np.ndarray:
    """A running variance after one training-mode update, rewritten in the canonical
    (PyTorch, unbiased) convention.

    With canonical momentum ``m`` (PyTorch's), a framework with a biased estimator computes
    ``new = (1 - m) * old + m * v`` from the batch variance ``v = sum((x - mean)^2) / n``; PyTorch
    computes ``(1 - m) * old + m * v * n / (n - 1)``. So the canonical value is
    ``new + (new - (1 - m) * old) / (n - 1)``; a framework with the unbiased estimator is
    returned unchanged.

    Args:
        framework: ``"torch"``, ``"paddle"`` or ``"tensorflow"``.
        new, old: running variance ``(C,)`` after and before the update.
        momentum: canonical (PyTorch-convention) momentum, in (0, 1].
        count: values per channel in the batch (``B * H * W`` for a 2-D BatchNorm, ``B`` for
            a 1-D one), at least 2.

    Raises:
        ValueError: ``count`` below 2 or ``momentum`` outside (0, 1].
    """
    if int(count) != count or count < 2:
        raise ValueError(f"running_var_to_canonical: argument 'count' expected an integer >= 2, got {count!r}")
    if not 0.0 < float(momentum) <= 1.0:
        raise ValueError(
            f"running_var_to_canonical: argument 'momentum' expected a value in (0, 1], got {momentum!r}"
        )
    new = np.asarray(new, dtype=np.float64)
    if RUNNING_VAR_ESTIMATOR[framework] == "unbiased":
        return new
    old = np.asarray(old, dtype=np.float64)
    return new + (new - (1.0 - float(momentum)) * old) / (int(count) - 1)


def activation_to_framework(framework: str, array: np.ndarray) -> np.ndarray:
    """A canonical (NCHW) activation in ``framework``'s layout: 4-D arrays become NHWC for
    TensorFlow; other ranks and other frameworks are returned unchanged."""
    array = np.asarray(array)
    if FRAMEWORK_LAYOUT[framework] == "NHWC" and array.ndim == 4:
        return np.ascontiguousarray(np.transpose(array, (0, 2, 3, 1)))
    return array


def activation_from_framework(framework: str, array: np.ndarray) -> np.ndarray:
    """A ``framework`` activation in the canonical NCHW layout (inverse of
    :func:`activation_to_framework`)."""
    array = np.asarray(array)
    if FRAMEWORK_LAYOUT[framework] == "NHWC" and array.ndim == 4:
        return np.ascontiguousarray(np.transpose(array, (0, 3, 1, 2)))
    return array


LAYOUT_FREE_KEYS = frozenset({"attention_weights"})
"""Keys of attention dicts whose arrays have no spatial layout: self-attention weights are
``(B, heads, N_query, N_key)`` in every framework (positions flattened row-major, ``n = h * W + w``)."""


def outputs_from_framework(framework: str, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Apply :func:`activation_from_framework` to every array of an output/attention dict,
    except those under :data:`LAYOUT_FREE_KEYS`, which are returned unchanged."""
    return {key: np.asarray(value) if key in LAYOUT_FREE_KEYS else activation_from_framework(framework, value)
            for key, value in outputs.items()}
