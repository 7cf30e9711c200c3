"""Shared test set-up.

Import order: in one process ``import tensorflow`` followed by ``import paddle`` crashes
(see :mod:`vision_attention._frameworks`), and so does ``import tensorflow`` followed by
``import torchvision`` (torchvision loads Triton, whose ``libtriton.so`` segfaults when
loaded after TensorFlow; ``tests/test_import_order.py`` checks the package's handling of
both). Importing ``vision_attention.paddle`` and ``torchvision`` here, before any test module
is collected, makes every later import in this pytest process safe whatever a test module
imports first.

Parity cases: the attention modules, their constructor arguments per channel count, and a
session cache of modules loaded with the same reference weights in all three frameworks
(weights depend on the module and channel count only, so shapes reuse them).
"""

from __future__ import annotations

import numpy as np
import pytest

import vision_attention.paddle  # noqa: F401  (must come before anything imports tensorflow)
import torchvision  # noqa: F401, I001  (likewise: Triton after TensorFlow segfaults)
from vision_attention.parity import FRAMEWORKS, build_module, load_weights, random_weights
from vision_attention.parity import GRAD_ATOL, OUTPUT_ATOL, RESNET_RTOL  # noqa: F401  (the contract's tolerances)

PAIRS = (("torch", "paddle"), ("torch", "tensorflow"), ("paddle", "tensorflow"))

MODULES = ("SEBlock", "ECA", "ChannelAttention", "SpatialAttention", "CBAM", "BAM", "NonLocalBlock",
           "SelfAttention2d", "MultiHeadSelfAttention2d")
CHANNELS = (16, 64, 256)
BATCHES = (1, 3)
SPATIAL = ((7, 9), (8, 8))


def module_kwargs(name: str, channels: int) -> dict:
    """Constructor arguments of ``name`` for inputs with ``channels`` channels.

    The reduction ratio is 16 (the papers' value) where ``channels // 16 >= 2`` and 8 for
    16 channels, so every bottleneck has at least two units. The non-local block runs with
    sub-sampling, so the shared cases also cover the 2x2 pooling of odd sizes (7x9 -> 3x4),
    and with ``scale=True`` (the official code's default ``USE_SCALE``): unscaled, the random
    He-initialised embeddings at 256 channels (``d = 128``) give softmax logits of standard
    deviation ~30 (up to ~90), and float32 round-off alone then puts each framework
    4e-6..7e-6 from a float64 transcription, so pairs reach 1.1e-5 > OUTPUT_ATOL; scaled,
    2.5e-6 (all measured).
    ``tests/test_nonlocal_block.py`` covers the other arguments (16 channels, scaled and not).
    Multi-head attention uses 8
    heads, 4 for 16 channels (head width 4); global attention, as 7x9 has no common window.
    """
    r = 16 if channels >= 32 else 8
    return {
        "SEBlock": {"in_channels": channels, "reduction_ratio": r},
        "ECA": {"in_channels": channels},
        "ChannelAttention": {"in_channels": channels, "reduction_ratio": r},
        "SpatialAttention": {"kernel_size": 7},
        "CBAM": {"in_channels": channels, "reduction_ratio": r, "kernel_size": 7},
        "BAM": {"in_channels": channels, "reduction_ratio": r, "dilation": 4},
        "NonLocalBlock": {
            "in_channels": channels, "mode": "embedded_gaussian", "sub_sample": True, "scale": True
        },
        "SelfAttention2d": {"in_channels": channels, "reduction_ratio": 8},
        "MultiHeadSelfAttention2d": {"in_channels": channels, "num_heads": 4 if channels == 16 else 8},
    }[name]


def seeded_input(*shape: int, seed: int = 0) -> np.ndarray:
    """Standard-normal float32 input of ``shape`` (NCHW), seeded by shape and ``seed``."""
    rng = np.random.default_rng([seed, *shape])
    return rng.standard_normal(shape).astype(np.float32)


class LoadedModules:
    """Cache: ``(name, channels) -> (weights, {framework: module with those weights})``."""

    def __init__(self):
        self._cache = {}

    def get(self, name: str, channels: int):
        key = (name, channels)
        if key not in self._cache:
            kwargs = module_kwargs(name, channels)
            weights = random_weights(name, seed=channels, **kwargs)
            modules = {}
            for fw in FRAMEWORKS:
                modules[fw] = build_module(fw, name, **kwargs)
                load_weights(modules[fw], weights)
            self._cache[key] = (weights, modules)
        return self._cache[key]


@pytest.fixture(scope="module")
def torch_single_thread():
    """Run PyTorch on one thread for the module's tests. On a busy 2-core machine PyTorch's
    two OpenMP threads contend with other processes and a ResNet-50 forward pass takes
    seconds instead of 0.2 s; one thread is fast either way. Restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def loaded_modules() -> LoadedModules:
    """Modules of every framework loaded with the same reference weights (read-only: tests
    that change weights must build their own modules)."""
    return LoadedModules()
