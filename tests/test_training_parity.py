"""Training parity: every module's parameter gradients and one SGD step agree across PyTorch,
Paddle and TensorFlow, BatchNorm in training mode included.

Tolerances (float32) from the parity contract: parameter gradients max |diff| <= GRAD_ATOL
(1e-4), every canonical array after the step (weights and BatchNorm running statistics)
max |diff| <= OUTPUT_ATOL (1e-5). The loss is 0.5 * mean((y - t)^2) against a seeded random
target; the optimizer is each framework's own plain SGD with lr = 0.1.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import GRAD_ATOL, MODULES, OUTPUT_ATOL, PAIRS, module_kwargs, seeded_input

from vision_attention.parity import (
    FRAMEWORKS,
    batchnorm_config,
    build_module,
    compare_frameworks,
    difference_table,
    export_weights,
    load_weights,
    random_weights,
    run_module,
    train_step,
)
from vision_attention.parity.layouts import RUNNING_VAR_ESTIMATOR, running_var_to_canonical

pytestmark = pytest.mark.usefixtures("torch_single_thread")

RUNNING = ("running_mean", "running_var")

# The shared module cases, plus windowed multi-head attention (7x9 has no common window).
CASES = [(name, channels, module_kwargs(name, channels)) for name in MODULES for channels in (16, 64)]
CASES.append(("MultiHeadSelfAttention2d", 16, {"in_channels": 16, "num_heads": 4, "window_size": 4}))


def _ids(case):
    name, channels, kwargs = case
    return f"{name}-C{channels}" + ("-windowed" if kwargs.get("window_size") else "")


def _steps(name, kwargs, x, seed):
    weights = random_weights(name, seed=seed, **kwargs)
    target = seeded_input(*x.shape, seed=seed + 1)
    steps = {}
    for fw in FRAMEWORKS:
        module = build_module(fw, name, **kwargs)
        load_weights(module, weights)
        steps[fw] = train_step(fw, module, x, target)
    return weights, steps


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_parameter_gradients_and_one_sgd_step_agree_across_frameworks(case):
    name, channels, kwargs = case
    x = seeded_input(3, channels, 8, 8) if kwargs.get("window_size") else seeded_input(3, channels, 7, 9)
    weights, steps = _steps(name, kwargs, x, seed=channels)
    reference = steps["torch"]
    trainable = {k for k in weights if k.rsplit(".", 1)[-1] not in RUNNING}
    for fw, step in steps.items():
        # Every trainable array has a gradient, in its canonical shape, and it is not vacuous.
        assert set(step.param_grads) == trainable, fw
        for k, g in step.param_grads.items():
            assert g.shape == weights[k].shape and np.isfinite(g).all(), (fw, k)
        assert max(np.abs(g).max() for g in step.param_grads.values()) > 1e-3, fw
        assert step.weights_after.keys() == weights.keys(), fw
    # The step moves the weights by far more than the tolerance, so agreeing after it means something.
    moved = max(np.abs(reference.weights_after[k] - weights[k]).max() for k in trainable)
    assert moved > 10 * OUTPUT_ATOL, moved
    for a, b in PAIRS:
        for k in trainable:
            diff = np.abs(steps[a].param_grads[k] - steps[b].param_grads[k]).max()
            assert diff <= GRAD_ATOL, (a, b, k, diff)
        for k in weights:
            diff = np.abs(steps[a].weights_after[k] - steps[b].weights_after[k]).max()
            assert diff <= OUTPUT_ATOL, (a, b, k, diff)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_step_is_plain_sgd_in_every_framework(framework):
    """After the step, w = w_before - lr * dL/dw exactly as a numpy step computes it (no
    momentum, no weight decay hidden in an optimizer default), for every trainable array."""
    name, kwargs = "CBAM", module_kwargs("CBAM", 16)
    weights = random_weights(name, seed=3, **kwargs)
    module = build_module(framework, name, **kwargs)
    load_weights(module, weights)
    x = seeded_input(2, 16, 6, 5)
    step = train_step(framework, module, x, seeded_input(2, 16, 6, 5, seed=9), lr=0.5)
    for k, g in step.param_grads.items():
        expected = weights[k].astype(np.float64) - 0.5 * g.astype(np.float64)
        np.testing.assert_allclose(step.weights_after[k], expected, rtol=0, atol=1e-6, err_msg=k)
    # The module is left in eval mode with the stepped weights: the exported weights are the
    # step's, except running_var, which the step reports in PyTorch's convention.
    exported = export_weights(module)
    for k, v in exported.items():
        if not k.endswith("running_var") or RUNNING_VAR_ESTIMATOR[framework] == "unbiased":
            np.testing.assert_array_equal(v, step.weights_after[k], err_msg=k)
    out_eval, _ = run_module(framework, module, x, grad=False)
    out_again, _ = run_module(framework, module, x, grad=False)
    np.testing.assert_array_equal(out_eval["output"], out_again["output"])  # eval mode: no more updates


def test_batchnorm_running_variance_conventions_are_as_declared():
    """PyTorch updates running_var with the unbiased batch variance, Paddle and Keras with the
    biased one: measured on BAM (BatchNorm1d over the batch and BatchNorm2d over B*H*W). The raw
    values differ by far more than the tolerance; rewritten canonically they agree."""
    x = seeded_input(3, 16, 7, 9)
    kwargs = module_kwargs("BAM", 16)
    weights, steps = _steps("BAM", kwargs, x, seed=5)
    names = sorted(steps["paddle"].raw_running_var)
    assert names and all(n.endswith("running_var") for n in names)
    assert steps["torch"].counts["channel_gate.bn"] == 3  # BatchNorm1d: one value per sample
    assert steps["torch"].counts["spatial_gate.reduce_bn"] == 3 * 7 * 9
    for fw in ("paddle", "tensorflow"):
        assert steps[fw].counts == steps["torch"].counts, fw
        raw_gap = max(np.abs(steps[fw].raw_running_var[n] - steps["torch"].weights_after[n]).max() for n in names)
        assert raw_gap > 100 * OUTPUT_ATOL, (fw, raw_gap)
        fixed_gap = max(np.abs(steps[fw].weights_after[n] - steps["torch"].weights_after[n]).max() for n in names)
        assert fixed_gap <= OUTPUT_ATOL, (fw, fixed_gap)
    assert steps["torch"].raw_running_var.keys() == set(names)  # reported, unchanged, for torch too
    for n in names:
        np.testing.assert_array_equal(steps["torch"].raw_running_var[n], steps["torch"].weights_after[n])


def test_running_var_to_canonical_matches_the_unbiased_update_computed_directly():
    rng = np.random.default_rng(0)
    batch = rng.normal(2.0, 3.0, size=(5, 4, 6))  # (n values, C channels, ...) -> per channel below
    values = batch.transpose(1, 0, 2).reshape(4, -1)
    n = values.shape[1]
    old, m = rng.uniform(0.5, 1.5, 4), 0.1
    biased_new = (1 - m) * old + m * values.var(axis=1)
    unbiased_new = (1 - m) * old + m * values.var(axis=1, ddof=1)
    for fw in ("paddle", "tensorflow"):
        np.testing.assert_allclose(running_var_to_canonical(fw, biased_new, old, m, n), unbiased_new, rtol=1e-12)
    np.testing.assert_array_equal(running_var_to_canonical("torch", unbiased_new, old, m, n), unbiased_new)


def test_a_different_batchnorm_momentum_in_one_framework_fails_the_step_comparison():
    """The step comparison can fail: Paddle's BatchNorm given momentum 0.5 (PyTorch 0.5 instead
    of 0.01) gives the same gradients but other running statistics after the step."""
    kwargs = module_kwargs("CBAM", 16)
    x = seeded_input(3, 16, 7, 9)
    weights = random_weights("CBAM", seed=1, **kwargs)
    target = seeded_input(3, 16, 7, 9, seed=2)
    results = {}
    for fw in ("torch", "paddle"):
        module = build_module(fw, "CBAM", **kwargs)
        load_weights(module, weights)
        if fw == "paddle":
            module.spatial_attention.bn._momentum = 0.5
            assert batchnorm_config(module)["spatial_attention.bn"]["momentum"] == pytest.approx(0.5)
        outputs, grad = run_module(fw, module, x)
        results[fw] = (outputs, grad, train_step(fw, module, x, target))
    table = difference_table(results)
    assert table["param_grad_max_abs"].iloc[0] <= GRAD_ATOL
    assert table["step_max_abs"].iloc[0] > OUTPUT_ATOL
    assert not table["passed"].iloc[0]


def test_compare_frameworks_reports_training_columns_and_judges_them():
    table = compare_frameworks("SEBlock", seeded_input(2, 16, 5, 5), in_channels=16, reduction_ratio=8)
    assert table["param_grad_max_abs"].notna().all() and table["step_max_abs"].notna().all()
    assert (table["param_grad_max_abs"] <= GRAD_ATOL).all() and (table["step_max_abs"] <= OUTPUT_ATOL).all()
    assert table["passed"].all()
    inference = compare_frameworks("SEBlock", seeded_input(2, 16, 5, 5), training=False, in_channels=16,
                                   reduction_ratio=8)
    assert inference["param_grad_max_abs"].isna().all() and inference["passed"].all()
    text = repr(table)
    assert "param. grad |Δ|" in text and "SGD step |Δ|" in text


def test_training_argument_errors():
    x = seeded_input(2, 16, 5, 5)
    module = build_module("torch", "SEBlock", in_channels=16, reduction_ratio=8)
    target = seeded_input(2, 16, 5, 5, seed=1)
    with pytest.raises(ValueError, match="argument 'framework' expected 'torch'"):
        train_step("paddle", module, x, target)
    with pytest.raises(ValueError, match="argument 'x_nchw' expected a 4-D"):
        train_step("torch", module, x[0], target)
    with pytest.raises(ValueError, match="argument 'target_nchw' expected a 4-D"):
        train_step("torch", module, x, target[0])
    with pytest.raises(ValueError, match="argument 'lr' expected a positive number"):
        train_step("torch", module, x, target, lr=0.0)
    for fw in ("torch", "tensorflow"):  # the message speaks NCHW in every framework
        cbam = build_module(fw, "CBAM", in_channels=16, reduction_ratio=8)
        before = export_weights(cbam)
        with pytest.raises(ValueError, match=r"argument 'target_nchw' expected the output's shape \(2, 16, 5, 5\)"):
            train_step(fw, cbam, x, seeded_input(2, 16, 5, 4))
        after = export_weights(cbam)  # the forward's BatchNorm update was undone
        assert all(np.array_equal(before[k], after[k]) for k in before), fw
    with pytest.raises(ValueError, match="argument 'count' expected an integer >= 2, got 1"):
        running_var_to_canonical("paddle", np.ones(2), np.ones(2), 0.1, 1)
    with pytest.raises(ValueError, match="argument 'momentum' expected a value in"):
        running_var_to_canonical("paddle", np.ones(2), np.ones(2), 1.5, 8)
    with pytest.raises(ValueError, match="argument 'training' expected False or None for 'attention_resnet'"):
        compare_frameworks("attention_resnet", np.zeros((1, 3, 32, 32)), training=True, depth=18)
    with pytest.raises(ValueError, match=r"argument 'training' expected False or None for a batch of one"):
        compare_frameworks("SEBlock", x[:1], training=True, in_channels=16, reduction_ratio=8)
    one = compare_frameworks("SEBlock", x[:1], in_channels=16, reduction_ratio=8)  # None: inference only
    assert one["step_max_abs"].isna().all() and one["passed"].all()
    outputs, grad = run_module("torch", module, x)
    with pytest.raises(ValueError, match=r"training results for \['torch'\] but not for \['paddle'\]"):
        difference_table({"torch": (outputs, grad, train_step("torch", module, x, target)),
                          "paddle": (outputs, grad)})
