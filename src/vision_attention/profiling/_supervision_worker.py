"""Subprocess entry point of :func:`vision_attention.profiling.supervision_cost`.

``python -m vision_attention.profiling._supervision_worker`` speaks the protocol of the workers'
shared runner (``cost._run_worker``): ``{"settings": {...}, "configs": [{"mode", "repeat"},
...]}`` as JSON on stdin, one ``VA_COST_JSON`` line per measurement on stdout, ``[cost]``
progress lines on stderr. Memory is read with the attention-cost worker's helpers (peak reset,
``malloc_trim``).
"""

from __future__ import annotations

import json
import sys
import time

from ._cost_worker import _release_memory, _reset_peak, _status_mib
from .cost import _PROGRESS_PREFIX, _RESULT_PREFIX
from .supervision import SUPERVISION_BACKBONES, SUPERVISION_MODES

NUM_CLASSES = 10
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
EXACT_MMAP_BYTES = 64 * 1024


def exact_resident_allocator() -> bool:
    """Make glibc map every allocation above 64 KiB on its own and unmap it when freed (a fixed
    ``M_MMAP_THRESHOLD``; the trim threshold at 128 KiB), so that the resident size follows the
    live memory: by default glibc's threshold adapts upwards and freed chunks stay in the heap,
    where what is resident depends on the order of earlier allocations (repeats of the same
    training step then differ by several percent). Costs page faults: a step takes longer.
    Returns whether glibc accepted it (``False`` elsewhere: the default allocator is kept)."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, EXACT_MMAP_BYTES)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, 2 * EXACT_MMAP_BYTES))
    except (OSError, AttributeError):
        return False


def last_map_backbone(backbone: str, seed: int = 0):
    """The network :func:`~vision_attention.profiling.supervision_cost` measures (a stand-in
    for the package's ``create_vision_backbone(backbone, "cbam",
    enable_attention_supervision=True)``, to be replaced by it): ``backbone``'s trunk, one CBAM
    on its last map, global average pooling; plus a linear classifier to :data:`NUM_CLASSES`.

    Returns:
        ``(model, classifier)``: ``model(x)`` maps ``(B, 3, H, W)`` float32 NCHW to features
        ``(B, C)``; ``model(x, return_intermediates=True)`` returns ``{"features": (B, C),
        "feature_maps": (B, C, H/32, W/32) after CBAM, "attention_weights": (B, 1, H/32, W/32)}``.
    """
    import torch
    from torch import nn

    from ..torch import CBAM
    from ..torch.models import attention_mobilenet_v2, attention_resnet

    torch.manual_seed(seed)
    if backbone == "resnet50":
        net = attention_resnet(50, "none")
        trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
                              net.layer4)
    elif backbone == "mobilenet_v2":
        trunk = attention_mobilenet_v2("none").features
    else:
        raise ValueError(f"last_map_backbone: argument 'backbone' expected one of "
                         f"{tuple(SUPERVISION_BACKBONES)}, got {backbone!r}")
    channels = SUPERVISION_BACKBONES[backbone]

    class LastMapBackbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = trunk
            self.attention = CBAM(channels, 16, 7)
            self.feature_dim = channels

        def forward(self, x, return_intermediates: bool = False):
            attended, weights = self.attention(self.trunk(x), return_attention=True)
            features = attended.mean(dim=(2, 3))
            if not return_intermediates:
                return features
            return {"features": features, "feature_maps": attended, "attention_weights": weights["spatial"]}

    return LastMapBackbone(), nn.Linear(channels, NUM_CLASSES)


def _inputs(settings: dict):
    import numpy as np
    import torch

    b, s = settings["batch"], settings["size"]
    rng = np.random.default_rng(settings["seed"])
    x = torch.from_numpy(rng.standard_normal((b, 3, s, s)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, NUM_CLASSES, b).astype(np.int64))
    masks = torch.zeros(b, 1, s, s)
    masks[:, :, s // 4 : 3 * s // 4, s // 4 : 3 * s // 4] = 1.0  # a centred square, a quarter
    return x, y, masks


def make_step(mode: str, model, classifier, x, y, masks, weight: float):
    """A zero-argument callable that runs ``mode`` once (see ``SUPERVISION_MODES``)."""
    import torch
    import torch.nn.functional as F

    if mode.startswith("train"):
        intermediates = mode != "train"

        def step():
            model.train()
            for p in (*model.parameters(), *classifier.parameters()):
                p.grad = None
            out = model(x, return_intermediates=intermediates)
            features = out["features"] if intermediates else out
            loss = F.cross_entropy(classifier(features), y)
            if mode == "train_supervised":
                w = out["attention_weights"]
                target = F.interpolate(masks, size=w.shape[-2:], mode="area")
                loss = loss + weight * F.binary_cross_entropy(w, target)
            loss.backward()

        return step

    intermediates = mode == "infer_intermediates"

    def step():
        for p in (*model.parameters(), *classifier.parameters()):
            p.grad = None  # what earlier training steps left is no part of inference
        model.eval()
        with torch.inference_mode():
            model(x, return_intermediates=intermediates)  # dropped at once

    return step


TENSOR_KINDS = {"Parameter": "tensor_parameters_mib", "Gradient": "tensor_gradients_mib",
                "Activation": "tensor_activations_mib", "Temp": "tensor_temporaries_mib"}


def tensor_peak(step, model, classifier, *tensors) -> dict:
    """Run ``step`` once under PyTorch's ``MemTracker`` (``torch.distributed._tools.mem_tracker``:
    a ``TorchDispatchMode`` that follows every tensor storage created or used, with weak
    references, forward and backward) and return the peak of live tensor memory, MiB:
    ``tensor_peak_mib`` (all tensors: parameters, buffers, gradients, activations, temporaries,
    the inputs) and its parts (:data:`TENSOR_KINDS`) at that moment. Exact and deterministic,
    unlike the resident size: allocator caching, fragmentation and the framework's own buffers
    do not enter. The parameters' gradients are set to ``None`` first (as every step does), so
    that what an earlier step left is not counted."""
    from torch.distributed._tools.mem_tracker import MemTracker

    for p in (*model.parameters(), *classifier.parameters()):
        p.grad = None
    tracker = MemTracker()
    tracker.track_external(model, classifier, *tensors)
    with tracker:
        step()
    (snapshot,) = tracker.get_tracker_snapshot("peak").values()  # one device, the CPU
    mib = 2.0**20
    by_kind = {getattr(k, "value", k): v / mib for k, v in snapshot.items()}
    row = {"tensor_peak_mib": by_kind["Total"]}
    row.update({column: by_kind.get(kind, 0.0) for kind, column in TENSOR_KINDS.items()})
    return row


def measure(mode: str, repeat: int, step, settings: dict, clear=None) -> dict:
    """One measurement of ``step`` in this process (the row of ``supervision_cost``'s table).
    ``clear()``, if given, runs first (the worker drops the gradients an earlier step left, so
    that every measurement starts from the same resident state)."""
    import torch

    from ..stats import latency_summary

    calls = settings["infer_calls"] if mode.startswith("infer") else 1
    if clear is not None:
        clear()
    if settings["reset_peak"]:
        _release_memory()
        _reset_peak()
    baseline = _status_mib("VmRSS") if settings["reset_peak"] else settings["_baseline_mib"]
    times, cpu = [], []
    peak = float("nan")
    for i in range(calls):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        times.append((time.perf_counter() - start) * 1e3)
        cpu.append(max(time.process_time() - cpu_start, 0.0) * 1e3)
        if i == 0:
            peak = _status_mib("VmHWM")
    return {
        "mode": mode, "phase": SUPERVISION_MODES[mode][0], "repeat": repeat, "status": "measured",
        "peak_mib": max(peak - baseline, 0.0), "baseline_mib": baseline, "peak_rss_mib": peak,
        "median_ms": latency_summary(times).median, "cpu_ms": latency_summary(cpu).median, "calls": calls,
        "threads": torch.get_num_threads(), "note": "",
        "torch_version": torch.__version__,
    }


def main() -> int:
    request = json.loads(sys.stdin.read())
    settings, configs = request["settings"], request["configs"]
    from .latency import set_threads

    set_threads("torch", int(settings["threads"]))
    allocator = "glibc default"
    if settings["exact_resident"] and exact_resident_allocator():
        allocator = f"glibc, every allocation above {EXACT_MMAP_BYTES // 1024} KiB mapped on its own"
    model, classifier = last_map_backbone(settings["backbone"], settings["seed"])
    x, y, masks = _inputs(settings)
    if not settings["reset_peak"]:  # the mark cannot be reset: count from before the warm-up
        _release_memory()
        settings["_baseline_mib"] = _status_mib("VmRSS")
    steps = {m: make_step(m, model, classifier, x, y, masks, settings["supervision_weight"])
             for m in dict.fromkeys(c["mode"] for c in configs)}
    tensors = {}
    for mode, step in steps.items():
        for _ in range(settings["warmup"]):
            step()
        if settings["tensor_memory"]:
            tensors[mode] = tensor_peak(step, model, classifier, x, y, masks)
    def clear():
        for p in (*model.parameters(), *classifier.parameters()):
            p.grad = None

    for config in configs:
        row = measure(config["mode"], config["repeat"], steps[config["mode"]], settings, clear)
        row.update(tensors.get(config["mode"], {}), allocator=allocator)
        print(f"{_PROGRESS_PREFIX} {row['mode']} #{row['repeat']}: peak +{row['peak_mib']:.1f} MiB "
              f"(process {row['peak_rss_mib']:.0f} MiB), {row['median_ms']:.0f} ms", file=sys.stderr, flush=True)
        print(_RESULT_PREFIX + json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
