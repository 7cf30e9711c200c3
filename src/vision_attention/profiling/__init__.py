"""Measuring the attention modules: parameters, FLOPs, element-wise work, latency, memory.

* :func:`count_parameters`, :func:`count_flops` -- one PyTorch module or network
  (FLOPs from :class:`torch.utils.flop_counter.FlopCounterMode`).
* :func:`flop_counter_comparison`, :func:`se_last_stage_check` -- thop, fvcore,
  FlopCounterMode and :func:`count_flops` side by side on ResNet-50 with attention (what each
  counts of the attention modules' work, what each skips), and a hand check of one SE block.
* :func:`overhead_table` -- ResNet-50 / MobileNetV2 with attention in every block vs. without.
* :func:`single_module_overhead`, :func:`single_module_table` -- one module on the last
  feature map only (the other reading of overhead claims).
* :func:`backbone_overhead_table` -- one module on a backbone's last map against one in every
  block, on any convolutional backbone of ``create_vision_backbone``.
* :func:`forward_latency`, :func:`peak_memory`, :func:`run_framework_benchmark` -- forward
  latency and peak resident memory of the modules in PyTorch, Paddle and TensorFlow.
* :func:`attention_cost`, :func:`scaling_slopes`, :func:`crossover_side` -- time and peak
  memory of SE, CBAM, the non-local block and multi-head self-attention (global, windowed;
  fused and explicit) as the feature map grows, in PyTorch on the CPU.
* :func:`supervision_cost`, :func:`supervision_summary` -- memory and time of a training step
  and of inference with and without attention supervision (``return_intermediates`` and the
  mask loss), for a backbone with one CBAM on its last map.
* ``python -m vision_attention.profiling.bench`` -- the measured figures printed by ``make bench``.

Importing this package imports no framework: every framework import is inside a function.
"""

from .cost import (
    COST_COLUMNS,
    COST_MODULES,
    attention_cost,
    attention_gflops,
    crossover_side,
    predicted_attention_mib,
    scaling_slopes,
)
from .counting import (
    ARCHS,
    PLACEMENTS,
    backbone_overhead_table,
    count_flops,
    count_parameters,
    overhead_table,
    single_module_overhead,
    single_module_table,
)
from .counters import (
    COUNTER_COLUMNS,
    COUNTER_CONVENTIONS,
    COUNTERS,
    counter_versions,
    flop_counter_comparison,
    se_last_stage_check,
    thop_profile,
)
from .supervision import (
    SUPERVISION_BACKBONES,
    SUPERVISION_COLUMNS,
    SUPERVISION_MODES,
    supervision_cost,
    supervision_summary,
)
from .latency import (
    FRAMEWORKS,
    MODULE_NAMES,
    forward_latency,
    peak_memory,
    run_framework_benchmark,
    set_threads,
)

__all__ = [
    "ARCHS",
    "count_parameters",
    "count_flops",
    "overhead_table",
    "single_module_overhead",
    "single_module_table",
    "PLACEMENTS",
    "backbone_overhead_table",
    "COUNTERS",
    "COUNTER_COLUMNS",
    "COUNTER_CONVENTIONS",
    "counter_versions",
    "thop_profile",
    "flop_counter_comparison",
    "se_last_stage_check",
    "FRAMEWORKS",
    "MODULE_NAMES",
    "set_threads",
    "forward_latency",
    "peak_memory",
    "run_framework_benchmark",
    "COST_MODULES",
    "COST_COLUMNS",
    "attention_cost",
    "predicted_attention_mib",
    "attention_gflops",
    "scaling_slopes",
    "crossover_side",
    "SUPERVISION_MODES",
    "SUPERVISION_BACKBONES",
    "SUPERVISION_COLUMNS",
    "supervision_cost",
    "supervision_summary",
]
