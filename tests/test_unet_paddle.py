"""Paddle attention gates and U-Nets: shapes, bad arguments, weight names and parity with PyTorch.

The Paddle classes mirror :mod:`vision_attention.torch.attention_gate` and
:mod:`vision_attention.torch.unet`: the same constructor arguments, the same ``ValueError``
messages (raised before any layer runs), the same canonical weight names, and, with the same
weights in eval mode, outputs and attention maps within ``OUTPUT_ATOL`` and input gradients of
the summed output within ``GRAD_ATOL`` of PyTorch's.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from conftest import GRAD_ATOL, OUTPUT_ATOL, seeded_input

import vision_attention.paddle as vp
import vision_attention.torch as vt
from vision_attention._frameworks import import_paddle
from vision_attention.parity import export_weights, load_weights

paddle = import_paddle()
import torch  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_single_thread")

# (class, constructor kwargs, input shapes (NCHW), expected output shape, expected map shapes
# in dict order)
SHAPE_CASES = [
    ("AttentionGate", {"F_g": 6, "F_l": 8, "F_int": 4}, [(2, 8, 16, 16), (2, 6, 5, 7)],
     (2, 8, 16, 16), {"attention": (2, 1, 16, 16)}),
    ("AttentionGate", {"F_g": 6, "F_l": 8, "F_int": 4}, [(1, 8, 9, 11), (1, 6, 9, 11)],
     (1, 8, 9, 11), {"attention": (1, 1, 9, 11)}),
    ("GridAttentionGate", {"in_channels": 8, "gating_channels": 6}, [(2, 8, 16, 16), (2, 6, 8, 8)],
     (2, 8, 16, 16), {"attention": (2, 1, 16, 16)}),
    ("GridAttentionGate", {"in_channels": 8, "gating_channels": 6, "inter_channels": 3, "sub_sample_factor": 3},
     [(2, 8, 17, 20), (2, 6, 4, 5)], (2, 8, 17, 20), {"attention": (2, 1, 17, 20)}),
    ("DecoderBlock", {"in_channels": 8, "out_channels": 4, "skip_channels": 6}, [(2, 8, 5, 7), (2, 6, 10, 14)],
     (2, 4, 10, 14), {}),
    ("DecoderBlockWithAttention", {"in_channels": 8, "out_channels": 4, "skip_channels": 6, "gate": "seed"},
     [(2, 8, 5, 7), (2, 6, 10, 14)], (2, 4, 10, 14), {"attention": (2, 1, 10, 14)}),
    ("DecoderBlockWithAttention", {"in_channels": 8, "out_channels": 4, "skip_channels": 6, "gate": "grid"},
     [(2, 8, 5, 7), (2, 6, 10, 14)], (2, 4, 10, 14), {"attention": (2, 1, 10, 14)}),
    ("UNet", {"in_channels": 3, "num_classes": 2, "base_channels": 4, "depth": 2}, [(2, 3, 16, 24)],
     (2, 2, 16, 24), {}),
    ("AttentionUNet", {"in_channels": 1, "num_classes": 1, "base_channels": 4, "depth": 3, "gate": "seed"},
     [(2, 1, 16, 24)], (2, 1, 16, 24),
     {"gate2": (2, 1, 4, 6), "gate1": (2, 1, 8, 12), "gate0": (2, 1, 16, 24)}),
    ("AttentionUNet", {"in_channels": 1, "num_classes": 1, "base_channels": 4, "depth": 3, "gate": "grid"},
     [(2, 1, 16, 24)], (2, 1, 16, 24),
     {"gate2": (2, 1, 4, 6), "gate1": (2, 1, 8, 12), "gate0": (2, 1, 16, 24)}),
]


def _id(case):
    name, kwargs = case[0], case[1]
    return f"{name}-{kwargs.get('gate', '')}{kwargs.get('sub_sample_factor', '')}{'x'.join(map(str, case[2][-1]))}"


def _paddle_inputs(shapes, seed=0):
    return [paddle.to_tensor(seeded_input(*s, seed=seed)) for s in shapes]


@pytest.mark.parametrize("case", SHAPE_CASES, ids=_id)
def test_output_and_attention_shapes(case):
    name, kwargs, shapes, out_shape, map_shapes = case
    paddle.seed(0)  # the default initialisation draws from Paddle's global generator
    module = getattr(vp, name)(**kwargs)
    module.eval()
    inputs = _paddle_inputs(shapes)
    y = module(*inputs)
    y2, maps = module(*inputs, return_attention=True)
    assert tuple(y.shape) == out_shape and tuple(y2.shape) == out_shape
    assert np.array_equal(y.numpy(), y2.numpy())
    assert list(maps) == list(map_shapes)  # "gate{level}" coarsest first
    for key, shape in map_shapes.items():
        alpha = maps[key].numpy()
        assert alpha.shape == shape, key
        # a sigmoid in float32: in (0, 1) mathematically, and 0 or 1 after rounding at most
        assert alpha.min() >= 0.0 and alpha.max() <= 1.0 and 0 < alpha.mean() < 1, key


def test_unet_defaults_and_attributes_mirror_torch():
    for name in ("UNet", "AttentionUNet"):
        p, t = getattr(vp, name)(), getattr(vt, name)()
        for attr in ("in_channels", "num_classes", "base_channels", "depth", "widths", "gate"):
            assert getattr(p, attr) == getattr(t, attr), (name, attr)
    assert vp.AttentionUNet().gate == "seed" and vp.UNet().gate is None
    block = vp.DecoderBlockWithAttention(8, 4, 6)
    assert block.gate_kind == "seed" and isinstance(block.att_gate, vp.AttentionGate)
    assert (block.att_gate.F_g, block.att_gate.F_l, block.att_gate.F_int) == (4, 6, 3)
    grid = vp.DecoderBlockWithAttention(8, 4, 6, gate="grid").att_gate
    assert isinstance(grid, vp.GridAttentionGate)
    assert (grid.in_channels, grid.gating_channels, grid.inter_channels, grid.sub_sample_factor) == (6, 8, 3, 2)
    assert vp.GridAttentionGate(9, 4).inter_channels == 4 and vp.GridAttentionGate(1, 4).inter_channels == 1


# ------------------------------------------------------------------------- bad arguments

CONSTRUCTOR_CASES = [
    ("AttentionGate", {"F_g": 0, "F_l": 8, "F_int": 4}, "F_g"),
    ("AttentionGate", {"F_g": 6, "F_l": 2.5, "F_int": 4}, "F_l"),
    ("AttentionGate", {"F_g": 6, "F_l": 8, "F_int": -1}, "F_int"),
    ("GridAttentionGate", {"in_channels": 0, "gating_channels": 6}, "in_channels"),
    ("GridAttentionGate", {"in_channels": 8, "gating_channels": True}, "gating_channels"),
    ("GridAttentionGate", {"in_channels": 8, "gating_channels": 6, "inter_channels": 0}, "inter_channels"),
    ("GridAttentionGate", {"in_channels": 8, "gating_channels": 6, "sub_sample_factor": 0}, "sub_sample_factor"),
    ("GridAttentionGate", {"in_channels": 8, "gating_channels": 6, "sub_sample_factor": (2, 2)},
     "sub_sample_factor"),
    ("DecoderBlock", {"in_channels": 0, "out_channels": 4, "skip_channels": 6}, "in_channels"),
    ("DecoderBlock", {"in_channels": 8, "out_channels": -4, "skip_channels": 6}, "out_channels"),
    ("DecoderBlock", {"in_channels": 8, "out_channels": 4, "skip_channels": 6.0}, "skip_channels"),
    ("DecoderBlockWithAttention", {"in_channels": 8, "out_channels": 4, "skip_channels": 6, "gate": "soft"},
     "gate"),
    ("UNet", {"in_channels": 0}, "in_channels"),
    ("UNet", {"num_classes": 0}, "num_classes"),
    ("UNet", {"base_channels": 0}, "base_channels"),
    ("UNet", {"depth": 0}, "depth"),
    ("AttentionUNet", {"depth": 2.0}, "depth"),
    ("AttentionUNet", {"gate": "additive"}, "gate"),
]


def _message(factory, *args, **kwargs):
    with pytest.raises(ValueError) as info:
        factory(*args, **kwargs)
    assert type(info.value) is ValueError
    return str(info.value)


@pytest.mark.parametrize("name, kwargs, argument", CONSTRUCTOR_CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CONSTRUCTOR_CASES])
def test_bad_constructor_arguments_name_the_argument_as_torch_does(name, kwargs, argument):
    message = _message(getattr(vp, name), **kwargs)
    assert message.startswith(f"{name}: argument '{argument}' expected "), message
    assert message.endswith(f"got {kwargs[argument]!r}"), message
    assert message == _message(getattr(vt, name), **kwargs)


GATE = {"F_g": 6, "F_l": 8, "F_int": 4}
GRID = {"in_channels": 8, "gating_channels": 6, "sub_sample_factor": 3}
DECODER = {"in_channels": 8, "out_channels": 4, "skip_channels": 6}
UNET = {"in_channels": 1, "base_channels": 4, "depth": 2}

# (class, kwargs, input shapes, offending argument, fragments the message must contain)
INPUT_CASES = [
    ("AttentionGate", GATE, [(2, 8, 16), (2, 6, 4, 4)], "x", ["expected a 4-D tensor", "got a 3-D tensor"]),
    ("AttentionGate", GATE, [(2, 7, 16, 16), (2, 6, 8, 8)], "x", ["expected 8 channels", "got 7 channels"]),
    ("AttentionGate", GATE, [(2, 8, 16, 16), (2, 8, 8, 8)], "g", ["expected 6 channels", "got 8 channels"]),
    ("AttentionGate", GATE, [(2, 8, 16, 16), (3, 6, 8, 8)], "g", ["batch size of x (2)", "got 3"]),
    ("AttentionGate", GATE, [(2, 8, 16, 16), (2, 6, 8, 17)], "g", ["no larger than x's (16 x 16)", "got 8 x 17"]),
    ("GridAttentionGate", GRID, [(2, 8, 12, 12), (2, 5, 4, 4)], "g", ["expected 6 channels", "got 5 channels"]),
    ("GridAttentionGate", GRID, [(1, 8, 12, 12), (2, 6, 4, 4)], "g", ["batch size of x (1)", "got 2"]),
    ("GridAttentionGate", GRID, [(2, 8, 12, 12), (2, 6, 13, 4)], "g", ["no larger than x's (12 x 12)", "got 13 x 4"]),
    ("GridAttentionGate", GRID, [(2, 8, 2, 12), (2, 6, 1, 4)], "x",
     ["height and width >= 3", "sub_sample_factor=3", "got H=2, W=12"]),
    ("DecoderBlock", DECODER, [(2, 7, 4, 4), (2, 6, 8, 8)], "x", ["expected 8 channels", "got 7 channels"]),
    ("DecoderBlock", DECODER, [(2, 8, 4, 4), (2, 4, 8, 8)], "skip", ["expected 6 channels", "got 4 channels"]),
    ("DecoderBlock", DECODER, [(2, 8, 4, 4), (1, 6, 8, 8)], "skip", ["batch size of x (2)", "got 1"]),
    ("DecoderBlock", DECODER, [(2, 8, 4, 4), (2, 6, 8, 9)], "skip", ["twice x's height and width (8 x 8", "got 8 x 9"]),
    ("DecoderBlockWithAttention", {**DECODER, "gate": "grid"}, [(2, 8, 4, 4), (2, 6, 7, 8)], "skip",
     ["twice x's height and width (8 x 8", "got 7 x 8"]),
    ("UNet", UNET, [(2, 3, 16, 16)], "x", ["expected 1 channels", "got 3 channels"]),
    ("UNet", UNET, [(2, 1, 16)], "x", ["expected a 4-D tensor", "got a 3-D tensor"]),
    ("UNet", UNET, [(2, 1, 18, 16)], "x", ["multiples of 2**depth = 4", "got H=18"]),
    ("AttentionUNet", {**UNET, "gate": "grid"}, [(2, 1, 16, 2)], "x", ["multiples of 2**depth = 4", "got W=2"]),
]


@contextlib.contextmanager
def _layer_calls(monkeypatch):
    """Record every ``paddle.nn.Layer.__call__`` while active (a spy on the base class)."""
    calls = []
    original = paddle.nn.Layer.__call__

    def spy(layer, *args, **kwargs):
        calls.append(layer)
        return original(layer, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(paddle.nn.Layer, "__call__", spy)
        yield calls


@pytest.mark.parametrize("name, kwargs, shapes, argument, fragments", INPUT_CASES,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(INPUT_CASES)])
def test_bad_inputs_raise_before_any_layer_runs(monkeypatch, name, kwargs, shapes, argument, fragments):
    module = getattr(vp, name)(**kwargs)
    module.eval()
    inputs = [paddle.zeros(s) for s in shapes]
    with _layer_calls(monkeypatch) as calls:
        message = _message(module, *inputs)
    assert message.startswith(f"{name}: argument '{argument}' expected "), message
    assert all(f in message for f in fragments), message
    assert [c for c in calls if c is not module] == [], "a sub-layer ran before the check"
    assert message == _message(getattr(vt, name)(**kwargs), *[torch.zeros(s) for s in shapes])


def test_layer_spy_sees_sublayers():
    """The spy of the test above records sub-layer calls (so its empty list means something)."""
    module = vp.AttentionGate(**GATE)
    module.eval()
    with pytest.MonkeyPatch.context() as monkeypatch, _layer_calls(monkeypatch) as calls:
        module(paddle.zeros((1, 8, 4, 4)), paddle.zeros((1, 6, 2, 2)))
    assert any(c is module.W_g for c in calls)


def test_return_attention_must_be_a_bool():
    x = paddle.zeros((1, 1, 8, 8))
    message = _message(vp.UNet(base_channels=2, depth=1), x, 1)
    assert message == "UNet: argument 'return_attention' expected a bool (True or False), got 1"
    block = vp.DecoderBlock(4, 2, 2)
    message = _message(block, paddle.zeros((1, 4, 2, 2)), paddle.zeros((1, 2, 4, 4)), "yes")
    assert message.startswith("DecoderBlock: argument 'return_attention' expected a bool"), message


# ------------------------------------------------------------------- weights and parity

NAME_CASES = [
    ("AttentionGate", GATE),
    ("GridAttentionGate", GRID),
    ("DecoderBlock", DECODER),
    ("DecoderBlockWithAttention", {**DECODER, "gate": "seed"}),
    ("DecoderBlockWithAttention", {**DECODER, "gate": "grid"}),
    ("UNet", {**UNET, "depth": 3}),
    ("AttentionUNet", {**UNET, "depth": 3, "gate": "seed"}),
    ("AttentionUNet", {**UNET, "depth": 3, "gate": "grid"}),
]


@pytest.mark.parametrize("name, kwargs", NAME_CASES, ids=[f"{n}-{k.get('gate', '')}" for n, k in NAME_CASES])
def test_canonical_weight_names_and_shapes_equal_torch(name, kwargs):
    exported = export_weights(getattr(vp, name)(**kwargs))
    reference = export_weights(getattr(vt, name)(**kwargs))
    assert list(exported) == list(reference)
    assert {k: v.shape for k, v in exported.items()} == {k: v.shape for k, v in reference.items()}


def _random_canonical(module, seed):
    """Seeded canonical weights with the torch module's names and shapes: He-normal conv
    weights, N(0, 0.1^2) biases and BatchNorm means, BatchNorm scales and variances in
    [0.5, 1.5] (so every BatchNorm array changes the output)."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, value in export_weights(module).items():
        suffix = key.rsplit(".", 1)[-1]
        if value.ndim == 4:
            array = rng.normal(0.0, np.sqrt(2.0 / np.prod(value.shape[1:])), value.shape)
        elif suffix in ("running_var",) or (suffix == "weight" and value.ndim == 1):
            array = rng.uniform(0.5, 1.5, value.shape)
        else:
            array = rng.normal(0.0, 0.1, value.shape)
        out[key] = array.astype(np.float32)
    return out


