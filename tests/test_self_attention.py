"""Self-attention modules (SAGAN's ``SelfAttention2d``, ``MultiHeadSelfAttention2d``): windowed
parity across frameworks, an independent numpy reference, fused vs explicit attention, the
identity at initialisation, permutation equivariance, and the ``parameter`` leaf kind."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import GRAD_ATOL, OUTPUT_ATOL, PAIRS, seeded_input

from vision_attention._frameworks import import_paddle
from vision_attention.parity import (
    FRAMEWORKS,
    build_module,
    difference_table,
    export_weights,
    load_weights,
    random_weights,
    run_module,
)

paddle = import_paddle()
import torch  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_single_thread")

MHSA = "MultiHeadSelfAttention2d"


def _loaded(name, seed=0, **kwargs):
    weights = random_weights(name, seed=seed, **kwargs)
    modules = {}
    for fw in FRAMEWORKS:
        modules[fw] = build_module(fw, name, **kwargs)
        load_weights(modules[fw], weights)
    return weights, modules


# ------------------------------------------------------------------ windowed parity

WINDOW_CASES = [  # (input NCHW, window_size)
    ((2, 16, 8, 8), 2),
    ((2, 16, 8, 8), 4),
    ((1, 16, 6, 9), 3),
]


@pytest.mark.parametrize("shape, window", WINDOW_CASES, ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else f"w{v}")
def test_windowed_attention_agrees_across_frameworks(shape, window):
    kwargs = {"in_channels": 16, "num_heads": 4, "window_size": window}
    _, modules = _loaded(MHSA, seed=3, **kwargs)
    x = seeded_input(*shape)
    results = {fw: run_module(fw, modules[fw], x, grad=True) for fw in FRAMEWORKS}
    b, _, h, w = shape
    windows = (h // window) * (w // window)
    for fw, (outputs, grad) in results.items():
        assert outputs["output"].shape == x.shape and grad.shape == x.shape, fw
        attn = outputs["attention_weights"]
        assert attn.shape == (b * windows, 4, window * window, window * window), fw
        assert attn.dtype == np.float32 and np.allclose(attn.sum(-1), 1.0, atol=1e-5), fw
        assert np.abs(grad).max() > 1e-3, fw
    table = difference_table(results)
    assert list(table["pair"]) == [f"{a}-{b}" for a, b in PAIRS]
    report = f"{kwargs} input {shape}\n{table!r}"
    assert (table["output_max_abs"] <= OUTPUT_ATOL).all(), report
    assert (table["attention_max_abs"] <= OUTPUT_ATOL).all(), report
    assert (table["grad_max_abs"] <= GRAD_ATOL).all(), report


def test_one_window_covering_the_map_is_global_attention():
    weights = random_weights(MHSA, seed=5, in_channels=16, num_heads=4)
    x = seeded_input(2, 16, 6, 6)
    for fw in FRAMEWORKS:
        outputs = {}
        for window in (None, 6):
            module = build_module(fw, MHSA, in_channels=16, num_heads=4, window_size=window)
            load_weights(module, weights)
            outputs[window] = run_module(fw, module, x, grad=False)[0]
        np.testing.assert_allclose(outputs[6]["output"], outputs[None]["output"], atol=1e-6, err_msg=fw)
        np.testing.assert_allclose(outputs[6]["attention_weights"], outputs[None]["attention_weights"], atol=1e-7)


# ------------------------------------------------------------------ numpy reference


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _reference_mhsa(x, weights, heads, window):
    """MHSA from the equations, float64, written position by position rather than by the
    modules' reshapes: tokens t_n = x[:, :, n // W, n % W]; [q; k; v] = W_qkv t + b with
    q = rows 0..C-1, k = rows C..2C-1, v = rows 2C..3C-1, head h = d rows from h*d;
    O_h = softmax(Q_h K_h^T / sqrt(d)) V_h over the tokens of one window; y = W_p [O_1..] + b_p."""
    x = x.astype(np.float64)
    b, c, hh, ww = x.shape
    d = c // heads
    w_qkv, b_qkv = weights["qkv.weight"].astype(np.float64), weights["qkv.bias"].astype(np.float64)
    w_p, b_p = weights["proj.weight"].astype(np.float64), weights["proj.bias"].astype(np.float64)
    s = window or max(hh, ww)
    groups = []  # lists of (row, col) positions, one per window, windows row-major
    for r0 in range(0, hh, s if window else hh):
        for c0 in range(0, ww, s if window else ww):
            rows = range(r0, r0 + s) if window else range(hh)
            cols = range(c0, c0 + s) if window else range(ww)
            groups.append([(r, q) for r in rows for q in cols])
    y = np.zeros_like(x)
    maps = []
    for i in range(b):
        for positions in groups:
            t = np.stack([x[i, :, r, q] for r, q in positions])  # (N, C)
            qkv = t @ w_qkv.T + b_qkv  # (N, 3C)
            head_out, head_maps = [], []
            for h in range(heads):
                q_h = qkv[:, h * d:(h + 1) * d]
                k_h = qkv[:, c + h * d:c + (h + 1) * d]
                v_h = qkv[:, 2 * c + h * d:2 * c + (h + 1) * d]
                a = _softmax(q_h @ k_h.T / np.sqrt(d))
                head_maps.append(a)
                head_out.append(a @ v_h)
            out = np.concatenate(head_out, axis=1) @ w_p.T + b_p  # (N, C)
            for n, (r, q) in enumerate(positions):
                y[i, :, r, q] = out[n]
            maps.append(np.stack(head_maps))
    return y, np.stack(maps)


@pytest.mark.parametrize("window", [None, 3], ids=["global", "window3"])
def test_mhsa_matches_an_independent_numpy_reference(window):
    kwargs = {"in_channels": 16, "num_heads": 4, "window_size": window}
    weights, modules = _loaded(MHSA, seed=7, **kwargs)
    x = seeded_input(2, 16, 6, 9, seed=1)
    y_ref, a_ref = _reference_mhsa(x, weights, heads=4, window=window)
    for fw in FRAMEWORKS:
        outputs, _ = run_module(fw, modules[fw], x, grad=False)
        np.testing.assert_allclose(outputs["output"], y_ref, atol=OUTPUT_ATOL, rtol=0, err_msg=fw)
        np.testing.assert_allclose(outputs["attention_weights"], a_ref, atol=OUTPUT_ATOL, rtol=0, err_msg=fw)


# ------------------------------------------------------------------ fused vs explicit


@pytest.mark.parametrize("framework", ["torch", "paddle"])
@pytest.mark.parametrize("window", [None, 2], ids=["global", "window2"])
def test_fused_attention_agrees_with_the_explicit_form(framework, window):
    """``return_attention=False`` takes the fused ``scaled_dot_product_attention`` path,
    ``True`` the explicit softmax; outputs and input gradients agree within 1e-6 relative to
    their largest magnitude (a few float32 ulps: the two paths round in different orders;
    measured: torch 1.5e-6 on outputs of magnitude 4.3 (3.6e-7 relative), 7.6e-6 on
    gradients of magnitude 29 (2.6e-7); Paddle's CPU kernel is bit-identical to the explicit form)."""
    weights = random_weights(MHSA, seed=11, in_channels=32, num_heads=4, window_size=window)
    module = build_module(framework, MHSA, in_channels=32, num_heads=4, window_size=window)
    load_weights(module, weights)
    module.eval()
    x = seeded_input(2, 32, 8, 8, seed=2)
    results = {}
    for explicit in (False, True):
        if framework == "torch":
            t = torch.from_numpy(x).requires_grad_(True)
            y = module(t, return_attention=True)[0] if explicit else module(t)
            (g,) = torch.autograd.grad(y.sum(), t)
            results[explicit] = (y.detach().numpy(), g.numpy())
        else:
            t = paddle.to_tensor(x, stop_gradient=False)
            y = module(t, return_attention=True)[0] if explicit else module(t)
            (g,) = paddle.grad([y.sum()], [t])
            results[explicit] = (y.numpy(), g.numpy())
    for i, what in enumerate(("output", "input gradient")):
        fused, explicit = results[False][i], results[True][i]
        rel = np.abs(fused - explicit).max() / np.abs(explicit).max()
        assert rel <= 1e-6, f"{framework} {what}: max |fused - explicit| / max |explicit| = {rel:.2e}"


# ------------------------------------------------------------------ SAGAN at initialisation


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_self_attention_is_the_identity_at_initialisation(framework):
    module = build_module(framework, "SelfAttention2d", in_channels=16)  # framework's own init
    weights = export_weights(module)
    assert weights["gamma"].shape == (1,) and weights["gamma"][0] == 0.0
    x = seeded_input(2, 16, 5, 7)
    outputs, grad = run_module(framework, module, x, grad=True)
    np.testing.assert_array_equal(outputs["output"], x)
    np.testing.assert_array_equal(grad, np.ones_like(x))
    attn = outputs["attention_weights"]
    assert attn.shape == (2, 1, 35, 35) and np.allclose(attn.sum(-1), 1.0, atol=1e-5)


def test_random_weights_switch_the_self_attention_branch_on():
    weights = random_weights("SelfAttention2d", seed=0, in_channels=16)
    assert weights["gamma"].shape == (1,) and 0.1 <= weights["gamma"][0] <= 0.3
    _, modules = _loaded("SelfAttention2d", seed=0, in_channels=16)
    x = seeded_input(1, 16, 4, 4)
    for fw in FRAMEWORKS:
        y = run_module(fw, modules[fw], x, grad=False)[0]["output"]
        assert np.abs(y - x).max() > 0.05, fw


# ------------------------------------------------------------------ permutation equivariance


@pytest.mark.parametrize("name, kwargs", [(MHSA, {"in_channels": 16, "num_heads": 4}),
                                          ("SelfAttention2d", {"in_channels": 16})], ids=[MHSA, "SelfAttention2d"])
def test_global_self_attention_is_permutation_equivariant(name, kwargs):
    """Without a position encoding, shuffling the positions of the input shuffles the output
    (and the rows and columns of the attention matrix) by the same permutation."""
    _, modules = _loaded(name, seed=13, **kwargs)
    b, c, h, w = 2, 16, 5, 6
    x = seeded_input(b, c, h, w, seed=3)
    perm = np.random.default_rng(0).permutation(h * w)

    def shuffle(a):
        return a.reshape(b, c, h * w)[:, :, perm].reshape(b, c, h, w)

    for fw in FRAMEWORKS:
        plain = run_module(fw, modules[fw], x, grad=False)[0]
        shuffled = run_module(fw, modules[fw], shuffle(x), grad=False)[0]
        np.testing.assert_allclose(shuffled["output"], shuffle(plain["output"]), atol=1e-5, rtol=0, err_msg=fw)
        a = plain["attention_weights"]
        np.testing.assert_allclose(shuffled["attention_weights"], a[:, :, perm][:, :, :, perm], atol=1e-6, rtol=0)


def test_windowed_attention_is_not_equivariant_to_moves_across_windows():
    """Control: with windows, moving positions between windows changes the result."""
    _, modules = _loaded(MHSA, seed=13, in_channels=16, num_heads=4, window_size=2)
    x = seeded_input(1, 16, 4, 4, seed=4)
    perm = np.random.default_rng(1).permutation(16)
    shuffle = lambda a: a.reshape(1, 16, 16)[:, :, perm].reshape(1, 16, 4, 4)  # noqa: E731
    y = run_module("torch", modules["torch"], x, grad=False)[0]["output"]
    y_shuffled = run_module("torch", modules["torch"], shuffle(x), grad=False)[0]["output"]
    assert np.abs(y_shuffled - shuffle(y)).max() > 1e-2


# ------------------------------------------------------------------ the "parameter" leaf kind


def test_a_modules_own_parameters_above_rank_one_are_refused():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(1))
            self.table = torch.nn.Parameter(torch.ones(2, 3))

    with pytest.raises(NotImplementedError, match=r"'table'.*only 0-D and 1-D"):
        export_weights(Net())

    class Ok(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)
            self.scale = torch.nn.Parameter(torch.full((2,), 3.0))

    assert list(export_weights(Ok())) == ["scale", "fc.weight", "fc.bias"]  # root first, as state_dict()
