"""Four FLOP counters side by side on ResNet-50 with attention: thop, fvcore, PyTorch's
:class:`~torch.utils.flop_counter.FlopCounterMode` and the package's :func:`count_flops`.

The practical guide says "use ``thop`` for FLOPs". Every counter answers a different question,
and they differ exactly where the attention modules do their work: in element-wise ops
(pooling, sigmoid, the products ``x * s``) that are not convolutions. What each counts
(verified on ``attention_resnet(50, t)`` by :func:`flop_counter_comparison` and the tests):

* **thop** (``thop.profile``): forward hooks on *modules* of known types; reports
  multiply-adds (MACs). Conv and ``nn.Linear``: one per multiply-add (bias not counted);
  ``BatchNorm2d``: **4 per element** (its ``calculate_norm`` gives 2 per element and doubles it
  for the affine parameters); ``AdaptiveAvgPool2d``: ``kernel + 1`` per output element;
  ``nn.ReLU``, ``MaxPool2d``: 0. Anything done by a *function* or tensor method is invisible:
  SE's ``x.mean``, ``torch.sigmoid``, ``torch.relu`` and ``x * s``, CBAM's ``amax``/``mean``
  over channels, every residual addition. Of an attention module it sees the two Linear
  layers (SE, CBAM), ECA's ``Conv1d``, CBAM's 7x7 ``Conv2d`` and BatchNorm. It also leaves
  ``total_ops``/``total_params`` buffers in every module without a rule (containers, the
  attention modules themselves): :func:`thop_profile` profiles a deep copy.
* **fvcore** (``FlopCountAnalysis``): traces the model with ``torch.jit`` and counts per aten
  op with handles; one "flop" per multiply-add (conv, linear/addmm, matmul), BatchNorm in
  eval **2 per element**, ``adaptive_avg_pool2d`` 1 per input element. Ops without a handle
  are *skipped*, and it says so: for the attention modules ``aten::mean``, ``aten::amax``,
  ``aten::sigmoid``, ``aten::mul``, ``aten::add``, ``aten::relu`` etc. (reported in
  ``skipped_ops``); ``max_pool2d`` is skipped in the stem too.
* **FlopCounterMode** (``torch.utils.flop_counter``): counts only matmul/convolution-type
  aten ops (``convolution``, ``addmm``, ``mm``, ``bmm``, attention kernels), **2 FLOPs per
  multiply-add**; BatchNorm, pooling and every element-wise op are 0.
* **count_flops** (this package): ``macs`` = FlopCounterMode / 2, plus ``elementwise``: one
  operation per output element of every pointwise op and BatchNorm, one per input element of
  reductions and pooling (``mean``, ``amax``, max-pool). It is the only one that sees
  sigmoid, ``x * s`` and the squeeze's mean.

So on convolution-and-linear work all four agree (thop conv+linear MACs == fvcore conv+linear
== FlopCounterMode / 2 == count_flops ``macs``); totals differ by BatchNorm and pooling
conventions; and for SE/ECA/CBAM the MAC counters see only the modules' small MLPs and
convolutions (ECA: a 1-D convolution of ``k`` taps over the channels).

Hand check (:func:`se_last_stage_check`): SE in ResNet-50's last block (``layer4.2.attention``)
on a ``C x H x W = 2048 x 7 x 7`` map (224 input), ``r = 16``: ``fc1`` ``C x C/r`` and ``fc2``
``C/r x C`` give ``2 C^2 / r = 524,288`` MACs; element-wise: the mean reads ``C H W`` values,
the ReLU ``C/r`` and sigmoid ``C`` outputs, ``x * s`` ``C H W`` products, the two bias
additions inside ``addmm`` are not separate ops.

Importing this module imports no framework; PyTorch, thop and fvcore are imported inside
the functions.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings

from .._checks import check_choice, check_positive_int
from ..architectures import ATTENTION_TYPES
from .counting import count_flops, count_parameters

__all__ = ["COUNTERS", "COUNTER_CONVENTIONS", "COUNTER_COLUMNS", "counter_versions", "thop_profile",
           "flop_counter_comparison", "se_last_stage_check"]

COUNTERS = ("thop", "fvcore", "flop_counter_mode", "count_flops_macs", "count_flops_elementwise")
"""The rows per attention type of :func:`flop_counter_comparison` (``counter`` column)."""

COUNTER_COLUMNS = ("attention", "counter", "unit", "total", "share", "share_pct", "modules", "skipped_ops")
"""Columns of :func:`flop_counter_comparison`."""

_UNITS = {"thop": "MAC", "fvcore": "MAC", "flop_counter_mode": "FLOP (2 per MAC)", "count_flops_macs": "MAC",
          "count_flops_elementwise": "element-wise op"}

# What each counter counts for the attention modules' work (and two reference ops), as data.
COUNTER_CONVENTIONS = {
    "thop": {"conv/linear": "1 per MAC (no bias)", "batchnorm": "4 per element", "adaptive_avg_pool": "kernel+1 per output",
             "pooling (mean/amax)": "not counted (tensor methods)", "sigmoid": "not counted (function)",
             "x*s": "not counted", "relu": "0 (nn.ReLU), not counted (torch.relu)", "mlp": "counted (nn.Linear)",
             "residual add": "not counted"},
    "fvcore": {"conv/linear": "1 per MAC (no bias)", "batchnorm": "2 per element (eval)",
               "adaptive_avg_pool": "1 per input element", "pooling (mean/amax)": "skipped (reported)",
               "sigmoid": "skipped (reported)", "x*s": "skipped (aten::mul, reported)", "relu": "skipped",
               "mlp": "counted (addmm)", "residual add": "skipped (aten::add, reported)"},
    "flop_counter_mode": {"conv/linear": "2 per MAC", "batchnorm": "0", "adaptive_avg_pool": "0",
                          "pooling (mean/amax)": "0", "sigmoid": "0", "x*s": "0", "relu": "0",
                          "mlp": "counted (addmm, 2 per MAC)", "residual add": "0"},
    "count_flops": {"conv/linear": "macs = FlopCounterMode / 2", "batchnorm": "elementwise: 1 per element",
                    "adaptive_avg_pool": "elementwise: 1 per input element",
                    "pooling (mean/amax)": "elementwise: 1 per input element",
                    "sigmoid": "elementwise: 1 per output element", "x*s": "elementwise: 1 per output element",
                    "relu": "elementwise: 1 per output element", "mlp": "macs (addmm)",
                    "residual add": "elementwise: 1 per output element"},
}


def counter_versions() -> dict:
    """Installed versions (distribution metadata) of ``thop`` (package ``thop``), ``fvcore``
    and ``torch``, as strings."""
    from importlib.metadata import version

    return {"thop": version("thop"), "fvcore": version("fvcore"), "torch": version("torch")}


@contextlib.contextmanager
def _captured(messages: list):
    """Run a block with stdout, stderr, warnings and log records captured into ``messages``
    (deduplicated lines, in order): the libraries' output is kept, not printed."""
    out, err = io.StringIO(), io.StringIO()
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler, root = _Keep(level=logging.DEBUG), logging.getLogger()
    loggers = [root, logging.getLogger("fvcore")]
    saved = [(lg, lg.propagate, lg.handlers[:]) for lg in loggers]
    for lg in loggers:
        lg.handlers = [handler]
    logging.getLogger("fvcore").propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            yield
    finally:
        for lg, propagate, handlers in saved:
            lg.handlers, lg.propagate = handlers, propagate
        lines = [f"warning: {w.category.__name__}: {w.message}" for w in caught]
        lines += [f"log {r.levelname}: {r.getMessage()}" for r in records]
        lines += [f"stdout: {s}" for s in out.getvalue().splitlines() if s.strip()]
        lines += [f"stderr: {s}" for s in err.getvalue().splitlines() if s.strip()]
        messages.extend(dict.fromkeys(lines))


