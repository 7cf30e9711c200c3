"""Parameter, FLOP and element-wise operation counts of PyTorch modules and networks.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode`, PyTorch's own counter:
it is maintained with PyTorch, knows the shapes of every convolution and matmul variant
(grouped, dilated, strided, transposed) and needs no hand-written per-layer formulas, which is
exactly where home-made counters go wrong. It counts a multiply-add as **2 FLOPs** and counts
only matmul/convolution-type ops (``convolution``, ``addmm``, ``mm``, ``bmm``, attention
kernels). Element-wise work -- sigmoid, multiplications by attention maps, additions, ReLU,
BatchNorm, average/max pooling, channel means -- is **not** counted by it. Since that work is
most of what SE, ECA and CBAM add, :func:`count_flops` also counts it separately with a small
dispatch mode (see :class:`_ElementwiseCounter`) and reports it as ``elementwise``.

Papers and most tools (``thop``, ``ptflops``, ``fvcore``) report multiply-adds and call them
"FLOPs"; ResNet-50's famous "3.86 GFLOPs" is about 4.1 G multiply-adds counted that way (plus
small conventions). Compare papers' "GFLOPs" with our ``gmacs``, not with ``gflops``.

Importing this module imports no framework; PyTorch is imported inside the functions.
"""

from __future__ import annotations

import functools
import math

from .._checks import check_choice
from ..architectures import ATTENTION_TYPES

__all__ = [
    "ARCHS",
    "count_parameters",
    "count_flops",
    "overhead_table",
    "single_module_overhead",
    "single_module_table",
    "PLACEMENTS",
    "backbone_overhead_table",
]

ARCHS = {"resnet50": 2048, "mobilenet_v2": 1280}
"""Supported ``arch`` values and the channel count of their last feature map."""

DEFAULT_ATTENTION_TYPES = ATTENTION_TYPES

# Reductions and pooling: counted as one operation per *input* element (each element is
# read once into a sum or a max). Pooling windows that overlap (ResNet's 3x3/2 max-pool) are
# undercounted by this rule; that pool is identical in every variant, so overheads are not
# affected.
_REDUCTION_OPS = {
    "aten.mean.dim", "aten.mean.default", "aten.sum.dim_IntList", "aten.sum.default",
    "aten.amax.default", "aten.amin.default", "aten.max.dim", "aten.max.default",
    "aten.max_pool2d_with_indices.default", "aten.max_pool2d.default",
    "aten.avg_pool2d.default", "aten._adaptive_avg_pool2d.default",
    "aten.adaptive_max_pool2d.default",
}
# BatchNorm at inference is a per-element affine map: one operation per output element.
_NORM_OPS = {
    "aten.native_batch_norm.default", "aten._native_batch_norm_legit_no_training.default",
    "aten._native_batch_norm_legit.default", "aten._native_batch_norm_legit.no_stats",
    "aten.batch_norm.default", "aten.cudnn_batch_norm.default",
}


def _numel(shape) -> int:
    return math.prod(int(d) for d in shape)


