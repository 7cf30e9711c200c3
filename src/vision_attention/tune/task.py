"""The search task: a small CBAM-ResNet on real digits pasted onto real textures (PyTorch).

The practice chapter searches the practical guide's hyperparameters (CBAM's reduction ratio
``r``, the module's position in the residual unit, the spatial kernel ``k``) on a task that
trains in about two seconds per trial on one CPU thread. The search trains in one framework
only: the network is built from the package's parity-tested ``BasicBlock`` and ``CBAM``
(:mod:`vision_attention.torch.models.resnet`), whose three-framework agreement the parity
tests prove; a search does not need three frameworks to be meaningful.

Data: :func:`vision_attention.data.pasted_digits` at 32 x 32 pixels, the training split's
source digits for training and the held-out source digits for validation (no digit image is
in both). Network (:class:`SearchNet`): a strided 3x3 stem (32 channels, 16 x 16), two
``BasicBlock`` units with stride 2 (32 and 64 channels, 8 x 8 and 4 x 4), global average
pooling, a linear classifier. Every unit holds one CBAM (``attention=True``) at ``position``.

Training (:func:`train_trial`): AdamW, cross-entropy, fixed batches drawn with a seeded
generator, one thread; deterministic for a given seed. After every epoch the BatchNorm
statistics are recalibrated on a fixed subset of the training images ("precise BN": with
only a few hundred steps, the running averages lag far behind the weights and an
evaluation with them is meaningless), then the validation accuracy is measured.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .._checks import _is_int, check_bool, check_choice, check_odd_kernel_size, check_positive_int
from ..architectures import POSITIONS

__all__ = [
    "EPOCHS", "LEARNING_RATE", "N_TRAIN", "N_VALIDATION", "IMAGE_SIZE", "BATCH_SIZE", "INITS",
    "DATA_OPTIONS", "TrialResult", "SearchNet", "load_task_data", "train_trial", "check_config",
]

IMAGE_SIZE = 32
"""Side of the task's images, pixels."""
N_TRAIN = 600
"""Training images (from the training split's source digits)."""
N_VALIDATION = 400
"""Validation images (from the held-out source digits)."""
BATCH_SIZE = 50
EPOCHS = 6
LEARNING_RATE = 3e-3
"""AdamW's learning rate for the search (chosen on the standard placement, r = 16, k = 7)."""
N_RECALIBRATION = 200
"""Training images used to recalibrate the BatchNorm statistics before each evaluation."""
DATA_OPTIONS = {"digit_scale": (0.6, 0.9), "background_contrast": (0.1, 0.3)}
"""Options of :func:`~vision_attention.data.pasted_digits` for this task: digits larger and
backgrounds flatter than that function's defaults, so that a network this small learns the
task in a few epochs."""
INITS = ("default", "xavier")
ATTENTION_TYPES = ("cbam", "se", "eca")
"""``attention_type`` of :func:`train_trial`: the module in every unit (CBAM is the search task's)."""
"""``init`` of :func:`train_trial`: PyTorch's default initialisation of the attention modules'
layers, or Xavier (Glorot) uniform with zero biases."""


@functools.lru_cache(maxsize=4)
def load_task_data(n_train: int = N_TRAIN, n_validation: int = N_VALIDATION, seed: int = 0):
    """The task's images as float32 tensors: ``(x_train, y_train, x_val, y_val)``.

    ``x`` are ``(N, 3, 32, 32)`` (NCHW, values in [0, 1]), ``y`` int64 class indices (0-9).
    Cached per arguments (building 1,200 images takes about a second).
    """
    import torch

    from .. import data

    def tensors(n, split, data_seed):
        d = data.pasted_digits(n, size=IMAGE_SIZE, seed=data_seed, split=split, **DATA_OPTIONS)
        x = torch.from_numpy(np.ascontiguousarray(d["images"].transpose(0, 3, 1, 2), dtype=np.float32))
        return x, torch.from_numpy(d["labels"].astype(np.int64))

    return (*tensors(n_train, "train", seed), *tensors(n_validation, "test", seed + 1))


def check_config(owner: str, config) -> dict:
    """Return ``config`` as ``{"reduction_ratio", "position", "kernel_size"}``, or raise ValueError."""
    if not isinstance(config, dict) or set(config) != {"reduction_ratio", "position", "kernel_size"}:
        raise ValueError(f"{owner}: argument 'config' expected a dict with the keys 'reduction_ratio', "
                         f"'position' and 'kernel_size', got {config!r}")
    check_choice(owner, "config['position']", config["position"], POSITIONS)
    r = check_positive_int(owner, "config['reduction_ratio']", config["reduction_ratio"])
    if r > 32:
        raise ValueError(f"{owner}: argument 'config['reduction_ratio']' expected at most 32 (the "
                         f"narrowest unit's channels), got {r}")
    check_odd_kernel_size(owner, config["kernel_size"], "config['kernel_size']")
    return dict(config)