def _is_attention(name: str) -> bool:
    """Whether the qualified module name is an attention module of ``attention_resnet``
    (``layerN.M.attention`` in a block, ``bamN`` between stages)."""
    last = name.rsplit(".", 1)[-1]
    return last == "attention" or (name == last and last.startswith("bam") and last[3:].isdigit())


def _thop_modules(tree: dict, prefix: str = "") -> float:
    """Sum of thop's ops over the attention modules, from ``profile(..., ret_layer_info=True)``'s tree."""
    total = 0.0
    for name, (ops, _params, children) in tree.items():
        qualified = f"{prefix}{name}"
        total += ops if _is_attention(qualified) else _thop_modules(children, qualified + ".")
    return total


def thop_profile(model, x, messages: list | None = None) -> tuple[int, float]:
    """``thop.profile`` on a deep copy of ``model`` (thop leaves ``total_ops``/``total_params``
    buffers in the modules it has no rule for, which would change the ``state_dict``).

    Args:
        model: a ``torch.nn.Module`` taking one NCHW float32 tensor.
        x: that input tensor.
        messages: a list that receives thop's captured output (its ``[INFO] Register ...`` lines).

    Returns:
        ``(macs, attention_macs)``: thop's total multiply-adds (see the module docstring for
        its conventions) and the part in the attention modules (its per-module tree).
    """
    sink = [] if messages is None else messages
    with _captured(sink):
        import thop  # inside: its import warns (distutils' LooseVersion)

        macs, _params, tree = thop.profile(copy.deepcopy(model), inputs=(x,), verbose=True, ret_layer_info=True)
    return int(macs), float(_thop_modules(tree))


