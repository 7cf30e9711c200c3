"""Running one module in several frameworks and tabulating the differences."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from ._dispatch import FRAMEWORKS, backend, check_framework, framework_of
from .layouts import activation_from_framework, activation_to_framework, outputs_from_framework
from .weights import load_weights, random_weights

__all__ = [
    "NETWORKS",
    "build_module",
    "run_module",
    "difference_table",
    "compare_frameworks",
    "TABLE_COLUMNS",
    "OUTPUT_ATOL",
    "GRAD_ATOL",
    "RESNET_RTOL",
]

# The tolerances of the parity contract (float32). The tests hold every framework pair to
# them and the tables print them; never loosen them.
OUTPUT_ATOL = 1e-5
"""Modules: largest absolute difference ``max |a - b|`` of the output, of every attention map and
of every canonical array after one SGD step (weights and BatchNorm statistics)."""
GRAD_ATOL = 1e-4
"""Modules: largest absolute difference of the input gradient ``d sum(output) / dx`` (eval mode)
and of every parameter gradient of the training step."""
RESNET_RTOL = 1e-4
"""Whole networks (:data:`NETWORKS`) in eval mode: ``max |a - b| / max |a|`` of the logits (of the
features for ``create_vision_backbone``)."""

NETWORKS = ("attention_resnet", "attention_mobilenet_v2", "create_vision_backbone")
"""Names of the whole networks the parity layer builds from ``vision_attention.<framework>.models``
(``create_vision_backbone`` from ``vision_attention.<framework>``; every other name is a module
class of ``vision_attention.<framework>``). A whole network is
held to :data:`RESNET_RTOL` on its logits in eval mode and is not trained by
:func:`compare_frameworks`; :func:`~vision_attention.parity.random_weights` calibrates its
BatchNorms on ``(4, 3, 64, 64)``. This tuple is the one place that decides it."""

TABLE_COLUMNS = (
    "pair",
    "output_max_abs",
    "output_max_rel",
    "grad_max_abs",
    "grad_max_rel",
    "attention_max_abs",
    "param_grad_max_abs",
    "step_max_abs",
    "output_tol",
    "grad_tol",
    "tol_kind",
    "passed",
)


def _import_framework_package(framework: str):
    """Import ``vision_attention.<framework>``, Paddle before TensorFlow (the other order
    segfaults, see :mod:`vision_attention._frameworks`)."""
    check_framework(framework)
    if (
        framework == "tensorflow"
        and "paddle" not in sys.modules
        and "tensorflow" not in sys.modules
        and importlib.util.find_spec("paddle") is not None
    ):
        importlib.import_module("vision_attention.paddle")
    return importlib.import_module(f"vision_attention.{framework}")


def _unet_size(kwargs: Mapping) -> int:
    return 2 * 2 ** int(kwargs.get("depth", 4))  # two pixels at the bottleneck


def _stage_shapes(kwargs: Mapping) -> tuple[tuple[int, int, int], ...]:
    """Stage maps of a fusion module: stage ``i`` of ``S`` at ``pool_size * 2**(S-1-i)`` pixels
    (each stage half the size of the one before, the last at ``pool_size``)."""
    channels = tuple(kwargs.get("in_channels", (96, 192, 384, 768)))
    p = int(kwargs.get("pool_size", 7))
    return tuple((int(c), p * 2 ** (len(channels) - 1 - i), p * 2 ** (len(channels) - 1 - i))
                 for i, c in enumerate(channels))


MULTI_INPUT_SHAPES = {
    "AttentionGate": lambda kw: ((kw["F_l"], 8, 8), (kw["F_g"], 4, 4)),
    "GridAttentionGate": lambda kw: ((kw["in_channels"], 8, 8), (kw["gating_channels"], 4, 4)),
    "DecoderBlock": lambda kw: ((kw["in_channels"], 4, 4), (kw["skip_channels"], 8, 8)),
    "DecoderBlockWithAttention": lambda kw: ((kw["in_channels"], 4, 4), (kw["skip_channels"], 8, 8)),
    "UNet": lambda kw: ((kw.get("in_channels", 1), _unet_size(kw), _unet_size(kw)),),
    "AttentionUNet": lambda kw: ((kw.get("in_channels", 1), _unet_size(kw), _unet_size(kw)),),
    "MultiScaleAttention": _stage_shapes,
    "MultiScaleConcat": _stage_shapes,
    "SingleScale": _stage_shapes,
    "MultiScaleIQA": _stage_shapes,
}
"""Modules whose example input is not one ``(in_channels, H, W)`` map: ``name -> f(kwargs)``
giving the ``(C, H, W)`` shape of each positional input (an attention gate's skip features and
its coarser gating signal; a U-Net's image, of a size its poolings divide; a fusion module's
stage maps, each half the size of the one before). Used to build Keras
weights (:func:`build_module`) and to calibrate BatchNorm statistics
(:func:`~vision_attention.parity.random_weights`); the module's constructor arguments must be
given by keyword."""


def example_input_shapes(name: str, kwargs: Mapping, batch: int, default_channels: int,
                         default_size: int) -> tuple[tuple[int, int, int, int], ...]:
    """NCHW shapes of the example inputs of module ``name`` built with ``kwargs``: from
    :data:`MULTI_INPUT_SHAPES`, for whole networks ``(batch, 3, 32, 32)``, else one
    ``(batch, in_channels or default_channels, default_size, default_size)``."""
    if name in MULTI_INPUT_SHAPES:
        try:
            shapes = MULTI_INPUT_SHAPES[name](kwargs)
        except KeyError as missing:
            raise ValueError(f"{name}: constructor argument {missing} must be given by keyword") from None
        return tuple((batch, *(int(d) for d in shape)) for shape in shapes)
    if name in NETWORKS:
        return ((batch, 3, 32, 32),)
    return ((batch, int(kwargs.get("in_channels", default_channels)), default_size, default_size),)


def _example_input_shape(name: str, kwargs: Mapping) -> tuple[tuple[int, int, int, int], ...]:
    """NHWC shapes of small inputs that build a Keras model's weights."""
    return tuple((b, h, w, c) for b, c, h, w in example_input_shapes(name, kwargs, 1, 4, 8))