@functools.lru_cache(maxsize=1)
def _search_net_class():
    import torch
    from torch import nn

    from ..torch.models.resnet import BasicBlock, conv1x1

    class SearchNet(nn.Module):
        """The search task's network; see the module docstring. Input ``(B, 3, 32, 32)``
        float32 (NCHW), output logits ``(B, 10)``."""

        def __init__(self, reduction_ratio: int = 16, position: str = "standard", kernel_size: int = 7,
                     attention: bool = True, dropout: float = 0.0, widths=(32, 64),
                     attention_type: str = "cbam"):
            super().__init__()
            kind = attention_type if attention else "none"
            self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
            units, channels = [], widths[0]
            for width in widths:
                shortcut = nn.Sequential(conv1x1(channels, width, 2), nn.BatchNorm2d(width))
                unit = BasicBlock(channels, width, 2, shortcut, kind, position if attention else "standard",
                                  reduction_ratio, kernel_size)
                if attention and dropout > 0:
                    # the guide's "dropout after the attention layer"
                    unit.attention = nn.Sequential(unit.attention, nn.Dropout(dropout))
                units.append(unit)
                channels = width
            self.units = nn.Sequential(*units)
            self.fc = nn.Linear(channels, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.units(self.stem(x)).mean(dim=(2, 3)))

    return SearchNet


def __getattr__(name):  # SearchNet needs torch: built on first access
    if name == "SearchNet":
        return _search_net_class()
    raise AttributeError(name)


@dataclass
class TrialResult:
    """What :func:`train_trial` returns.

    ``accuracy``: validation accuracy after the last epoch (fraction); ``curve``: validation
    accuracy after each epoch; ``train_loss``: loss of every step; ``train_accuracy``: accuracy
    on the training images after the last epoch; ``seconds``: wall time (a timing);
    ``monitor``: the :class:`~vision_attention.monitor.AttentionMonitor` table when
    ``monitor_every`` was given, else ``None``; ``model``: the trained network (eval mode,
    BatchNorm statistics recalibrated), for :func:`~vision_attention.monitor.ablate`.
    """

    config: dict
    seed: int
    accuracy: float
    curve: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_accuracy: float = math.nan
    seconds: float = math.nan
    monitor: object = None
    model: object = field(default=None, repr=False)


def _recalibrate_and_score(model, x_train, x_val, y_val) -> float:
    import torch
    from torch import nn

    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the recalibration batch
    model.train()
    with torch.no_grad():
        model(x_train[:N_RECALIBRATION])
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
        model.eval()
        accuracy = float((model(x_val).argmax(1) == y_val).float().mean())
    model.train()
    return accuracy


