"""The parity contract for the multi-scale fusion modules and the quality head (IQA chapter):
outputs, the stage weights, the gradients of every stage map, every parameter gradient and the
weights after one SGD step agree in PyTorch, PaddlePaddle and TensorFlow
(vision_attention.parity.compare_frameworks, which holds each pair to OUTPUT_ATOL / GRAD_ATOL).

The training step runs with ``dropout=0.0``: each framework draws its own dropout mask (from its
own generator), so with dropout the training-mode outputs and gradients differ by design, not
by a fault. Dropout is compared in inference, where it is the identity (``dropout=0.1``, the
default, in the eval-only case below).
"""

import numpy as np
import pytest

from vision_attention.parity import FRAMEWORKS, build_module, compare_frameworks, load_weights, random_weights, \
    run_module

RNG = np.random.default_rng(10)


def _maps(*shapes):
    return tuple(RNG.standard_normal(s).astype(np.float32) for s in shapes)


# in_channels (4, 6, 8), pool_size 2: non-square stages pooled by 4x6 and 2x3 windows, the last
# already 2x2 (passed through)
STAGES = _maps((2, 4, 8, 12), (2, 6, 4, 6), (2, 8, 2, 2))
POOLED = _maps((3, 4, 1, 1), (3, 6, 1, 1), (3, 8, 1, 1))   # already pool_size=1: nothing is pooled
SMALL = {"in_channels": (4, 6, 8), "pool_size": 2}

CASES = {
    "attention": ("MultiScaleAttention", STAGES, {**SMALL, "hidden": 5, "dropout": 0.0}),
    "attention, pool_size 1, pooled maps": ("MultiScaleAttention", POOLED,
                                            {"in_channels": (4, 6, 8), "hidden": 5, "dropout": 0.0,
                                             "pool_size": 1}),
    "concat": ("MultiScaleConcat", STAGES, SMALL),
    "single": ("SingleScale", STAGES, SMALL),
    "quality head": ("QualityHead", RNG.standard_normal((2, 6, 4, 6)).astype(np.float32),
                     {"in_channels": 6, "hidden": 5}),
    "IQA, attention": ("MultiScaleIQA", STAGES, {**SMALL, "fusion": "attention", "hidden": 5, "dropout": 0.0,
                                                 "head_channels": 3}),
    "IQA, concat": ("MultiScaleIQA", STAGES, {**SMALL, "fusion": "concat", "head_channels": 3}),
    "IQA, single": ("MultiScaleIQA", STAGES, {**SMALL, "fusion": "single", "head_channels": 3}),
}
ATTENTION = {"attention", "attention, pool_size 1, pooled maps", "IQA, attention"}


@pytest.mark.parametrize("case", list(CASES))
def test_three_frameworks_agree_in_inference_and_training(case):
    name, inputs, kwargs = CASES[case]
    table = compare_frameworks(name, inputs, seed=4, **kwargs)
    assert list(table["pair"]) == ["torch-paddle", "torch-tensorflow", "paddle-tensorflow"]
    # every column the contract bounds was computed: outputs, gradients, the training step
    assert table[["output_max_abs", "grad_max_abs", "param_grad_max_abs", "step_max_abs"]].notna().all().all()
    if case in ATTENTION:  # "scale_weights" (B, S) was compared
        assert np.isfinite(table["attention_max_abs"]).all(), table.to_string()
    else:
        assert table["attention_max_abs"].isna().all(), table.to_string()
    assert table["passed"].all(), table.to_string()


def test_dropout_is_the_identity_in_inference():
    """``dropout=0.1`` (the default): in inference every framework gives the same output twice
    and the three agree; no training step (its masks would differ, see the module docstring)."""
    kwargs = {**SMALL, "fusion": "attention", "hidden": 16, "dropout": 0.1, "head_channels": 3}
    table = compare_frameworks("MultiScaleIQA", STAGES, seed=5, training=False, **kwargs)
    assert table["param_grad_max_abs"].isna().all() and np.isfinite(table["attention_max_abs"]).all()
    assert table["passed"].all(), table.to_string()
    weights = random_weights("MultiScaleIQA", seed=5, **kwargs)
    for fw in FRAMEWORKS:
        module = build_module(fw, "MultiScaleIQA", **kwargs)
        load_weights(module, weights)
        first, _ = run_module(fw, module, STAGES, grad=False)
        second, _ = run_module(fw, module, STAGES, grad=False)
        assert first.keys() == second.keys() == {"output", "scale_weights"}
        assert all(np.array_equal(first[k], second[k]) for k in first), fw


def test_single_scale_gradients_reach_the_last_stage_only():
    """SingleScale ignores the finer stages: the parity layer reports their gradient as zeros
    (not an error) in every framework, and the last stage, already 2x2, passes through
    (``d sum(y) / d f = 1``)."""
    for fw in FRAMEWORKS:
        module = build_module(fw, "SingleScale", **SMALL)
        outputs, grads = run_module(fw, module, STAGES)
        np.testing.assert_array_equal(outputs["output"], STAGES[2])
        assert [g.shape for g in grads] == [s.shape for s in STAGES], fw
        assert not grads[0].any() and not grads[1].any() and np.all(grads[2] == 1.0), fw