def as_inputs(owner: str, x_nchw) -> tuple[np.ndarray, ...]:
    """A module's positional inputs as a tuple of float32 NCHW arrays: a ``tuple`` holds one
    array per input (an attention gate's ``(x, g)``), anything else is the single input.

    Raises:
        ValueError: an empty tuple.
    """
    if isinstance(x_nchw, tuple):
        if not x_nchw:
            raise ValueError(f"{owner}: argument 'x_nchw' expected an array or a non-empty tuple of "
                             f"arrays (one per input of the module), got ()")
        return tuple(np.asarray(x, dtype=np.float32) for x in x_nchw)
    return (np.asarray(x_nchw, dtype=np.float32),)


def build_module(framework: str, name: str, /, **kwargs):
    """Construct ``vision_attention.<framework>.<name>(**kwargs)``.

    ``name`` is a class exported by the framework subpackage (``"SEBlock"``, ``"ECA"``,
    ``"ChannelAttention"``, ``"SpatialAttention"``, ``"CBAM"``, ``"BAM"``) or a whole network
    of :data:`NETWORKS` (``"attention_resnet"``, ``"attention_mobilenet_v2"``) for
    ``vision_attention.<framework>.models.<name>``, or ``"create_vision_backbone"``
    (``build_module(fw, "create_vision_backbone", name="resnet50", attention_type="cbam")``:
    ``framework`` and ``name`` are positional-only, so the factory's own ``name`` passes
    through ``kwargs``).
    Framework subpackages are imported Paddle first. A TensorFlow model is built (its
    weights created by one call on a small zero input) so that weights can be loaded at once.

    Raises:
        ValueError: unknown ``framework`` or ``name``; the constructor's own ValueErrors.
        ImportError: Paddle requested after TensorFlow was imported by someone else.
    """
    package = _import_framework_package(framework)
    if name in NETWORKS:
        models = importlib.import_module(f"vision_attention.{framework}.models")
        factory = getattr(models, name) if hasattr(models, name) else getattr(package, name)
    else:
        exported = getattr(package, "__all__", ())
        if name not in exported:
            raise ValueError(
                f"build_module: argument 'name' expected one of {NETWORKS} or one of "
                f"{tuple(exported)}, got {name!r}"
            )
        factory = getattr(package, name)
    module = factory(**kwargs)
    if framework == "tensorflow":
        backend(framework).ensure_built(module, _example_input_shape(name, kwargs))
    return module


