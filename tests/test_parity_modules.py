"""Every attention module gives the same output, attention maps and input gradient in
PyTorch, Paddle and TensorFlow when loaded with the same canonical weights.

Tolerances (float32), from the parity contract (defined in :mod:`vision_attention.parity`):
output (and attention maps) max |diff| <= 1e-5; gradient of the summed output with respect to
the input max |diff| <= 1e-4; every framework pair. Shapes: batch 1 and 3, spatial 7x9 (odd,
non-square) and 8x8, channels 16, 64 and 256. Inputs are standard normal; weights come from
:func:`vision_attention.parity.random_weights` (random BatchNorm statistics included).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    BATCHES,
    CHANNELS,
    GRAD_ATOL,
    MODULES,
    OUTPUT_ATOL,
    PAIRS,
    SPATIAL,
    module_kwargs,
    seeded_input,
)

from vision_attention.parity import FRAMEWORKS, batchnorm_config, difference_table, run_module

pytestmark = pytest.mark.usefixtures("torch_single_thread")

EXPECTED_ATTENTION = {
    "SEBlock": {"channel"},
    "ECA": {"channel"},
    "ChannelAttention": {"channel"},
    "SpatialAttention": {"spatial"},
    "CBAM": {"channel", "spatial"},
    "BAM": {"channel", "spatial", "attention"},
    "NonLocalBlock": {"attention_weights"},
    "SelfAttention2d": {"attention_weights"},
    "MultiHeadSelfAttention2d": {"attention_weights"},
}


@pytest.mark.parametrize("spatial", SPATIAL, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: f"B{b}")
@pytest.mark.parametrize("channels", CHANNELS, ids=lambda c: f"C{c}")
@pytest.mark.parametrize("name", MODULES)
def test_outputs_and_input_gradients_agree_across_frameworks(loaded_modules, name, channels, batch, spatial):
    _, modules = loaded_modules.get(name, channels)
    x = seeded_input(batch, channels, *spatial)
    results = {fw: run_module(fw, modules[fw], x, grad=True) for fw in FRAMEWORKS}

    for fw, (outputs, grad) in results.items():
        assert set(outputs) == {"output"} | EXPECTED_ATTENTION[name], fw
        assert outputs["output"].shape == x.shape and grad.shape == x.shape, fw
        for key, value in outputs.items():
            assert value.dtype == np.float32 and np.isfinite(value).all(), (fw, key)
        # A vanishing gradient would make the gradient comparison vacuous.
        assert np.isfinite(grad).all() and np.abs(grad).max() > 1e-3, fw

    table = difference_table(results)  # raises if keys or shapes differ between frameworks
    assert list(table["pair"]) == [f"{a}-{b}" for a, b in PAIRS]
    report = f"{name}{module_kwargs(name, channels)} input {x.shape}\n{table!r}"
    assert (table["output_max_abs"] <= OUTPUT_ATOL).all(), report
    assert (table["attention_max_abs"] <= OUTPUT_ATOL).all(), report
    assert (table["grad_max_abs"] <= GRAD_ATOL).all(), report
    assert table["passed"].all() and (table["tol_kind"] == "abs").all(), report  # the table's own verdict agrees


@pytest.mark.parametrize("name", MODULES)
def test_attention_maps_have_the_documented_nchw_shapes(loaded_modules, name):
    _, modules = loaded_modules.get(name, 16)
    x = seeded_input(2, 16, 7, 9)
    b, c, h, w = x.shape
    n_keys = (h // 2) * (w // 2) if module_kwargs(name, 16).get("sub_sample") else h * w
    heads = getattr(modules["torch"], "num_heads", 1)
    expected = {"channel": (b, c, 1, 1), "spatial": (b, 1, h, w), "attention": (b, c, h, w),
                "attention_weights": (b, heads, h * w, n_keys)}  # layout-free: the same in every framework
    for fw in FRAMEWORKS:
        outputs, grad = run_module(fw, modules[fw], x, grad=False)
        assert grad is None
        for key in EXPECTED_ATTENTION[name]:
            assert outputs[key].shape == expected[key], (fw, key)


@pytest.mark.parametrize("name", MODULES)
def test_batchnorm_eps_and_momentum_agree_across_frameworks(loaded_modules, name):
    _, modules = loaded_modules.get(name, 64)
    configs = {fw: batchnorm_config(modules[fw]) for fw in FRAMEWORKS}
    reference = configs["torch"]
    for fw, config in configs.items():
        assert config.keys() == reference.keys(), fw
        for layer, values in config.items():
            assert values["eps"] == pytest.approx(1e-5, rel=1e-6), (fw, layer)
            assert values["momentum"] == pytest.approx(reference[layer]["momentum"], abs=1e-7), (fw, layer)
