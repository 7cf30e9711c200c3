"""The non-local block (Wang et al., CVPR 2018) in all three frameworks.

* every ``mode`` x ``sub_sample`` x ``scale``: outputs, attention weights and input gradients
  agree across PyTorch, Paddle and TensorFlow within the parity contract's tolerances, with the
  same canonical weights (random BatchNorm gamma included, so the zero initialisation hides
  nothing);
* a float64 numpy transcription of the paper's equations (written here, not taken from the
  modules) gives the same output and attention weights;
* a fresh block (untouched initial weights) is the identity, with and without BatchNorm.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import GRAD_ATOL, OUTPUT_ATOL, PAIRS, seeded_input

from vision_attention.parity import (
    FRAMEWORKS,
    build_module,
    difference_table,
    load_weights,
    random_weights,
    run_module,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")

MODES = ("embedded_gaussian", "dot_product", "gaussian", "concatenation")
CHANNELS = 16
SHAPES = ((2, CHANNELS, 6, 7), (2, CHANNELS, 5, 5))
GRID = list(itertools.product(MODES, (False, True), (False, True)))


def _grid_id(case):
    mode, sub_sample, scale = case
    return f"{mode}-{'sub' if sub_sample else 'full'}-{'scaled' if scale else 'unscaled'}"


def _kwargs(mode, sub_sample, scale):
    return {"in_channels": CHANNELS, "mode": mode, "sub_sample": sub_sample, "scale": scale}


@pytest.fixture(scope="module")
def loaded():
    """``(mode, sub_sample, scale) -> (weights, {framework: module})``, built on first use."""
    cache = {}

    def get(mode, sub_sample, scale):
        key = (mode, sub_sample, scale)
        if key not in cache:
            kwargs = _kwargs(*key)
            weights = random_weights("NonLocalBlock", seed=7, **kwargs)
            modules = {}
            for fw in FRAMEWORKS:
                modules[fw] = build_module(fw, "NonLocalBlock", **kwargs)
                load_weights(modules[fw], weights)
            cache[key] = (weights, modules)
        return cache[key]

    return get


@pytest.mark.parametrize("case", GRID, ids=_grid_id)
def test_every_mode_agrees_across_frameworks(loaded, case):
    mode, sub_sample, scale = case
    weights, modules = loaded(*case)
    assert (mode == "gaussian") == ("theta.weight" not in weights)
    assert (mode == "concatenation") == ("concat_project.weight" in weights)
    assert np.abs(weights["bn.weight"]).min() > 0.05  # random gamma: the BatchNorm branch is live
    for shape in SHAPES:
        x = seeded_input(*shape, seed=3)
        b, _, h, w = shape
        n_keys = (h // 2) * (w // 2) if sub_sample else h * w
        results = {fw: run_module(fw, modules[fw], x, grad=True) for fw in FRAMEWORKS}
        for fw, (outputs, grad) in results.items():
            a = outputs["attention_weights"]
            assert set(outputs) == {"output", "attention_weights"}, fw
            assert a.shape == (b, 1, h * w, n_keys) and a.dtype == np.float32, (fw, a.shape)
            assert outputs["output"].shape == x.shape and np.isfinite(outputs["output"]).all(), fw
            assert np.abs(grad).max() > 1e-3, fw
            # the block's own branch contributes (it is not the identity with these weights)
            assert np.abs(outputs["output"] - x).max() > 1e-2, fw
            if mode in ("embedded_gaussian", "gaussian"):
                np.testing.assert_allclose(a.sum(axis=-1), 1.0, atol=1e-5)
            if mode == "concatenation":
                assert (a >= 0).all(), fw
        table = difference_table(results)
        assert list(table["pair"]) == [f"{p}-{q}" for p, q in PAIRS]
        report = f"NonLocalBlock{_kwargs(*case)} input {shape}\n{table!r}"
        assert (table["output_max_abs"] <= OUTPUT_ATOL).all(), report
        assert (table["attention_max_abs"] <= OUTPUT_ATOL).all(), report
        assert (table["grad_max_abs"] <= GRAD_ATOL).all(), report
        assert table["passed"].all(), report


# ------------------------------------------------------------------ numpy reference (the paper)


def _conv1x1(weights, name, x):
    """1x1 convolution of an NCHW array: ``out[b, o, h, w] = sum_c W[o, c] x[b, c, h, w] + bias[o]``."""
    kernel = weights[f"{name}.weight"].astype(np.float64)[:, :, 0, 0]
    out = np.einsum("oc,bchw->bohw", kernel, x)
    if f"{name}.bias" in weights:
        out = out + weights[f"{name}.bias"].astype(np.float64)[None, :, None, None]
    return out


def _maxpool2x2(x):
    b, c, h, w = x.shape
    x = x[:, :, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(b, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _positions(x):
    """``(B, c, h, w)`` -> ``(B, h*w, c)``: one row per position, row-major ``n = h * W + w``."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h * w).transpose(0, 2, 1)