def run_module(framework: str, module, x_nchw, grad: bool = True):
    """Run ``module`` in eval/inference mode on NCHW float32 input(s).

    The inputs are converted to the framework's layout (NHWC for TensorFlow) and everything
    returned is converted back to NCHW.

    Args:
        framework: ``"torch"``, ``"paddle"`` or ``"tensorflow"``; must be ``module``'s.
        module: the module (switched to eval mode for torch and paddle).
        x_nchw: array-like ``(B, C, H, W)``, cast to float32; for a module with several
            inputs a ``tuple`` of them, passed positionally (``(x, g)`` for an attention gate).
        grad: also compute the input gradient(s).

    Returns:
        ``(outputs, input_grad)``: ``outputs`` is ``{"output": y}`` plus the attention maps
        (``"channel"``, ``"spatial"``, ...) when the module accepts ``return_attention``,
        numpy float32 arrays in NCHW; ``input_grad`` is d(sum(y))/dx ``(B, C, H, W)`` (a tuple,
        one per input, when ``x_nchw`` is a tuple) or ``None`` when ``grad`` is false.

    Raises:
        ValueError: ``framework`` is not ``module``'s framework (or unknown); an empty tuple.
    """
    check_framework(framework)
    actual = framework_of(module)
    if actual != framework:
        raise ValueError(
            f"run_module: argument 'framework' expected {actual!r} (the module's framework), "
            f"got {framework!r}"
        )
    xs = as_inputs("run_module", x_nchw)
    outputs, g = backend(framework).run(module, tuple(activation_to_framework(framework, x) for x in xs), grad)
    outputs = outputs_from_framework(framework, outputs)
    if g is not None:
        g = tuple(activation_from_framework(framework, d) for d in g)
        g = g if isinstance(x_nchw, tuple) else g[0]
    return outputs, g


def _max_abs_over(a: Mapping, b: Mapping, what: str) -> float:
    """Largest absolute difference over every array of two canonical dicts with the same keys."""
    if a.keys() != b.keys():
        raise ValueError(f"difference_table: {what} names differ: {sorted(a.keys() ^ b.keys())}")
    return max((_max_abs_rel(a[k], b[k], f"{what} {k!r}")[0] for k in a), default=0.0)


def _max_abs_rel(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"difference_table: {what} shapes differ: {a.shape} vs {b.shape}")
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    if scale > 0:
        rel = diff / scale
    else:
        rel = 0.0 if diff == 0 else float("inf")
    return diff, rel