def _fvcore(model, x, messages: list) -> tuple[int, float, dict]:
    with _captured(messages):
        from fvcore.nn import FlopCountAnalysis  # inside: importing it warns (torch.jit.script)

        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False)  # reported as data instead (skipped_ops)
        analysis.uncalled_modules_warnings(False)
        total = int(analysis.total())
        by_module = analysis.by_module()
        skipped = {str(k): int(v) for k, v in sorted(analysis.unsupported_ops().items())}
    modules = float(sum(v for k, v in by_module.items() if _is_attention(k)))
    return total, modules, skipped


def _flop_counter_mode(model, x) -> tuple[int, float]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    per_module = counter.get_flop_counts()
    # keys are the module path prefixed with the root's class name ("AttentionResNet.layer1.0.attention")
    modules = sum(sum(ops.values()) for key, ops in per_module.items()
                  if key != "Global" and "." in key and _is_attention(key.split(".", 1)[1]))
    return int(counter.get_total_flops()), float(modules)


def _measure(attention_type: str, input_size: int, seed: int) -> tuple[dict, dict]:
    """``{counter: (total, modules, skipped)}`` and ``{counter: [messages]}`` for one network."""
    import torch

    from ..torch.models import attention_resnet

    torch.manual_seed(seed)
    model = attention_resnet(50, attention_type).eval()
    x = torch.zeros(1, 3, input_size, input_size)
    messages = {"thop": [], "fvcore": []}
    nan = float("nan")
    thop_total, thop_modules = thop_profile(model, x, messages["thop"])
    fv_total, fv_modules, skipped = _fvcore(model, x, messages["fvcore"])
    fcm_total, fcm_modules = _flop_counter_mode(model, x)
    ours = count_flops(model, tuple(x.shape))
    counts = {
        "thop": (thop_total, thop_modules, {}),
        "fvcore": (fv_total, fv_modules, skipped),
        "flop_counter_mode": (fcm_total, fcm_modules, {}),
        "count_flops_macs": (ours["macs"], nan, {}),
        "count_flops_elementwise": (ours["elementwise"], nan, {}),
    }
    return counts, messages


def _check_types(owner: str, attention_types) -> tuple:
    if isinstance(attention_types, str) or not hasattr(attention_types, "__iter__"):
        raise TypeError(f"{owner}: argument 'attention_types' expected a sequence of attention types, "
                        f"got {attention_types!r}")
    types = tuple(attention_types)
    if not types:
        raise ValueError(f"{owner}: argument 'attention_types' expected at least one attention type, got ()")
    for t in types:
        check_choice(owner, "attention_types", t, ATTENTION_TYPES)
    return types


def _check_input_size(owner: str, input_size) -> int:
    size = check_positive_int(owner, "input_size", input_size)
    if size < 32:
        raise ValueError(f"{owner}: argument 'input_size' expected an int >= 32 (five halvings), got {input_size!r}")
    return size