def _compare(name, kwargs, shapes, seed):
    t = getattr(vt, name)(**kwargs)
    p = getattr(vp, name)(**kwargs)
    weights = _random_canonical(t, seed)
    load_weights(t, weights)
    load_weights(p, weights)
    t.eval()
    p.eval()
    arrays = [seeded_input(*s, seed=seed) for s in shapes]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    pt = [paddle.to_tensor(a, stop_gradient=False) for a in arrays]
    yt, mt = t(*tt, return_attention=True)
    yp, mp = p(*pt, return_attention=True)
    gt = torch.autograd.grad(yt.sum(), tt)
    gp = paddle.grad([yp.sum()], pt)
    assert list(mp) == list(mt)
    assert np.abs(yt.detach().numpy()).max() > 0.1  # not a trivially small output
    assert np.abs(yp.numpy() - yt.detach().numpy()).max() <= OUTPUT_ATOL
    for key in mt:
        assert np.abs(mp[key].numpy() - mt[key].detach().numpy()).max() <= OUTPUT_ATOL, key
    for a, b in zip(gp, gt):
        assert np.abs(a.numpy() - b.numpy()).max() <= GRAD_ATOL
    return mt


def test_attention_gate_matches_torch_with_a_coarser_gating_signal():
    """g of 5x7 resampled to 16x16 (a non-integer ratio): the half-pixel bilinear
    conventions of the two frameworks must agree, not only at factor 2."""
    maps = _compare("AttentionGate", GATE, [(2, 8, 16, 16), (2, 6, 5, 7)], seed=3)
    assert float(maps["attention"].detach().std()) > 1e-3  # the map varies, so it is compared


def test_attention_unet_grid_matches_torch():
    maps = _compare("AttentionUNet", {**UNET, "num_classes": 2, "depth": 3, "gate": "grid"}, [(2, 1, 32, 32)],
                    seed=4)
    assert list(maps) == ["gate2", "gate1", "gate0"]