def _max_abs_rel_over(a, b, what: str) -> tuple[float, float]:
    """:func:`_max_abs_rel` of one array, or the largest of each over a tuple of arrays (the
    input gradients of a module with several inputs)."""
    if not isinstance(a, tuple):
        return _max_abs_rel(a, b, what)
    if not isinstance(b, tuple) or len(a) != len(b):
        raise ValueError(f"difference_table: {what}s differ in number of inputs")
    pairs = [_max_abs_rel(x, y, f"{what} {i}") for i, (x, y) in enumerate(zip(a, b))]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def difference_table(
    results: Mapping[str, tuple],
    *,
    name: str | None = None,
    kwargs: Mapping | None = None,
    input_shape: Sequence[int] | None = None,
):
    """Tabulate differences between :func:`run_module` results of several frameworks and
    judge them against the parity contract's tolerances.

    Args:
        results: ``{framework: (outputs, input_grad)}`` (``input_grad`` one array, or a tuple
            of them for a module with several inputs, whose largest differences are tabulated)
            or ``{framework: (outputs, input_grad,
            training)}`` in the order of the comparison, ``training`` a
            :class:`~vision_attention.parity.training.TrainingStep` (or ``None``); the first of
            each pair is the reference.
        name: the module's name; a name of :data:`NETWORKS` selects the whole-network tolerance.
        kwargs, input_shape: the module's constructor arguments and the input shape (a tuple
            of shapes for several inputs), for the
            caption.

    Returns:
        A :class:`pandas.DataFrame` (printing floats in scientific notation, with readable
        headers and a legend) with one row per pair ``"a-b"`` and columns ``output_max_abs``
        (``max |a-b|``), ``output_max_rel`` (``max |a-b| / max |a|``), ``grad_max_abs``,
        ``grad_max_rel`` (NaN without gradients), ``attention_max_abs`` (max over all
        attention maps, NaN when there are none), ``param_grad_max_abs`` (max over every
        parameter's gradient of the training step, NaN without one), ``step_max_abs`` (max
        over every canonical array after the SGD step, running statistics included; NaN
        without one), ``output_tol``, ``grad_tol``, ``tol_kind`` and ``passed``. For modules
        ``tol_kind`` is ``"abs"``: :data:`OUTPUT_ATOL` bounds ``output_max_abs``,
        ``attention_max_abs`` and ``step_max_abs``, :data:`GRAD_ATOL` bounds ``grad_max_abs``
        and ``param_grad_max_abs`` (each when computed). For a ``name`` in :data:`NETWORKS` it is
        ``"rel"``: :data:`RESNET_RTOL` bounds ``output_max_rel``; the contract sets no
        gradient or training tolerance for whole networks (``grad_tol`` NaN). ``passed`` is
        true when every bounded difference is at most its tolerance (a NaN difference fails).
        ``attrs`` holds ``name``, ``kwargs`` and ``input_shape`` when given.

    Raises:
        ValueError: the frameworks returned different output keys, shapes or parameter names;
            training results for some frameworks but not others.
    """
    from ._table import ParityTable

    relative = name in NETWORKS
    output_tol, grad_tol = (RESNET_RTOL, float("nan")) if relative else (OUTPUT_ATOL, GRAD_ATOL)
    unpacked = {fw: tuple(value) + (None,) * (3 - len(value)) for fw, value in results.items()}
    trained = {fw for fw, value in unpacked.items() if value[2] is not None}
    if trained and trained != set(unpacked):
        raise ValueError(
            f"difference_table: training results for {sorted(trained)} but not for "
            f"{sorted(set(unpacked) - trained)}"
        )
    rows = []
    for a, b in itertools.combinations(list(unpacked), 2):
        (out_a, grad_a, train_a), (out_b, grad_b, train_b) = unpacked[a], unpacked[b]
        if set(out_a) != set(out_b):
            raise ValueError(
                f"difference_table: output keys differ: {a} {sorted(out_a)} vs {b} {sorted(out_b)}"
            )
        out_abs, out_rel = _max_abs_rel(out_a["output"], out_b["output"], f"{a}-{b} output")
        grad_abs = grad_rel = float("nan")
        has_grad = grad_a is not None and grad_b is not None
        if has_grad:
            grad_abs, grad_rel = _max_abs_rel_over(grad_a, grad_b, f"{a}-{b} input gradient")
        attention = [
            _max_abs_rel(out_a[k], out_b[k], f"{a}-{b} attention {k!r}")[0]
            for k in sorted(out_a)
            if k != "output"
        ]
        att_abs = float(np.max(attention)) if attention else float("nan")  # NaN propagates
        param_abs = step_abs = float("nan")
        if train_a is not None:
            param_abs = _max_abs_over(train_a.param_grads, train_b.param_grads, f"{a}-{b} parameter gradient")
            step_abs = _max_abs_over(train_a.weights_after, train_b.weights_after, f"{a}-{b} weights after the step")
        if relative:
            passed = out_rel <= output_tol
        else:
            passed = (out_abs <= output_tol and (not attention or att_abs <= output_tol)
                      and (not has_grad or grad_abs <= grad_tol)
                      and (train_a is None or (param_abs <= grad_tol and step_abs <= output_tol)))
        rows.append((f"{a}-{b}", out_abs, out_rel, grad_abs, grad_rel, att_abs, param_abs, step_abs,
                     output_tol, grad_tol, "rel" if relative else "abs", bool(passed)))
    table = ParityTable(rows, columns=list(TABLE_COLUMNS))
    if name is not None:
        table.attrs["name"] = name
    if kwargs is not None:
        table.attrs["kwargs"] = dict(kwargs)
    if input_shape is not None:
        nested = len(input_shape) > 0 and not isinstance(input_shape[0], (int, np.integer))
        table.attrs["input_shape"] = (tuple(tuple(int(d) for d in s) for s in input_shape) if nested
                                      else tuple(int(d) for d in input_shape))
    return table


