"""Debugging attention during training: statistics of the weights, and ablation.

The practical guide's advice for debugging an attention network is to *monitor the
attention distribution* (weights stuck near 0 or 1, or spread uniformly, mean the module has
stopped selecting anything) and to *ablate* (switch the module off and measure what it was
worth). This module provides both for any model of the package, in the three frameworks:

* :func:`attention_statistics` -- mean, spread, saturation and (for spatial maps) normalised
  entropy of one attention tensor (numpy, float64).
* :class:`AttentionMonitor` -- attaches to a model, records those statistics for every
  attention module and weight key every ``every`` training forward passes (and at every
  evaluation pass), and returns them as a tidy :class:`pandas.DataFrame`
  (:meth:`AttentionMonitor.table`; :func:`vision_attention.viz.plot_attention_statistics`
  draws it).
* :func:`ablate` -- a context manager that replaces chosen attention modules by the identity
  and restores them afterwards.
* :func:`attention_modules` -- the names and classes of a model's attention modules.

Importing this module imports no framework (nor pandas): a model's framework is read from its
class (:func:`vision_attention.parity.framework_of`) and the adapter
``vision_attention.<framework>.monitor`` is imported on first use.

**Which modules.** The classes of :data:`ATTENTION_CLASSES` (every class of the framework
subpackages whose ``return_attention`` dict holds its *own* weights). Containers that also
take ``return_attention`` but only pass their inner modules' dicts on (``DecoderBlock``,
``DecoderBlockWithAttention``, ``UNet``, ``AttentionUNet``, ``MultiScaleIQA``) are not
attention modules here: the monitor finds the gates or fusion module inside them. Only the
*outermost* attention modules are used: a CBAM, not its inner ``ChannelAttention`` and
``SpatialAttention`` (their weights come through CBAM's dict as ``"channel"`` and
``"spatial"``).

**Module names.** PyTorch's ``named_modules()`` and Paddle's ``named_sublayers()`` paths
(``"layer1.0.attention"``, ``"bam2"``, ``"decoders.0.att_gate"``). Keras has no module
paths; the name is the attribute path the parity layer uses for canonical weight names
(attribute names, then list indices: ``"layer1.0.attention"``), which is the PyTorch name for
every model of the package. A model that is itself an attention module is named by its class
(``"CBAM"``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import importlib
import inspect
import numbers

import numpy as np

from ._checks import check_bool, check_positive_int

__all__ = [
    "ATTENTION_CLASSES",
    "IDENTITY_CLASSES",
    "LOGIT_KEYS",
    "STATISTICS",
    "TABLE_COLUMNS",
    "AttentionMonitor",
    "ablate",
    "attention_modules",
    "attention_statistics",
]

ATTENTION_CLASSES = (
    "SEBlock", "ECA", "ChannelAttention", "SpatialAttention", "CBAM", "BAM", "NonLocalBlock",
    "SelfAttention2d", "MultiHeadSelfAttention2d", "AttentionGate", "GridAttentionGate",
    "MultiScaleAttention",
)
"""Class names (the same in ``vision_attention.torch``, ``.paddle`` and ``.tensorflow``) of
the attention modules that :class:`AttentionMonitor` records and :func:`ablate` can select."""

IDENTITY_CLASSES = ATTENTION_CLASSES[:9]
"""The attention classes whose output has their (single) input's shape, so that :func:`ablate`
can replace them by the identity. Refused: the attention gates (two inputs, and the U-Net
decoder reads the gate's map) and ``MultiScaleAttention`` (its output concatenates and
pools several stages)."""

STATISTICS = ("mean", "std", "low", "high", "saturated", "entropy")
"""The keys of :func:`attention_statistics`, in order."""

TABLE_COLUMNS = ("step", "module", "key") + STATISTICS
"""The columns of :meth:`AttentionMonitor.table`."""

LOW, HIGH = 0.05, 0.95
"""Thresholds of the ``low`` and ``high`` fractions (a weight below 0.05 nearly removes its
feature, one above 0.95 nearly passes it unchanged)."""

LOGIT_KEYS = {"BAM": ("channel", "spatial")}
"""Weight keys that hold logits, not weights in [0, 1], and are not recorded: BAM's branch
outputs ``Mc`` and ``Ms`` before the sigmoid (its ``"attention"``, ``sigmoid(Mc + Ms)``, is)."""

_LAYOUT_FREE = ("attention_weights",)  # as parity.layouts.LAYOUT_FREE_KEYS: (B, heads, N, N)


def _as_unit_array(weights) -> np.ndarray:
    try:
        a = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"attention_statistics: argument 'weights' expected a numeric array, got "
                         f"{type(weights).__name__} ({error})") from None
    if a.size == 0:
        raise ValueError(f"attention_statistics: argument 'weights' expected a non-empty array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("attention_statistics: argument 'weights' expected finite values, got "
                         f"{int(np.count_nonzero(~np.isfinite(a)))} non-finite")
    low, high = float(a.min()), float(a.max())
    if low < 0.0 or high > 1.0:
        raise ValueError("attention_statistics: argument 'weights' expected values in [0, 1], got values "
                         f"in [{low!r}, {high!r}]")
    return a


def _normalised_entropy(a: np.ndarray) -> float:
    """Mean over the ``B`` maps of ``-sum(p ln p) / ln(H W)``, ``p = a / sum(a)`` per map."""
    from scipy.special import entr  # -p ln p with entr(0) = 0

    if a.ndim != 4 or a.shape[1] != 1 or a.shape[2] * a.shape[3] < 2:
        raise ValueError("attention_statistics: argument 'weights' with spatial=True expected maps "
                         f"(B, 1, H, W) with H * W > 1 (NCHW), got shape {a.shape}")
    maps = a.reshape(a.shape[0], -1)
    sums = maps.sum(axis=1, keepdims=True)
    if (sums == 0).any():
        raise ValueError("attention_statistics: argument 'weights': a spatial map sums to 0 "
                         f"(maps {np.flatnonzero(sums[:, 0] == 0).tolist()}), so it has no distribution")
    entropy = entr(maps / sums).sum(axis=1) / np.log(maps.shape[1])
    return float(entropy.mean())


def attention_statistics(weights, spatial: bool) -> dict[str, float]:
    """Summary statistics of one attention tensor ``a`` with values in [0, 1].

    Args:
        weights: array-like of any shape (numpy; convert tensors first), e.g. channel weights
            ``(B, C, 1, 1)`` or spatial maps ``(B, 1, H, W)`` (NCHW); computed in float64.
        spatial: ``True`` for a batch of spatial maps ``(B, 1, H, W)`` (NCHW) with
            ``H * W > 1``: then the entropy is computed, else it is NaN.

    Returns:
        ``{"mean", "std", "low", "high", "saturated", "entropy"}`` as Python floats:
        ``mean(a)``; the population standard deviation (``ddof=0``); the fractions of
        elements below 0.05 (``low``) and above 0.95 (``high``); ``saturated = low + high``;
        ``entropy``: for each map ``p = a / sum(a)`` over its ``H * W`` positions,
        ``-sum(p ln p) / ln(H * W)`` (``0 ln 0 = 0``), normalised to [0, 1] (1: uniform, 0: all
        mass on one position), averaged over the ``B`` maps; NaN when ``spatial`` is false.

    Raises:
        ValueError: ``spatial`` not a bool; ``weights`` empty, not numeric, with non-finite
            values or values outside [0, 1]; with ``spatial=True``, ``weights`` not
            ``(B, 1, H, W)`` with ``H * W > 1``, or a map that sums to 0.
    """
    check_bool("attention_statistics", "spatial", spatial)
    a = _as_unit_array(weights)
    entropy = _normalised_entropy(a) if spatial else float("nan")
    low, high = float(np.mean(a < LOW)), float(np.mean(a > HIGH))
    return {"mean": float(a.mean()), "std": float(a.std()), "low": low, "high": high,
            "saturated": low + high, "entropy": entropy}


def identity_output(x, *inputs, return_attention: bool = False, **kwargs):
    """What an ablated attention module returns: its (first) input ``x``, with an empty
    attention dict when called with ``return_attention=True``."""
    return (x, {}) if return_attention else x


def _is_spatial_map(key: str, a: np.ndarray) -> bool:
    """Whether the NCHW weight array ``a`` under ``key`` is a batch of spatial maps (B, 1, H, W)."""
    return key not in _LAYOUT_FREE and a.ndim == 4 and a.shape[1] == 1 and a.shape[2] * a.shape[3] > 1


# --------------------------------------------------------------------------- finding modules


def _adapter(model, owner: str):
    from .parity import framework_of

    try:
        framework = framework_of(model)
    except TypeError:
        raise TypeError(f"{owner}: argument 'model' expected a torch.nn.Module, paddle.nn.Layer or "
                        f"keras.layers.Layer, got {type(model)!r}") from None
    package = importlib.import_module(f"vision_attention.{framework}")
    return importlib.import_module(f"vision_attention.{framework}.monitor"), package


def _class_name(module, package) -> str | None:
    for name in ATTENTION_CLASSES:
        if isinstance(module, getattr(package, name)):
            return name
    return None


def _find(model, owner: str) -> tuple:
    """``(adapter, {name: (module, class name)})`` of the outermost attention modules."""
    adapter, package = _adapter(model, owner)
    found = {}
    for name, module in adapter.named_modules(model):
        if any(name == outer or name.startswith(outer + ".") for outer in found) or "" in found:
            continue
        cls = _class_name(module, package)
        if cls is not None:
            found[name] = (module, cls)
    if not found:
        raise ValueError(f"{owner}: argument 'model' ({type(model).__name__}) contains no attention module; "
                         f"recognised classes: {', '.join(ATTENTION_CLASSES)}")
    return adapter, found


def attention_modules(model) -> dict[str, str]:
    """The outermost attention modules of ``model``: ``{name: class name}`` in forward
    definition order (names as in the module docstring; ``model`` itself, when it is an
    attention module, under its class name).

    Raises:
        TypeError: ``model`` is not a PyTorch, Paddle or Keras module.
        ValueError: ``model`` contains no module of :data:`ATTENTION_CLASSES`.
    """
    _, found = _find(model, "attention_modules")
    return {name or type(model).__name__: cls for name, (_, cls) in found.items()}


# --------------------------------------------------------------------------- the monitor


def _check_step(value) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"AttentionMonitor.step: argument 'step_index' expected a non-negative integer, got {value!r}")
    return int(value)


class AttentionMonitor:
    """Record :func:`attention_statistics` of every attention module of ``model`` during training.

    Attach with ``with AttentionMonitor(model) as monitor:`` or :meth:`attach` /
    :meth:`detach`. While attached, each outermost attention module (see
    :func:`attention_modules`) is called with ``return_attention=True`` on recorded passes, its
    dict is converted to numpy NCHW (TensorFlow's NHWC maps are transposed) and the
    statistics of every key are stored; the module still returns only its output to its
    caller, so the network computes exactly what it computes unmonitored, in one forward pass
    (no second run: BatchNorm statistics are updated once, gradients flow as usual). A caller
    that asks for ``return_attention=True`` itself (CBAM's inner modules, the U-Net decoder's
    gate) gets its dict as usual.

    Mechanism: PyTorch ``register_forward_pre_hook`` / ``register_forward_hook`` and Paddle
    ``register_forward_pre_hook`` / ``register_forward_post_hook``, all ``with_kwargs=True``
    (the pre-hook adds ``return_attention=True``, the post-hook records the dict and returns
    the output alone); Keras has no hooks, so each attention layer *instance* gets a wrapped
    ``call`` (the same pre/post logic around the class's ``call``), restored by
    :meth:`detach`.

    Steps (the rule): a *pass* is one call of ``model`` itself. Its step label is the index
    given to the last :meth:`step` call, or, when :meth:`step` was never called, the number
    of training passes before it (0, 1, 2, ...). A training pass (PyTorch/Paddle
    ``model.training``; Keras: ``training`` as Keras resolved it for the model's call, i.e.
    ``model(x, training=True)``) is recorded when its label is a
    multiple of ``every``; an evaluation pass is always recorded, under the current label,
    so evaluations between training steps appear at the step they follow.

    Recorded keys: every key of each module's dict except :data:`LOGIT_KEYS` (BAM's logits).
    ``entropy`` is computed for ``(B, 1, H, W)`` maps (CBAM ``"spatial"``, gates'
    ``"attention"``), NaN for the others (channel weights, BAM's ``(B, C, H, W)`` map, the
    ``(B, heads, N, N)`` softmax rows of self-attention, fusion ``scale_weights``).
    Deliberate differences: ``MultiHeadSelfAttention2d`` takes its explicit path (the same
    arithmetic as the fused kernel, up to float32 round-off) on recorded passes, as it does
    whenever its weights are asked for. Keras records in eager execution only (a
    ``tf.function``, e.g. ``fit`` without ``run_eagerly=True``, raises ``RuntimeError``).

    Args:
        model: a PyTorch, Paddle or Keras module of the package, or any network containing
            them.
        every: record one training pass in ``every`` (positive integer).

    Raises:
        ValueError: ``every`` not a positive integer; ``model`` contains no attention module
            (the message lists :data:`ATTENTION_CLASSES`).
        TypeError: ``model`` is not a module of the three frameworks.
    """

    def __init__(self, model, every: int = 1):
        self.every = check_positive_int("AttentionMonitor", "every", every)
        self._adapter, found = _find(model, "AttentionMonitor")
        self.model = model
        self._modules = {name: module for name, (module, _) in found.items()}
        self._classes = {name: cls for name, (_, cls) in found.items()}
        self._handles: list = []
        self._signatures: dict = {}
        self.reset()

    @property
    def module_names(self) -> tuple[str, ...]:
        """Names of the monitored modules (as in the table's ``module`` column)."""
        return tuple(self._display(name) for name in self._modules)

    @property
    def attached(self) -> bool:
        """Whether the hooks (Keras: the wrapped calls) are in place."""
        return bool(self._handles)

    def _display(self, name: str) -> str:
        return name or type(self.model).__name__

    def reset(self) -> None:
        """Forget the records, the pass counter and the step given to :meth:`step`."""
        self._records: list[dict] = []
        self._passes = 0
        self._step: int | None = None
        self._label = 0
        self._recording = False
        self._pending: dict[int, str] = {}

    def step(self, step_index: int) -> None:
        """Label the following passes with ``step_index`` (a non-negative integer), e.g. the
        optimiser step, until the next call (see the class docstring's rule).

        Raises:
            ValueError: ``step_index`` not a non-negative integer.
        """
        self._step = _check_step(step_index)

    def attach(self) -> "AttentionMonitor":
        """Install the hooks (Keras: wrap the calls); returns ``self``.

        Raises:
            RuntimeError: already attached.
        """
        if self._handles:
            raise RuntimeError("AttentionMonitor.attach: already attached; call detach() first")
        add = self._adapter.add_hooks
        try:
            if "" not in self._modules:
                self._handles += add(self.model, self._begin_pass, None)
            for name, module in self._modules.items():
                before = functools.partial(self._before, name)
                if name == "":  # the model is the attention module: count the pass first
                    before = functools.partial(self._begin_then, before)
                self._handles += add(module, before, functools.partial(self._after, name))
        except BaseException:
            self.detach()
            raise
        return self

    def detach(self) -> None:
        """Remove every hook (Keras: restore every wrapped call); the records are kept.
        Does nothing when not attached."""
        for handle in reversed(self._handles):
            handle.remove()
        self._handles = []
        self._pending.clear()

    def __enter__(self) -> "AttentionMonitor":
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    # hooks: (module, args, kwargs) -> None or (args, kwargs); post: (..., output) -> output
    def _begin_pass(self, module, args, kwargs):
        label = self._passes if self._step is None else self._step
        if self._adapter.is_training(module, kwargs):
            self._passes += 1
            self._recording = label % self.every == 0
        else:
            self._recording = True
        self._label = label
        return None

    def _begin_then(self, before, module, args, kwargs):
        self._begin_pass(module, args, kwargs)
        return before(module, args, kwargs)

    def _asked(self, module, args, kwargs) -> bool:
        """Whether the caller itself passed ``return_attention=True`` (by keyword or position)."""
        key = type(module)
        if key not in self._signatures:
            self._signatures[key] = inspect.signature(getattr(key, self._adapter.FORWARD))
        try:
            bound = self._signatures[key].bind(module, *args, **kwargs)
        except TypeError:  # the call itself will raise its own error; do not add to it
            return True
        return bound.arguments.get("return_attention", False) is True

    def _before(self, name, module, args, kwargs):
        if not self._recording:
            return None
        asked = self._asked(module, args, kwargs)
        self._pending[id(module)] = "asked" if asked else "added"
        return None if asked else (args, {**kwargs, "return_attention": True})

    def _after(self, name, module, args, kwargs, output):
        how = self._pending.pop(id(module), None)
        if how is None:
            return None
        y, weights = output
        self._record(name, weights)
        return y if how == "added" else None

    def _record(self, name: str, weights: dict) -> None:
        from .parity.layouts import outputs_from_framework

        skipped = LOGIT_KEYS.get(self._classes[name], ())
        arrays = {key: self._adapter.to_numpy(value) for key, value in weights.items() if key not in skipped}
        for key, a in outputs_from_framework(self._adapter.FRAMEWORK, arrays).items():
            stats = attention_statistics(a, _is_spatial_map(key, a))
            self._records.append({"step": self._label, "module": self._display(name), "key": key, **stats})

    def table(self):
        """The records as a tidy :class:`pandas.DataFrame`, one row per pass, module and key,
        columns :data:`TABLE_COLUMNS` (``step`` int; ``module``, ``key`` str; the statistics
        float, ``entropy`` NaN for non-spatial keys), in recording order."""
        import pandas as pd

        frame = pd.DataFrame(self._records, columns=list(TABLE_COLUMNS))
        return frame.astype({"step": "int64", **{stat: "float64" for stat in STATISTICS}})


# --------------------------------------------------------------------------- ablation


def _patterns(names) -> list[str]:
    if isinstance(names, str):
        return [names]
    if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
        return list(names)
    raise TypeError("ablate: argument 'names' expected a module name, a glob pattern or a non-empty list "
                    f"of them (str), got {names!r}")


def _select(valid: list[str], names) -> list[str]:
    selected = []
    for pattern in _patterns(names):
        if any(c in pattern for c in "*?["):
            matches = [name for name in valid if fnmatch.fnmatchcase(name, pattern)]
        else:
            matches = [pattern] if pattern in valid else []
        if not matches:
            few = ", ".join(repr(name) for name in valid[:4]) + (", ..." if len(valid) > 4 else "")
            raise ValueError(f"ablate: argument 'names' has {pattern!r}, which names no attention module of the "
                             f"model; valid names ({len(valid)}): {few}")
        selected += [name for name in matches if name not in selected]
    return selected


@contextlib.contextmanager
def ablate(model, names):
    """Replace attention modules of ``model`` by the identity inside a ``with`` block.

    ``with ablate(net, "layer4.*.attention") as ablated: evaluate(net)``: in the block each
    selected module returns its input unchanged (``(x, {})`` when called with
    ``return_attention=True``); afterwards, also when the block raises, the original modules
    are back (same objects, same weights). The ``as`` value is the list of ablated names.

    Args:
        model: a network of the three frameworks that contains attention modules.
        names: a module name, a glob pattern (:func:`fnmatch.fnmatchcase`: ``*`` also matches
            dots, ``"*"`` selects every attention module) or a list of them; names are those
            of :func:`attention_modules` (outermost modules only).

    Mechanism: PyTorch and Paddle swap the child on its parent (``_modules`` /
    ``_sub_layers``) for an ``AblatedAttention`` module, so the parameters of an ablated
    module are absent from ``state_dict()`` inside the block; Keras wraps the layer
    instance's ``call`` to return its input (Keras tracks attribute assignment on layers, so
    swapping the attribute would change the model's weight lists), restored afterwards.
    Nest :func:`ablate` and :class:`AttentionMonitor` as ``with`` blocks (restored in the
    reverse order).

    Raises:
        TypeError: ``names`` not a str or non-empty list of str; ``model`` not a module.
        ValueError: ``model`` has no attention module, or is one itself; a name or pattern
            in ``names`` that selects nothing (the message lists valid names); a selected
            module of a class not in :data:`IDENTITY_CLASSES` (its output has not its
            input's shape, e.g. ``MultiScaleAttention``).
    """
    adapter, found = _find(model, "ablate")
    if "" in found:
        raise ValueError(f"ablate: argument 'model' is itself an attention module ({found[''][1]}); ablate "
                         "replaces attention modules inside a network")
    selected = _select(list(found), names)
    refused = [f"{name} ({found[name][1]})" for name in selected if found[name][1] not in IDENTITY_CLASSES]
    if refused:
        raise ValueError(f"ablate: argument 'names' selects {', '.join(refused)}, whose output does not have "
                         f"its input's shape; only {', '.join(IDENTITY_CLASSES)} can be replaced by the identity")
    everything = dict(adapter.named_modules(model))
    restores = []
    try:
        for name in selected:
            parent, _, key = name.rpartition(".")
            restores.append(adapter.replace_by_identity(everything[parent], key, found[name][0]))
        yield selected
    finally:
        for restore in reversed(restores):
            restore()