def _make_elementwise_counter():
    """Create the dispatch mode lazily (its base class lives in PyTorch)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class _ElementwiseCounter(TorchDispatchMode):
        """Counts element-wise work per aten op: output elements of pointwise ops and
        BatchNorm, input elements of reductions and pooling (see module docstring)."""

        def __init__(self):
            super().__init__()
            self.counts: dict[str, int] = {}

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = str(func)
            n = 0
            if name in _REDUCTION_OPS:
                n = _numel(args[0].shape)
            elif name in _NORM_OPS or torch.Tag.pointwise in func.tags:
                first = out[0] if isinstance(out, (tuple, list)) else out
                n = _numel(first.shape) if isinstance(first, torch.Tensor) else 0
            if n:
                self.counts[name] = self.counts.get(name, 0) + n
            return out

    return _ElementwiseCounter()


def count_parameters(module) -> int:
    """Number of parameters (trainable or not) of a PyTorch module.

    Buffers such as BatchNorm running statistics are not parameters and are not counted,
    as in the papers' tables and in ``thop``/``torchinfo``.

    Args:
        module: a ``torch.nn.Module`` (on any device, including ``meta``).

    Returns:
        The total number of scalar parameters, an ``int``.
    """
    return int(sum(p.numel() for p in module.parameters()))


def count_flops(module, input_shape=(1, 3, 224, 224)) -> dict:
    """FLOPs, multiply-adds and element-wise operations of one forward pass.

    The module runs once in eval mode under ``torch.no_grad()`` on a zero input of
    ``input_shape`` placed on the module's device (build it on the ``meta`` device to count
    without computing or allocating anything); its train/eval mode is restored afterwards.

    Args:
        module: a ``torch.nn.Module`` taking NCHW float32 tensors.
        input_shape: the input shape, ``(B, C, H, W)``; counts scale with ``B``. For a module
            with several inputs (an attention gate's ``x`` and ``g``), a tuple of shapes, one
            zero tensor each, passed positionally.

    Returns:
        A dict with keys ``"flops"``, ``"macs"``, ``"elementwise"`` (ints) and
        ``"flops_by_op"``, ``"elementwise_by_op"`` (``{op: int}``). ``flops`` is from
        :class:`torch.utils.flop_counter.FlopCounterMode` (multiply-add = 2 FLOPs,
        convolutions and matmuls only), ``macs = flops // 2``; ``elementwise`` counts the
        element-wise work that ``flops`` leaves out (pointwise ops and BatchNorm: one per
        output element; reductions and pooling: one per input element).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = list(module.parameters())
    device = params[0].device if params else torch.device("cpu")
    nested = len(input_shape) > 0 and not isinstance(input_shape[0], int)
    shapes = tuple(input_shape) if nested else (input_shape,)
    xs = [torch.zeros(tuple(shape), device=device) for shape in shapes]
    was_training = module.training
    module.eval()
    elementwise = _make_elementwise_counter()
    try:
        with FlopCounterMode(display=False) as flop_counter, elementwise, torch.no_grad():
            module(*xs)
    finally:
        module.train(was_training)
    flops_by_op = {str(k): int(v) for k, v in flop_counter.get_flop_counts().get("Global", {}).items()}
    flops = int(flop_counter.get_total_flops())
    return {
        "flops": flops,
        "macs": flops // 2,
        "elementwise": int(sum(elementwise.counts.values())),
        "flops_by_op": flops_by_op,
        "elementwise_by_op": dict(elementwise.counts),
    }


def _check_arch(arch) -> str:
    if arch not in ARCHS:
        raise ValueError(f"argument 'arch' expected one of {tuple(ARCHS)}, got {arch!r}")
    return arch


def _check_attention_type(attention_type) -> str:
    return check_choice("profiling", "attention_type", attention_type, ATTENTION_TYPES)


def _build(arch: str, attention_type: str):
    import torch

    from ..torch.models import attention_mobilenet_v2, attention_resnet

    with torch.device("meta"):  # shapes only: nothing is allocated or initialised for real
        if arch == "resnet50":
            return attention_resnet(50, attention_type)
        return attention_mobilenet_v2(attention_type)


@functools.lru_cache(maxsize=None)
def _measure_network(arch: str, attention_type: str, input_size: int) -> tuple:
    model = _build(arch, attention_type)
    counts = count_flops(model, (1, 3, input_size, input_size))
    return count_parameters(model), counts["macs"], counts["elementwise"]


def _pct(value: float, base: float) -> float:
    return 100.0 * (value - base) / base


def overhead_table(arch: str = "resnet50", attention_types=DEFAULT_ATTENTION_TYPES,
                   input_size: int = 224):
    """Parameters and multiply-adds of a network with attention in every block, vs. without.

    Networks are built by :func:`vision_attention.torch.models.attention_resnet` (depth 50)
    or :func:`~vision_attention.torch.models.attention_mobilenet_v2` -- attention where the
    papers put it (every block; BAM between stages) -- on the ``meta`` device, and counted
    with :func:`count_parameters` and :func:`count_flops` for one image.

    Args:
        arch: ``"resnet50"`` or ``"mobilenet_v2"``.
        attention_types: the rows, any of ``"none"``, ``"se"``, ``"eca"``, ``"cbam"``, ``"bam"``
            (``"none"`` is always measured as the baseline of the overhead columns).
        input_size: square input side in pixels (224 as in the papers).

    Returns:
        A :class:`pandas.DataFrame`, one row per attention type, columns ``attention``,
        ``params`` (count), ``params_overhead_pct`` (% of the baseline's parameters),
        ``gmacs`` (10^9 multiply-adds per image), ``gmacs_overhead_pct``,
        ``melementwise`` (10^6 element-wise operations per image, which MACs leave out) and
        ``melementwise_overhead_pct``.

    Raises:
        ValueError: unknown ``arch`` or attention type.
    """
    import pandas as pd

    _check_arch(arch)
    input_size = int(input_size)
    base_params, base_macs, base_ew = _measure_network(arch, "none", input_size)
    rows = []
    for attention_type in attention_types:
        params, macs, ew = _measure_network(arch, _check_attention_type(attention_type), input_size)
        rows.append({
            "attention": attention_type,
            "params": params,
            "params_overhead_pct": _pct(params, base_params),
            "gmacs": macs / 1e9,
            "gmacs_overhead_pct": _pct(macs, base_macs),
            "melementwise": ew / 1e6,
            "melementwise_overhead_pct": _pct(ew, base_ew),
        })
    return pd.DataFrame(rows)


def _final_side(input_size: int) -> int:
    # Both networks halve the resolution five times with 'same'-padded stride-2 layers,
    # each giving ceil(n / 2): 224 -> 7.
    side = int(input_size)
    for _ in range(5):
        side = (side + 1) // 2
    return side


def single_module_overhead(arch: str = "resnet50", attention_type: str = "se",
                           input_size: int = 224) -> dict:
    """Overhead of ONE attention module applied only to the network's last feature map.

    This is the other reading of overhead claims such as the Med-Framework attention guide's ("CBAM ~0.5 % params,
    ~1 % FLOPs"): a single module on the ``2048 x 7 x 7`` (ResNet-50) or ``1280 x 7 x 7``
    (MobileNetV2) map before global pooling, instead of one per block. The module is the
    package's :class:`~vision_attention.torch.SEBlock`, :class:`~vision_attention.torch.ECA`,
    :class:`~vision_attention.torch.CBAM` or :class:`~vision_attention.torch.BAM` with default
    arguments (``r = 16``, ECA kernel from Eq. (12), CBAM 7x7, BAM dilation 4).

    Args:
        arch: ``"resnet50"`` or ``"mobilenet_v2"``.
        attention_type: ``"none"``, ``"se"``, ``"eca"``, ``"cbam"`` or ``"bam"``.
        input_size: the network's square input side (224 gives a 7x7 last map).

    Returns:
        A dict with ``attention``, ``feature_map`` (``(C, H, W)``), ``module_params``,
        ``params`` (network plus module), ``params_overhead_pct``, ``module_macs``,
        ``gmacs`` (network plus module, 10^9), ``gmacs_overhead_pct``,
        ``module_elementwise``, ``melementwise`` and ``melementwise_overhead_pct``.

    Raises:
        ValueError: unknown ``arch`` or ``attention_type``.
    """
    import torch

    from ..torch import BAM, CBAM, ECA, SEBlock

    channels = ARCHS[_check_arch(arch)]
    _check_attention_type(attention_type)
    side = _final_side(input_size)
    base_params, base_macs, base_ew = _measure_network(arch, "none", int(input_size))
    module_params = module_macs = module_ew = 0
    if attention_type != "none":
        cls = {"se": SEBlock, "eca": ECA, "cbam": CBAM, "bam": BAM}[attention_type]
        with torch.device("meta"):
            module = cls(channels)
        counts = count_flops(module, (1, channels, side, side))
        module_params = count_parameters(module)
        module_macs, module_ew = counts["macs"], counts["elementwise"]
    return {
        "attention": attention_type,
        "feature_map": (channels, side, side),
        "module_params": module_params,
        "params": base_params + module_params,
        "params_overhead_pct": 100.0 * module_params / base_params,
        "module_macs": module_macs,
        "gmacs": (base_macs + module_macs) / 1e9,
        "gmacs_overhead_pct": 100.0 * module_macs / base_macs,
        "module_elementwise": module_ew,
        "melementwise": (base_ew + module_ew) / 1e6,
        "melementwise_overhead_pct": 100.0 * module_ew / base_ew,
    }


def single_module_table(arch: str = "resnet50", attention_types=DEFAULT_ATTENTION_TYPES,
                        input_size: int = 224):
    """:func:`single_module_overhead` for several attention types, as a :class:`pandas.DataFrame`."""
    import pandas as pd

    return pd.DataFrame([single_module_overhead(arch, t, input_size) for t in attention_types])


PLACEMENTS = ("last map", "every block")
"""The two placements :func:`backbone_overhead_table` measures: one module on the trunk's last
feature map (the Med-Framework attention guide's ``create_vision_backbone``), or one in every
block (the papers; our ``attention_resnet`` and ``attention_mobilenet_v2``)."""


@functools.lru_cache(maxsize=None)
def _measure_backbone(name: str, attention_type: str, placement: str, input_size: int) -> tuple:
    import torch

    from ..torch.backbones import create_vision_backbone
    from ..torch.models import attention_mobilenet_v2, attention_resnet

    def build():
        if placement == "last map":
            return create_vision_backbone(name, attention_type)
        if name == "mobilenet_v2":
            return attention_mobilenet_v2(attention_type)
        return attention_resnet(int(name[len("resnet"):]), attention_type)

    try:
        with torch.device("meta"):  # shapes only: nothing allocated or computed
            model = build()
    except NotImplementedError:
        # torchvision's RegNet builders compute their stage widths with tensor operations,
        # which the meta device cannot evaluate: build those few-million-parameter nets for real
        model = build()
    counts = count_flops(model, (1, 3, input_size, input_size))
    return count_parameters(model), counts["macs"], counts["elementwise"]


def backbone_overhead_table(names=("resnet50", "mobilenet_v2"), attention_types=("se", "eca", "cbam", "bam"),
                            placements=PLACEMENTS, input_size: int = 224):
    """What attention adds to a backbone, in both placements, counted for one image.

    The base of every percentage is the backbone without attention and without classifier,
    ``create_vision_backbone(name, "none")`` (a feature extractor, as the Med-Framework attention
    guide's table compares). ``"last map"``: one module on the trunk's last map
    (``create_vision_backbone(name, attention_type)``). ``"every block"``: a module in every
    block (BAM between stages), as the papers place them: the difference between
    ``attention_resnet(depth, attention_type)`` or ``attention_mobilenet_v2(attention_type)``
    and the same network without attention (their classifier heads cancel), available for the
    ResNets and MobileNetV2 only; other names get no row for it. Networks are built on the
    ``meta`` device and counted with :func:`count_parameters` and :func:`count_flops`.

    Args:
        names: torchvision backbone names (:data:`vision_attention.architectures.BACKBONE_NAMES`)
            of convolutional families.
        attention_types: any of ``"se"``, ``"eca"``, ``"cbam"``, ``"bam"``.
        placements: a subset of :data:`PLACEMENTS`.
        input_size: square input side in pixels.

    Returns:
        A :class:`pandas.DataFrame`, one row per (name, placement, attention type) measured,
        columns ``backbone``, ``placement``, ``attention``, ``base_params``,
        ``added_params``, ``params_overhead_pct``, ``base_gmacs``, ``added_mmacs`` (10^6
        multiply-adds), ``gmacs_overhead_pct``, ``added_melementwise`` and
        ``elementwise_overhead_pct``.

    Raises:
        ValueError: an unknown or Transformer ``name``, an attention type not in the list, an
            unknown placement, or a non-positive ``input_size``; nothing is built before the
            check.
    """
    import pandas as pd

    from ..architectures import BACKBONE_NAMES, backbone_family

    names, attention_types, placements = list(names), list(attention_types), list(placements)
    for name in names:
        if name not in BACKBONE_NAMES or backbone_family(name).transformer:
            raise ValueError(f"backbone_overhead_table: argument 'names' expected convolutional backbone "
                             f"names of vision_attention.architectures.BACKBONE_NAMES, got {name!r}")
    for attention_type in attention_types:
        if attention_type not in ("se", "eca", "cbam", "bam"):
            raise ValueError(f"backbone_overhead_table: argument 'attention_types' expected values from "
                             f"('se', 'eca', 'cbam', 'bam'), got {attention_type!r}")
    for placement in placements:
        if placement not in PLACEMENTS:
            raise ValueError(f"backbone_overhead_table: argument 'placements' expected values from "
                             f"{PLACEMENTS}, got {placement!r}")
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 32:
        raise ValueError(f"backbone_overhead_table: argument 'input_size' expected an int >= 32, "
                         f"got {input_size!r}")
    rows = []
    for name in names:
        base_params, base_macs, base_ew = _measure_backbone(name, "none", "last map", input_size)
        for placement in placements:
            if placement == "every block" and not (name == "mobilenet_v2" or name.startswith("resnet")):
                continue
            ref = (base_params, base_macs, base_ew) if placement == "last map" else \
                _measure_backbone(name, "none", placement, input_size)
            for attention_type in attention_types:
                params, macs, ew = _measure_backbone(name, attention_type, placement, input_size)
                added = (params - ref[0], macs - ref[1], ew - ref[2])
                rows.append({
                    "backbone": name,
                    "placement": placement,
                    "attention": attention_type,
                    "base_params": base_params,
                    "added_params": added[0],
                    "params_overhead_pct": 100.0 * added[0] / base_params,
                    "base_gmacs": base_macs / 1e9,
                    "added_mmacs": added[1] / 1e6,
                    "gmacs_overhead_pct": 100.0 * added[1] / base_macs,
                    "added_melementwise": added[2] / 1e6,
                    "elementwise_overhead_pct": 100.0 * added[2] / base_ew,
                })
    return pd.DataFrame(rows)