def compare_frameworks(
    name: str,
    x_nchw,
    /,
    *,
    frameworks: Sequence[str] = FRAMEWORKS,
    seed: int = 0,
    grad: bool = True,
    training: bool | None = None,
    lr: float | None = None,
    **kwargs,
):
    """Run the same module with the same weights and input in several frameworks.

    Builds ``vision_attention.<framework>.<name>(**kwargs)`` in each framework, loads the
    same :func:`random_weights` (``seed``) into each, runs :func:`run_module` on ``x_nchw``
    and, for modules, one training step
    (:func:`vision_attention.parity.training.train_step`: training mode, loss
    ``0.5 * mean((y - t)^2)`` against a seeded standard-normal target ``t``, plain SGD), and
    returns :func:`difference_table` of the results.

    Args:
        name: module class name or a whole network of :data:`NETWORKS` (positional-only, as
            ``x_nchw``, so ``name=`` in ``kwargs`` is ``create_vision_backbone``'s).
        x_nchw: input ``(B, C, H, W)``, cast to float32; a ``tuple`` of inputs for a module with
            several (``(x, g)`` for an attention gate): the gradient columns then hold the
            largest difference over the inputs' gradients.
        frameworks: at least two of ``("torch", "paddle", "tensorflow")``; pairs are
            formed in this order (``torch-paddle``, ``torch-tensorflow``, ``paddle-tensorflow``).
        seed: seed of the weights (and of the training target).
        grad: also compare d(sum(output))/dx.
        training: also compare the parameter gradients and the weights after one SGD step;
            ``None`` means yes for modules on a batch of two or more, no for one sample (a
            BatchNorm over the batch alone, as in BAM's channel gate, cannot train on one) and
            for the whole networks of :data:`NETWORKS` (the contract sets no training
            tolerance for them); ``True`` is refused for both.
        lr: learning rate of the step (default
            :data:`~vision_attention.parity.training.DEFAULT_LR`).
        **kwargs: constructor arguments of the module.

    Returns:
        the :func:`difference_table` (columns :data:`TABLE_COLUMNS`, each pair judged against
        the contract's tolerances in column ``passed``); ``attrs`` carries ``name``,
        ``kwargs``, ``input_shape``.

    Raises:
        ValueError: fewer than two or unknown/repeated frameworks; ``training=True`` for
            a whole network (:data:`NETWORKS`) or a batch of one; errors of the module.
    """
    from .training import DEFAULT_LR, train_step

    frameworks = tuple(frameworks)
    for fw in frameworks:
        check_framework(fw)
    if len(frameworks) < 2 or len(set(frameworks)) != len(frameworks):
        raise ValueError(
            f"compare_frameworks: argument 'frameworks' expected two or more distinct names "
            f"from {FRAMEWORKS}, got {frameworks!r}"
        )
    if training and name in NETWORKS:
        raise ValueError(
            f"compare_frameworks: argument 'training' expected False or None for {name!r} "
            f"(the contract has no training tolerance for whole networks), got True"
        )
    xs = as_inputs("compare_frameworks", x_nchw)
    x = xs[0]
    if training and x.ndim == 4 and x.shape[0] < 2:
        raise ValueError(
            f"compare_frameworks: argument 'training' expected False or None for a batch of one "
            f"(BatchNorm in training mode normalises over the batch), got True for input shape {x.shape}"
        )
    if training is None:
        training = name not in NETWORKS and x.ndim == 4 and x.shape[0] >= 2
    inputs = xs if isinstance(x_nchw, tuple) else x
    weights = random_weights(name, seed=seed, **kwargs)
    results, target = {}, None
    # Build in the safe import order (paddle before tensorflow), report in the given order.
    for fw in sorted(frameworks, key=FRAMEWORKS.index):
        module = build_module(fw, name, **kwargs)
        load_weights(module, weights)
        outputs, input_grad = run_module(fw, module, inputs, grad=grad)
        step = None
        if training:
            if target is None:
                target = np.random.default_rng([seed, 1]).standard_normal(outputs["output"].shape)
            step = train_step(fw, module, inputs, target, DEFAULT_LR if lr is None else lr)
        results[fw] = (outputs, input_grad, step)
    results = {fw: results[fw] for fw in frameworks}
    shape = tuple(a.shape for a in xs) if isinstance(x_nchw, tuple) else x.shape
    return difference_table(results, name=name, kwargs=kwargs, input_shape=shape)