def flop_counter_comparison(attention_types=("none", "se", "eca", "cbam"), input_size: int = 224, seed: int = 0):
    """What thop, fvcore, FlopCounterMode and :func:`count_flops` report for ResNet-50 with
    attention in every block, and the attention modules' share by each.

    Each network is ``attention_resnet(50, t)`` (PyTorch, NCHW, float32, built for real with
    ``torch.manual_seed(seed)``; fvcore's tracer needs real tensors), in eval mode, counted for
    one zero image ``(1, 3, input_size, input_size)``. ``"none"`` is always measured: it is the
    baseline of ``share``. The libraries' printed output, warnings and log records are captured
    (nothing is printed) and returned in ``df.attrs["messages"]``.

    Args:
        attention_types: the networks, values of
            :data:`vision_attention.architectures.ATTENTION_TYPES`.
        input_size: square input side in pixels, an int >= 32 (224 as in the papers).
        seed: the weights' seed (counts do not depend on it).

    Returns:
        A tidy :class:`pandas.DataFrame`, one row per (attention type, counter of
        :data:`COUNTERS`), columns :data:`COUNTER_COLUMNS`: ``unit`` (``"MAC"``, ``"FLOP (2 per
        MAC)"`` or ``"element-wise op"``), ``total`` (int, per image), ``share`` (``total``
        minus the ``"none"`` network's by the same counter), ``share_pct`` (``share`` in % of
        that), ``modules`` (what the counter's own per-module breakdown attributes to the
        attention modules -- thop's layer tree, fvcore's ``by_module()``, FlopCounterMode's
        module hierarchy; NaN for :func:`count_flops`, which has none), ``skipped_ops``
        (fvcore: ``{aten op: calls}`` it skipped as unsupported; ``{}`` elsewhere).
        ``df.attrs``: ``"versions"`` (:func:`counter_versions`), ``"conventions"``
        (:data:`COUNTER_CONVENTIONS`), ``"messages"`` (``{attention type: {"thop": [...],
        "fvcore": [...]}}``), ``"input_size"``.

    Raises:
        TypeError: ``attention_types`` not a sequence (a bare string).
        ValueError: an unknown or no attention type; ``input_size`` not an int >= 32. Checked
            before anything is built.
    """
    import pandas as pd

    owner = "flop_counter_comparison"
    types = _check_types(owner, attention_types)
    size = _check_input_size(owner, input_size)
    measured, messages = {}, {}
    for t in dict.fromkeys(("none",) + types):
        measured[t], messages[t] = _measure(t, size, seed)
    rows = []
    for t in types:
        for counter in COUNTERS:
            total, modules, skipped = measured[t][counter]
            base = measured["none"][counter][0]
            rows.append({"attention": t, "counter": counter, "unit": _UNITS[counter], "total": total,
                         "share": total - base, "share_pct": 100.0 * (total - base) / base,
                         "modules": modules, "skipped_ops": skipped})
    df = pd.DataFrame(rows, columns=list(COUNTER_COLUMNS))
    df.attrs.update(versions=counter_versions(), conventions=COUNTER_CONVENTIONS, messages=messages,
                    input_size=size)
    return df


def se_last_stage_check(input_size: int = 224, reduction_ratio: int = 16) -> dict:
    """Hand cross-check of one module: the SE block of ResNet-50's last stage on its
    ``2048 x s x s`` map (``s = 7`` for 224), counted alone by each counter.

    Hand values (``C = 2048``, ``r = reduction_ratio``, ``N = C * s * s``):
    ``mlp_macs = 2 * C * (C // r)`` (``fc1`` and ``fc2``, biases not counted); element-wise:
    ``mean_reads = N`` (the squeeze reads every value once), ``relu = C // r``,
    ``sigmoid = C``, ``products = N`` (``x * s``).

    Returns:
        A dict with the keys ``hand`` (the values above), ``thop`` and ``fvcore`` (MACs),
        ``fvcore_skipped`` (operation: calls), ``flop_counter_mode`` (FLOPs) and
        ``count_flops`` (a dict with ``macs``, ``elementwise`` and ``elementwise_by_op``).

    Raises:
        ValueError: ``input_size`` not an int >= 32, or ``reduction_ratio`` invalid for 2048.
    """
    import torch

    from ..torch import SEBlock
    from .counting import _final_side

    owner = "se_last_stage_check"
    side = _final_side(_check_input_size(owner, input_size))
    channels = 2048
    torch.manual_seed(0)
    module = SEBlock(channels, reduction_ratio).eval()
    hidden = module.fc1.out_features
    x = torch.zeros(1, channels, side, side)
    n = channels * side * side
    fv_messages: list = []
    fv_total, _modules, skipped = _fvcore(module, x, fv_messages)
    ours = count_flops(module, tuple(x.shape))
    return {
        "hand": {"mlp_macs": 2 * channels * hidden, "mean_reads": n, "relu": hidden, "sigmoid": channels,
                 "products": n, "params": count_parameters(module)},
        "thop": thop_profile(module, x)[0],
        "fvcore": fv_total,
        "fvcore_skipped": skipped,
        "flop_counter_mode": _flop_counter_mode(module, x)[0],
        "count_flops": {"macs": ours["macs"], "elementwise": ours["elementwise"],
                        "elementwise_by_op": ours["elementwise_by_op"]},
    }