def train_trial(config: dict, seed: int = 0, *, epochs: int = EPOCHS, lr: float = LEARNING_RATE,
                batch_size: int = BATCH_SIZE, n_train: int = N_TRAIN, grad_clip: float | None = None,
                label_smoothing: float = 0.0, init: str = "default", dropout: float = 0.0,
                attention: bool = True, report=None, monitor_every: int | None = None,
                threads: int | None = 1, attention_type: str = "cbam") -> TrialResult:
    """Train the search network with ``config`` once; return its :class:`TrialResult`.

    Args:
        config: ``{"reduction_ratio": r, "position": p, "kernel_size": k}`` (``position`` one
            of :data:`~vision_attention.architectures.POSITIONS`; ``r`` at most 32, the
            narrowest unit's channels; ``k`` odd).
        seed: seeds the initial weights, the batch order and dropout.
        epochs, lr, batch_size, n_train: training length, AdamW learning rate, batch size and
            number of training images (at most 1,600).
        grad_clip: clip the gradients' global L2 norm to this value (``None``: no clipping).
        label_smoothing: cross-entropy label smoothing in [0, 1) (Szegedy et al., 2016).
        init: ``"default"`` or ``"xavier"`` (:data:`INITS`) for the attention modules' layers.
        dropout: dropout probability after every attention module (0: none).
        attention: ``False`` trains the same network without CBAM (``config``'s position must
            then be ``"standard"``; ``r`` and ``k`` are unused).
        report: ``callable(epoch, accuracy)`` called after every epoch (an Optuna trial's
            pruning hook may raise ``optuna.TrialPruned`` from it).
        monitor_every: record the attention statistics every this many steps with
            :class:`~vision_attention.monitor.AttentionMonitor` (needs ``attention=True``).
        threads: PyTorch CPU threads during the trial (restored afterwards); ``None`` keeps them.
        attention_type: the module of every unit when ``attention`` is true: ``"cbam"`` (the
            search task's), ``"se"`` or ``"eca"`` (the deployment chapter trains all three);
            ``r`` applies to CBAM and SE, ``k`` to CBAM only.

    Raises:
        ValueError: a bad argument (named in the message), before any training.
    """
    owner = "train_trial"
    config = check_config(owner, config)
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"{owner}: argument 'seed' expected a non-negative integer, got {seed!r}")
    epochs = check_positive_int(owner, "epochs", epochs)
    batch_size = check_positive_int(owner, "batch_size", batch_size)
    n_train = check_positive_int(owner, "n_train", n_train)
    if n_train > 1600:
        raise ValueError(f"{owner}: argument 'n_train' expected at most 1600, got {n_train}")
    for name, value, low, high in (("lr", lr, 0.0, math.inf), ("label_smoothing", label_smoothing, 0.0, 1.0),
                                   ("dropout", dropout, 0.0, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                (low < value if name == "lr" else low <= value) and value < high):
            raise ValueError(f"{owner}: argument '{name}' expected a number in "
                             f"{'(' if name == 'lr' else '['}{low:g}, {high:g}), got {value!r}")
    if grad_clip is not None and (isinstance(grad_clip, bool) or not isinstance(grad_clip, (int, float))
                                  or grad_clip <= 0):
        raise ValueError(f"{owner}: argument 'grad_clip' expected None or a positive number, got {grad_clip!r}")
    check_choice(owner, "init", init, INITS)
    check_bool(owner, "attention", attention)
    check_choice(owner, "attention_type", attention_type, ATTENTION_TYPES)
    if not attention and (config["position"] != "standard" or monitor_every is not None or dropout):
        raise ValueError(f"{owner}: argument 'attention'=False leaves no module to place, monitor or "
                         f"follow with dropout; got position={config['position']!r}, "
                         f"monitor_every={monitor_every!r}, dropout={dropout!r}")
    if monitor_every is not None:
        check_positive_int(owner, "monitor_every", monitor_every)
    if report is not None and not callable(report):
        raise ValueError(f"{owner}: argument 'report' expected a callable or None, got {report!r}")

    import torch
    from torch import nn

    from ..monitor import AttentionMonitor

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_positive_int(owner, "threads", threads))
    try:
        x_train, y_train, x_val, y_val = load_task_data()  # cached: not part of the trial's time
        start = time.perf_counter()
        x_train, y_train = x_train[:n_train], y_train[:n_train]
        torch.manual_seed(seed)
        model = _search_net_class()(config["reduction_ratio"], config["position"], config["kernel_size"],
                                    attention, dropout, attention_type=attention_type)
        if init == "xavier":
            for unit in model.units:
                for m in unit.attention.modules() if unit.attention is not None else ():
                    if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Linear)):
                        nn.init.xavier_uniform_(m.weight)
                        if m.bias is not None:
                            nn.init.zeros_(m.bias)
        optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(seed)
        monitor = AttentionMonitor(model, every=monitor_every).attach() if monitor_every else None
        result = TrialResult(config, seed, math.nan)
        step = 0
        try:
            for epoch in range(epochs):
                order = torch.randperm(n_train, generator=generator)
                for i in range(0, n_train, batch_size):
                    batch = order[i:i + batch_size]
                    if monitor is not None:
                        monitor.step(step)
                    loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch],
                                                       label_smoothing=label_smoothing)
                    optimiser.zero_grad()
                    loss.backward()
                    if grad_clip is not None:
                        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                    optimiser.step()
                    result.train_loss.append(loss.item())
                    step += 1
                if monitor is not None:
                    monitor.detach()  # the evaluation passes are not training steps
                result.curve.append(_recalibrate_and_score(model, x_train, x_val, y_val))
                if monitor is not None and epoch < epochs - 1:
                    monitor.attach()
                if report is not None:
                    report(epoch, result.curve[-1])
        finally:
            if monitor is not None:
                monitor.detach()
                result.monitor = monitor.table()
        model.eval()
        with torch.no_grad():
            result.train_accuracy = float((model(x_train).argmax(1) == y_train).float().mean())
        result.accuracy = result.curve[-1]
        result.model = model
        result.seconds = time.perf_counter() - start
        return result
    finally:
        torch.set_num_threads(previous_threads)
