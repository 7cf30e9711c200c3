"""TensorFlow / Keras 3 adapter of :mod:`vision_attention.monitor`: layer paths, emulated
forward hooks, and the identity that :func:`vision_attention.monitor.ablate` puts in place.
Mirrors :mod:`vision_attention.torch.monitor` and :mod:`vision_attention.paddle.monitor`.

Keras has no forward hooks and tracks attribute assignment on layers (swapping a child would
change the model's weight lists). Both the monitor and the ablation therefore set an
*instance* attribute ``call`` on the layer (with ``object.__setattr__``, past Keras'
tracking): ``Layer.__call__`` looks ``self.call`` up on the instance first, while its
argument handling (``training`` injection, build on first call) was fixed from the class's
``call`` signature at construction. Deleting the instance attribute restores the class's
``call`` (what :func:`_set_call`'s restore does; a ``call`` that was already on the instance
is put back). The parity layer counts BatchNorm inputs the same way
(:func:`vision_attention.parity._tensorflow.train_step`). Deliberate difference: no
``AblatedAttention`` class, as nothing is swapped.
"""

from __future__ import annotations

from .._frameworks import import_tensorflow
from ..monitor import identity_output
from ..parity._tensorflow import named_layers

tf = import_tensorflow()

FRAMEWORK = "tensorflow"
FORWARD = "call"
"""Name of the method that computes a layer's output (whose signature the monitor binds)."""

_MISSING = object()


class _Handle:
    """``remove()`` undoes one :func:`add_hooks` (the interface of torch's hook handles)."""

    def __init__(self, restore):
        self.remove = restore


def _set_call(layer, call):
    """Make ``call`` the ``call`` of this ``layer`` instance; returns the restoring function."""
    previous = vars(layer).get("call", _MISSING)
    object.__setattr__(layer, "call", call)

    def restore():
        if previous is _MISSING:
            object.__delattr__(layer, "call")
        else:
            object.__setattr__(layer, "call", previous)

    return restore


def named_modules(model) -> list:
    """``(path, layer)`` for ``model`` (path ``""``) and every layer below it, in pre-order:
    the attribute paths of :func:`vision_attention.parity._tensorflow.named_layers`."""
    return named_layers(model)


def add_hooks(layer, before, after) -> list:
    """Wrap ``layer``'s ``call``: ``before(layer, args, kwargs)`` may return new ``(args,
    kwargs)``, ``after(layer, args, kwargs, output)`` (unless ``None``) a new output, as
    PyTorch's hooks with ``with_kwargs=True``; returns ``[handle]`` (``.remove()``)."""
    original = layer.call

    def call(*args, **kwargs):
        changed = before(layer, args, kwargs)
        if changed is not None:
            args, kwargs = changed
        output = original(*args, **kwargs)
        if after is not None:
            replaced = after(layer, args, kwargs, output)
            if replaced is not None:
                output = replaced
        return output

    return [_Handle(_set_call(layer, call))]


def is_training(layer, kwargs) -> bool:
    """Whether a call of ``layer`` is a training pass: ``training`` as Keras resolved it for
    this call (the argument, else an outer layer's, else inference). Keras passes it to
    ``call`` only when the class's ``call`` takes ``training`` (``SEBlock.call`` does not), so
    it is read from the active call context (``Layer._get_call_context()``, Keras 3's own
    record of the resolved value) when it is not among ``kwargs``."""
    training = kwargs.get("training")
    if training is None and hasattr(layer, "_get_call_context"):
        training = layer._get_call_context().get_value("training")
    return bool(training or False)


def to_numpy(tensor):
    """The numpy value of an eager ``tensor``.

    Raises:
        RuntimeError: inside a ``tf.function`` (graph tensors have no value to record).
    """
    if not tf.executing_eagerly():
        raise RuntimeError("AttentionMonitor records attention in eager execution only; call the model "
                           "directly or compile it with run_eagerly=True")
    return tensor.numpy()


def replace_by_identity(parent, key: str, layer):
    """Make ``layer`` return its input (``parent`` and ``key`` are unused: nothing is
    swapped); returns the restoring function."""
    return _set_call(layer, identity_output)