def _paper_reference(weights, x, mode, sub_sample, scale):
    """Eq. (1)-(6) of Wang et al. in float64: ``y_i = sum_j f(x_i, x_j) g(x_j) / C(x)``,
    ``z = BN(W_z y) + x``; returns ``(z, A)`` with ``A[b, i, j] = f(x_i, x_j) / C(x)``."""
    x = x.astype(np.float64)
    pool = _maxpool2x2 if sub_sample else (lambda t: t)
    gx = _positions(pool(_conv1x1(weights, "g", x)))  # (B, Nk, d)
    if mode == "gaussian":
        q, k = _positions(x), _positions(pool(x))
    else:
        q, k = _positions(_conv1x1(weights, "theta", x)), _positions(pool(_conv1x1(weights, "phi", x)))
    s = 1.0 / np.sqrt(q.shape[-1]) if scale else 1.0
    n_keys = k.shape[1]
    if mode == "concatenation":
        w_f = weights["concat_project.weight"].astype(np.float64)[0, :, 0, 0]
        pairs = np.concatenate(  # [theta(x_i); phi(x_j)] for every (i, j): (B, N, Nk, 2d)
            [np.broadcast_to(q[:, :, None, :], q.shape[:2] + (n_keys, q.shape[2])),
             np.broadcast_to(k[:, None, :, :], (k.shape[0], q.shape[1]) + k.shape[1:])], axis=-1)
        a = s * np.maximum(pairs @ w_f, 0.0) / n_keys  # Eq. (5), C(x) = N
    else:
        logits = s * np.einsum("bid,bjd->bij", q, k)
        if mode == "dot_product":
            a = logits / n_keys  # Eq. (4), C(x) = N
        else:  # Eq. (2)/(3): f = exp(.), C(x) = sum_j f
            e = np.exp(logits - logits.max(axis=-1, keepdims=True))
            a = e / e.sum(axis=-1, keepdims=True)
    b, _, h, w = x.shape
    y = (a @ gx).transpose(0, 2, 1).reshape(b, -1, h, w)
    wy = _conv1x1(weights, "W", y)
    bn = {key: weights[f"bn.{key}"].astype(np.float64)[None, :, None, None]
          for key in ("weight", "bias", "running_mean", "running_var")}
    wy = (wy - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-5) * bn["weight"] + bn["bias"]
    return wy + x, a[:, None]


@pytest.mark.parametrize(
    "case",
    [("embedded_gaussian", True, True), ("embedded_gaussian", False, False),
     ("dot_product", True, False), ("gaussian", True, True), ("concatenation", False, True)],
    ids=_grid_id,
)
def test_matches_a_numpy_transcription_of_the_paper(loaded, case):
    weights, modules = loaded(*case)
    x = seeded_input(2, CHANNELS, 6, 7, seed=5)
    z_ref, a_ref = _paper_reference(weights, x, *case)
    for fw in FRAMEWORKS:
        outputs, _ = run_module(fw, modules[fw], x, grad=False)
        np.testing.assert_allclose(outputs["output"], z_ref, rtol=0, atol=OUTPUT_ATOL, err_msg=fw)
        np.testing.assert_allclose(outputs["attention_weights"], a_ref, rtol=0, atol=OUTPUT_ATOL, err_msg=fw)


# ------------------------------------------------------------------ identity at initialisation


@pytest.mark.parametrize("bn_layer", (True, False), ids=("bn", "no-bn"))
@pytest.mark.parametrize("mode", ("embedded_gaussian", "concatenation"))
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_fresh_block_is_the_identity(framework, mode, bn_layer):
    module = build_module(framework, "NonLocalBlock", in_channels=CHANNELS, mode=mode, sub_sample=True,
                          bn_layer=bn_layer)
    x = seeded_input(2, CHANNELS, 6, 7, seed=11)
    outputs, grad = run_module(framework, module, x, grad=True)
    np.testing.assert_allclose(outputs["output"], x, rtol=0, atol=1e-7)
    np.testing.assert_allclose(grad, 1.0, rtol=0, atol=1e-7)  # dz/dx = I: the branch is silent
    assert hasattr(module, "bn") == bn_layer  # sub-layers exist only when used


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_gaussian_mode_has_no_embeddings(framework):
    module = build_module(framework, "NonLocalBlock", in_channels=8, mode="gaussian")
    assert not any(hasattr(module, name) for name in ("theta", "phi", "concat_project"))
    assert module.inter_channels == 4  # default C // 2
    assert build_module(framework, "NonLocalBlock", in_channels=1).inter_channels == 1  # at least 1


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_without_sub_sampling_a_1x1_map_is_accepted(framework):
    module = build_module(framework, "NonLocalBlock", in_channels=4, mode="gaussian")
    outputs, _ = run_module(framework, module, seeded_input(1, 4, 1, 1), grad=False)
    assert outputs["attention_weights"].shape == (1, 1, 1, 1)
    np.testing.assert_allclose(outputs["attention_weights"], 1.0, atol=1e-6)
