"""TensorFlow / Keras 3 backend of the parity layer.

Keras has no ``named_modules()``: a layer's children are whatever it keeps in attributes.
:func:`leaf_layers` therefore walks the *attribute tree*: every public attribute of a layer
(``vars(layer)``, names not starting with ``_``) that is a Keras ``Layer``, or a list, tuple
or dict of them (Keras 3 wraps assigned lists in ``TrackedList``, tuples in a tuple wrapper
and dicts in ``TrackedDict``; all still behave as sequences or mappings), is a child; the
attribute name, then the list index or dict key, is the name component. A
``keras.Sequential`` lists its children by index, as ``torch.nn.Sequential`` does. Nothing here knows the attention classes: the same walk serves any model whose
attribute names match the PyTorch ones, and a completeness check (every variable of the
model must belong to a named leaf) turns any layer the walk cannot name into an error.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import numpy as np

from .._frameworks import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402  (after import_tensorflow, which fixes the import order)

from ._dispatch import TargetShapeError, is_builtin  # noqa: E402
from .layouts import PARAMETER_KIND  # noqa: E402

FRAMEWORK = "tensorflow"

_KINDS = (
    (keras.layers.Conv2D, "conv2d"),
    (keras.layers.Conv1D, "conv1d"),
    (keras.layers.Conv2DTranspose, "conv_transpose2d"),
    (keras.layers.DepthwiseConv2D, "depthwise"),
    (keras.layers.Dense, "linear"),
    (keras.layers.BatchNormalization, "batchnorm"),
)


def _kind(layer) -> str | None:
    for cls, kind in _KINDS:
        if isinstance(layer, cls):
            return kind
    return None


def _container_children(prefix: str, value) -> list[tuple[str, object]]:
    """Layers inside ``value``: the layer itself, or the layers of a (nested) list/tuple
    (index as the name component, like ``torch.nn.ModuleList``) or dict (key as the name
    component, like ``torch.nn.ModuleDict``)."""
    if isinstance(value, keras.layers.Layer):
        return [(prefix, value)]
    if isinstance(value, Mapping):
        items = [(str(key), item) for key, item in value.items()]
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = [(str(index), item) for index, item in enumerate(value)]
    else:
        return []
    children = []
    for key, item in items:
        children.extend(_container_children(f"{prefix}.{key}" if prefix else key, item))
    return children


def named_children(layer) -> list[tuple[str, object]]:
    """The child layers of ``layer`` with their name components, in definition order."""
    children = []
    if isinstance(layer, keras.Sequential):
        children.extend(_container_children("", layer.layers))
    for attr, value in vars(layer).items():
        if not attr.startswith("_"):
            children.extend(_container_children(attr, value))
    return children


def named_layers(module) -> list[tuple[str, object]]:
    """``(dotted name, layer)`` for ``module`` (name ``""``) and every layer below it,
    depth first; a layer reachable twice keeps its first name."""
    seen, result = set(), []

    def visit(prefix, layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        result.append((prefix, layer))
        if _kind(layer) is not None:
            return
        for name, child in named_children(layer):
            visit(f"{prefix}.{name}" if prefix else name, child)

    visit("", module)
    return result


def leaf_layers(module) -> list[tuple[str, str, object]]:
    """``(dotted name, leaf kind, layer)`` for every weight-bearing layer of ``module``.

    A layer of no supported kind that is not a Keras built-in and keeps variables in public
    attributes (SAGAN's ``gamma = add_weight(...)``) is a ``"parameter"`` leaf owning exactly
    those variables (see :func:`own_parameters`); its sub-layers are walked as usual.

    Raises:
        ValueError: some leaf is not built yet (Keras creates weights on the first call).
        NotImplementedError: the model has variables that belong to no named leaf layer
            (an unsupported layer kind, or a layer kept where the attribute walk cannot see it).
    """
    leaves = []
    for name, layer in named_layers(module):
        if _kind(layer):
            leaves.append((name, _kind(layer), layer))
        elif own_parameters(layer) and not is_builtin(layer):
            leaves.append((name, PARAMETER_KIND, layer))
    unbuilt = [name or "<root>" for name, kind, layer in leaves if kind != PARAMETER_KIND and not layer.built]
    if unbuilt:
        raise ValueError(
            f"parity: {type(module).__name__} is not built: Keras creates weights on the first "
            f"call; call the module once on an input (or use parity.build_module) first. "
            f"Unbuilt layers: {', '.join(unbuilt)}"
        )
    covered = set()
    for _, kind, layer in leaves:
        owned = [getattr(layer, n) for n in own_parameters(layer)] if kind == PARAMETER_KIND else layer.weights
        for var in owned:
            covered.add(id(var))
    orphans = [v.path for v in module.weights if id(v) not in covered]
    if orphans:
        raise NotImplementedError(
            "parity: these Keras variables belong to no supported, attribute-reachable leaf "
            "layer: " + ", ".join(orphans)
        )
    return leaves


def own_parameters(layer) -> list[str]:
    """Public attribute names under which ``layer`` keeps a variable itself (``self.gamma =
    self.add_weight(...)``), in definition order; a supported leaf kind keeps none."""
    if _kind(layer) is not None:
        return []
    return [attr for attr, value in vars(layer).items()
            if not attr.startswith("_") and isinstance(value, keras.Variable)]


def array_shape(layer, name: str) -> tuple[int, ...] | None:
    value = getattr(layer, name, None)
    return None if value is None else tuple(int(d) for d in value.shape)


def get_array(layer, name: str) -> np.ndarray:
    return np.array(getattr(layer, name).numpy(), copy=True)


def set_array(layer, name: str, array: np.ndarray) -> None:
    getattr(layer, name).assign(np.ascontiguousarray(array, dtype=np.float32))


def batchnorm_hparams(layer) -> tuple[float, float]:
    """``(eps, momentum)`` of a BatchNormalization layer, momentum in Keras's convention."""
    return float(layer.epsilon), float(layer.momentum)


def supports_attention(module) -> bool:
    return "return_attention" in inspect.signature(module.call).parameters


def _call(module, ts):
    if supports_attention(module):
        return module(*ts, return_attention=True, training=False)
    return module(*ts, training=False), {}


def _tensors(xs) -> list:
    """The module's positional inputs (a tuple of NHWC arrays) as tensors."""
    return [tf.convert_to_tensor(np.ascontiguousarray(x, dtype=np.float32)) for x in xs]


def run(module, xs: tuple, grad: bool):
    """Inference-mode forward of ``module`` on its inputs ``xs`` (a tuple of NHWC arrays,
    passed positionally), optionally the tuple of d(sum(output))/dx, one per input."""
    ts = _tensors(xs)
    g = None
    if grad:
        with tf.GradientTape() as tape:
            for t in ts:
                tape.watch(t)
            y, attention = _call(module, ts)
            total = tf.reduce_sum(y)
        # an input the output does not use (SingleScale's finer stages) has gradient 0
        g = tuple(d.numpy() for d in tape.gradient(total, ts, unconnected_gradients=tf.UnconnectedGradients.ZERO))
    else:
        y, attention = _call(module, ts)
    outputs = {"output": np.asarray(y)}
    outputs.update({k: np.asarray(v) for k, v in attention.items()})
    return outputs, g


def ensure_built(module, input_shapes) -> None:
    """Create the weights of an unbuilt Keras model by calling it once on zeros of
    ``input_shapes`` (one NHWC shape, or a tuple of them for a module with several inputs),
    in inference mode."""
    if all(layer.built for _, layer in named_layers(module) if _kind(layer)):
        return
    shapes = (input_shapes,) if all(isinstance(d, int) for d in input_shapes) else tuple(input_shapes)
    _call(module, [tf.zeros(shape, tf.float32) for shape in shapes])


def train_step(module, xs: tuple, target: np.ndarray, lr: float):
    """One training step: ``module(*xs, training=True)`` on the inputs ``xs`` (NHWC) under a
    ``tf.GradientTape``, the loss ``0.5 * mean((y - target)^2)``, its gradients with respect
    to ``module.trainable_weights``, one ``keras.optimizers.SGD`` step (``lr``, no momentum; none
    for a module without parameters).

    Returns ``(output, loss, grads, counts)`` as the PyTorch backend's ``train_step``:
    gradients keyed by ``id(variable)``, values per channel keyed by ``id(BatchNormalization
    layer)``. Keras has no forward hooks, so each BatchNormalization's ``call`` is wrapped on
    the instance for the step (and the wrapper removed afterwards) to read its input's shape.
    """
    counts = {}
    norms = [layer for _, kind, layer in leaf_layers(module) if kind == "batchnorm"]

    def counting(layer):
        original = layer.call

        def call(inputs, *args, **kwargs):
            counts[id(layer)] = int(np.prod(inputs.shape)) // int(inputs.shape[-1])
            return original(inputs, *args, **kwargs)

        return call

    for layer in norms:  # object.__setattr__: past Keras's attribute tracking
        object.__setattr__(layer, "call", counting(layer))
    variables = list(module.trainable_weights)
    optimizer = keras.optimizers.SGD(learning_rate=lr)
    try:
        ts = _tensors(xs)
        with tf.GradientTape() as tape:
            y = module(*ts, training=True)
            if tuple(y.shape) != tuple(target.shape):
                raise TargetShapeError(y.shape)
            loss = 0.5 * tf.reduce_mean((y - tf.convert_to_tensor(np.ascontiguousarray(target, dtype=np.float32))) ** 2)
        gradients = tape.gradient(loss, variables)
        grads = {id(v): g.numpy().copy() for v, g in zip(variables, gradients) if g is not None}
        pairs = [(g, v) for v, g in zip(variables, gradients) if g is not None]
        if pairs:  # a module without parameters takes no step
            optimizer.apply_gradients(pairs)
    finally:
        for layer in norms:
            object.__delattr__(layer, "call")
    return np.asarray(y), float(loss), grads, counts


def variable(layer, name: str):
    """The variable object ``name`` of ``layer`` (what :func:`train_step` keys on)."""
    return getattr(layer, name)
