"""The TensorFlow (Keras 3, NHWC) attention gates and U-Nets: shapes, errors, names, parity with PyTorch.

The PyTorch modules (``vision_attention.torch.attention_gate`` / ``unet``) are the reference:
the TensorFlow ones must expose the same canonical weight names (PyTorch ``state_dict`` names)
and, loaded with the same weights, compute the same outputs and attention maps. Reference
weights are PyTorch's initialisation with randomised BatchNorm statistics and affine
parameters, so that inference-mode BatchNorm is not the identity.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import GRAD_ATOL, OUTPUT_ATOL, seeded_input

import vision_attention.torch as vt  # noqa: I001  (before vision_attention.tensorflow)
import vision_attention.tensorflow as vtf
from vision_attention._frameworks import import_tensorflow
from vision_attention.parity import batchnorm_config, export_weights, load_weights

tf = import_tensorflow()


def nhwc(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(a, (0, 2, 3, 1)))


def nchw(a) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(np.asarray(a), (0, 3, 1, 2)))


def zeros(*shape: int):
    return tf.zeros(shape, tf.float32)


def reference(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``module`` with BatchNorm statistics and affine parameters drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(0.5 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.3 * torch.randn(c, generator=gen))
    return module


def torch_run(module, inputs, train=False):
    """Output, attention maps and input gradients of ``sum(output)`` (NCHW numpy)."""
    module.train(train)
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    y, maps = module(*ts, return_attention=True)
    y.sum().backward()
    module.eval()
    return y.detach().numpy(), {k: v.detach().numpy() for k, v in maps.items()}, [t.grad.numpy() for t in ts]


def tf_run(module, inputs, train=False):
    """As :func:`torch_run` for a Keras module fed the NHWC transposes; results back in NCHW."""
    ts = [tf.convert_to_tensor(nhwc(a)) for a in inputs]
    with tf.GradientTape() as tape:
        for t in ts:
            tape.watch(t)
        y, maps = module(*ts, return_attention=True, training=train)
        total = tf.reduce_sum(y)
    grads = tape.gradient(total, ts)
    return nchw(y), {k: nchw(v) for k, v in maps.items()}, [nchw(g) for g in grads]


# --- shapes and attention dicts ----------------------------------------------------------------

def test_gate_shapes_and_maps():
    x, g = tf.random.normal((2, 16, 16, 4)), tf.random.normal((2, 5, 7, 6))
    for gate in (vtf.AttentionGate(6, 4, 3), vtf.GridAttentionGate(4, 6), vtf.GridAttentionGate(4, 6, 2, 3)):
        y = gate(x, g)
        y2, maps = gate(x, g, return_attention=True)
        assert tuple(y.shape) == (2, 16, 16, 4) and tuple(y2.shape) == (2, 16, 16, 4)
        assert list(maps) == ["attention"]
        alpha = maps["attention"].numpy()
        assert alpha.shape == (2, 16, 16, 1)
        # a sigmoid in float32: in (0, 1) mathematically, and 0 or 1 after rounding at most
        assert alpha.min() >= 0.0 and alpha.max() <= 1.0 and 0 < alpha.mean() < 1
    # A factor that does not divide the size: theta's grid is floor(17 / 3), the map is x's size.
    _, maps = vtf.GridAttentionGate(4, 6, sub_sample_factor=3)(zeros(1, 17, 10, 4), zeros(1, 5, 3, 6),
                                                               return_attention=True)
    assert tuple(maps["attention"].shape) == (1, 17, 10, 1)


@pytest.mark.parametrize("gate", [None, "seed", "grid"])
def test_decoder_block_shapes(gate):
    block = vtf.DecoderBlock(8, 4, 6) if gate is None else vtf.DecoderBlockWithAttention(8, 4, 6, gate)
    y, maps = block(zeros(2, 5, 7, 8), zeros(2, 10, 14, 6), return_attention=True)
    assert tuple(y.shape) == (2, 10, 14, 4)
    assert tuple(block(zeros(2, 5, 7, 8), zeros(2, 10, 14, 6)).shape) == (2, 10, 14, 4)
    if gate is None:
        assert maps == {}
    else:
        assert list(maps) == ["attention"] and tuple(maps["attention"].shape) == (2, 10, 14, 1)
        assert block.gate_kind == gate


@pytest.mark.parametrize("gate", [None, "seed", "grid"])
def test_unet_shapes_and_gate_keys(gate):
    kwargs = dict(in_channels=3, num_classes=2, base_channels=4, depth=3)
    net = vtf.UNet(**kwargs) if gate is None else vtf.AttentionUNet(gate=gate, **kwargs)
    x = zeros(2, 16, 24, 3)
    logits, maps = net(x, return_attention=True)
    assert tuple(logits.shape) == (2, 16, 24, 2)
    assert tuple(net(x).shape) == (2, 16, 24, 2)
    assert net.widths == (4, 8, 16, 32) and net.depth == 3 and net.gate == gate
    if gate is None:
        assert maps == {}
    else:
        assert list(maps) == ["gate2", "gate1", "gate0"]  # coarsest first
        for level in (2, 1, 0):
            assert tuple(maps[f"gate{level}"].shape) == (2, 16 // 2**level, 24 // 2**level, 1)


# --- bad arguments and inputs: ValueError naming the argument, before any computation ----------

CONSTRUCTOR_ERRORS = [
    (lambda: vtf.AttentionGate(0, 4, 2), "AttentionGate", "F_g"),
    (lambda: vtf.AttentionGate(4, 2.0, 2), "AttentionGate", "F_l"),
    (lambda: vtf.AttentionGate(4, 4, -1), "AttentionGate", "F_int"),
    (lambda: vtf.GridAttentionGate(0, 4), "GridAttentionGate", "in_channels"),
    (lambda: vtf.GridAttentionGate(4, None), "GridAttentionGate", "gating_channels"),
    (lambda: vtf.GridAttentionGate(4, 4, 0), "GridAttentionGate", "inter_channels"),
    (lambda: vtf.GridAttentionGate(4, 4, sub_sample_factor=(2, 2)), "GridAttentionGate", "sub_sample_factor"),
    (lambda: vtf.DecoderBlock(0, 4, 4), "DecoderBlock", "in_channels"),
    (lambda: vtf.DecoderBlock(8, 0, 4), "DecoderBlock", "out_channels"),
    (lambda: vtf.DecoderBlock(8, 4, True), "DecoderBlock", "skip_channels"),
    (lambda: vtf.DecoderBlockWithAttention(8, 4, 4, gate="additive"), "DecoderBlockWithAttention", "gate"),
    (lambda: vtf.UNet(in_channels=0), "UNet", "in_channels"),
    (lambda: vtf.UNet(num_classes=0), "UNet", "num_classes"),
    (lambda: vtf.UNet(base_channels=0), "UNet", "base_channels"),
    (lambda: vtf.UNet(depth=0), "UNet", "depth"),
    (lambda: vtf.AttentionUNet(base_channels=4, depth=2, gate="Seed"), "AttentionUNet", "gate"),
]


@pytest.mark.parametrize("build, owner, argument", CONSTRUCTOR_ERRORS)
def test_constructor_errors_name_the_argument(build, owner, argument):
    with pytest.raises(ValueError, match=rf"^{owner}: argument '{argument}' expected"):
        build()


_GATE = vtf.AttentionGate(6, 4, 3)
_GRID = vtf.GridAttentionGate(4, 6, sub_sample_factor=3)
_DECODER = vtf.DecoderBlockWithAttention(8, 4, 6, "grid")
_UNET = vtf.AttentionUNet(in_channels=1, base_channels=4, depth=2)

INPUT_ERRORS = [
    # gates: x (B, H, W, F_l) and g (B, h, w, F_g)
    (lambda: _GATE(zeros(2, 8, 8, 5), zeros(2, 4, 4, 6)), "AttentionGate", "x", r"4 channels.*\(B, H, W, C\)"),
    (lambda: _GATE(zeros(2, 8, 8, 4), zeros(2, 4, 4, 4)), "AttentionGate", "g", r"6 channels"),
    (lambda: _GATE(zeros(2, 4, 8, 8), zeros(2, 4, 4, 6)), "AttentionGate", "x", r"4 channels"),  # NCHW given
    (lambda: _GATE(zeros(8, 8, 4), zeros(2, 4, 4, 6)), "AttentionGate", "x", r"4-D tensor \(B, H, W, C\) \(NHWC\)"),
    (lambda: _GATE(zeros(2, 8, 8, 4), zeros(3, 4, 4, 6)), "AttentionGate", "g", r"batch size of x \(2\), got 3"),
    (lambda: _GATE(zeros(2, 8, 8, 4), zeros(2, 9, 4, 6)), "AttentionGate", "g", r"no larger than x's \(8 x 8\)"),
    (lambda: _GATE(zeros(2, 8, 8, 4), zeros(2, 8, 16, 6)), "AttentionGate", "g", r"no larger than x's"),
    (lambda: _GRID(zeros(2, 8, 8, 5), zeros(2, 4, 4, 6)), "GridAttentionGate", "x", r"4 channels"),
    (lambda: _GRID(zeros(2, 8, 8, 4), zeros(2, 4, 4, 5)), "GridAttentionGate", "g", r"6 channels"),
    (lambda: _GRID(zeros(1, 8, 8, 4), zeros(2, 4, 4, 6)), "GridAttentionGate", "g", r"batch size of x \(1\)"),
    (lambda: _GRID(zeros(2, 8, 8, 4), zeros(2, 4, 9, 6)), "GridAttentionGate", "g", r"no larger than x's"),
    (lambda: _GRID(zeros(2, 2, 8, 4), zeros(2, 2, 2, 6)), "GridAttentionGate", "x",
     r"height and width >= 3 \(theta's kernel and stride sub_sample_factor=3\), got H=2, W=8"),
    # decoder block: x (B, h, w, in_channels), skip (B, 2h, 2w, skip_channels)
    (lambda: _DECODER(zeros(2, 4, 4, 6), zeros(2, 8, 8, 6)), "DecoderBlockWithAttention", "x", r"8 channels"),
    (lambda: _DECODER(zeros(2, 4, 4, 8), zeros(2, 8, 8, 4)), "DecoderBlockWithAttention", "skip", r"6 channels"),
    (lambda: _DECODER(zeros(2, 4, 4, 8), zeros(1, 8, 8, 6)), "DecoderBlockWithAttention", "skip",
     r"batch size of x \(2\), got 1"),
    (lambda: _DECODER(zeros(2, 4, 4, 8), zeros(2, 8, 9, 6)), "DecoderBlockWithAttention", "skip",
     r"twice x's height and width \(8 x 8"),
    (lambda: _DECODER(zeros(2, 4, 4, 8), zeros(2, 8, 8, 6), return_attention="yes"),
     "DecoderBlockWithAttention", "return_attention", r"a bool"),
    # U-Net: x (B, H, W, in_channels), H and W multiples of 2**depth
    (lambda: _UNET(zeros(1, 16, 16, 3)), "AttentionUNet", "x", r"1 channels"),
    (lambda: _UNET(zeros(1, 1, 16, 16)), "AttentionUNet", "x", r"1 channels"),  # NCHW given
    (lambda: _UNET(zeros(16, 16, 1)), "AttentionUNet", "x", r"4-D tensor"),
    (lambda: _UNET(zeros(1, 18, 16, 1)), "AttentionUNet", "x", r"multiples of 2\*\*depth = 4 .* got H=18 in"),
    (lambda: _UNET(zeros(1, 16, 2, 1)), "AttentionUNet", "x", r"got W=2 in"),
    (lambda: _UNET(zeros(1, 16, 16, 1), return_attention=1), "AttentionUNet", "return_attention", r"a bool"),
]


@pytest.mark.parametrize("call, owner, argument, detail", INPUT_ERRORS)
def test_input_errors_name_the_argument(call, owner, argument, detail):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{owner}: argument '{argument}' expected"), message
    assert re.search(detail, message), message
    assert "\x1b[" not in message  # raised before Keras' call machinery could rewrite it


# --- canonical names: those of the PyTorch state_dict -------------------------------------------

NAMED = [
    ("AttentionGate", (6, 4, 3), {}),
    ("GridAttentionGate", (4, 6), {}),
    ("GridAttentionGate", (4, 6, 3, 3), {}),
    ("DecoderBlock", (8, 4, 6), {}),
    ("DecoderBlockWithAttention", (8, 4, 6, "seed"), {}),
    ("DecoderBlockWithAttention", (8, 4, 6, "grid"), {}),
    ("UNet", (), dict(in_channels=3, num_classes=2, base_channels=4, depth=3)),
    ("AttentionUNet", (), dict(in_channels=3, num_classes=2, base_channels=4, depth=3, gate="seed")),
    ("AttentionUNet", (), dict(in_channels=3, num_classes=2, base_channels=4, depth=3, gate="grid")),
]


@pytest.mark.parametrize("name, args, kwargs", NAMED)
def test_canonical_names_are_the_torch_state_dict(name, args, kwargs):
    tm = getattr(vt, name)(*args, **kwargs)
    km = getattr(vtf, name)(*args, **kwargs)  # every weight exists after the constructor
    expected = {k: tuple(v.shape) for k, v in tm.state_dict().items() if not k.endswith("num_batches_tracked")}
    got = {k: v.shape for k, v in export_weights(km).items()}
    assert got == expected
    bn_tf, bn_torch = batchnorm_config(km), batchnorm_config(tm)
    assert bn_tf.keys() == bn_torch.keys()
    for layer, config in bn_torch.items():
        assert bn_tf[layer] == pytest.approx(config), layer


def test_names_of_the_nested_sequences():
    names = set(export_weights(vtf.AttentionUNet(base_channels=4, depth=2, gate="seed")))
    for name in ("encoders.0.0.weight", "encoders.1.3.bias", "encoders.2.4.running_var", "head.weight",
                 "decoders.0.up.weight", "decoders.1.conv.4.running_mean",
                 "decoders.0.att_gate.W_g.0.weight", "decoders.1.att_gate.W_x.1.bias",
                 "decoders.1.att_gate.psi.1.running_var"):
        assert name in names, name
    grid = set(export_weights(vtf.GridAttentionGate(4, 6)))
    assert grid == {"W.0.weight", "W.0.bias", "W.1.weight", "W.1.bias", "W.1.running_mean",
                    "W.1.running_var", "theta.weight", "phi.weight", "phi.bias", "psi.weight", "psi.bias"}


# --- numerical parity with PyTorch ---------------------------------------------------------------

def _loaded_pair(name, args, kwargs, seed, input_shapes):
    torch.manual_seed(seed)
    tm = reference(getattr(vt, name)(*args, **kwargs), seed)
    km = getattr(vtf, name)(*args, **kwargs)
    load_weights(km, export_weights(tm))
    inputs = [seeded_input(*shape, seed=seed) for shape in input_shapes]
    return tm, km, inputs


def _assert_parity(a, b, grad=True):
    assert list(a[1]) == list(b[1])
    assert np.abs(a[0] - b[0]).max() <= OUTPUT_ATOL
    for key in a[1]:
        assert a[1][key].shape == b[1][key].shape
        assert np.abs(a[1][key] - b[1][key]).max() <= OUTPUT_ATOL, key
    if grad:
        for ga, gb in zip(a[2], b[2]):
            assert np.abs(ga - gb).max() <= GRAD_ATOL


GATE_CASES = [
    # g 5x7 upsampled to x's 16x16: non-integer ratios (the half-pixel bilinear convention)
    ("AttentionGate", (6, 4, 3), [(2, 4, 16, 16), (2, 6, 5, 7)]),
    # phi(g) 13x11 shrunk to theta's 5x5 grid (floor(16 / 3)): two-tap bilinear, no antialiasing
    ("GridAttentionGate", (4, 6, 2, 3), [(2, 4, 16, 16), (2, 6, 13, 11)]),
]


@pytest.mark.parametrize("name, args, shapes", GATE_CASES)
def test_gate_parity_with_resampled_g(name, args, shapes):
    """Inference mode (output, map, input gradients for x and g) and one training-mode forward
    (BatchNorm on batch statistics) against PyTorch with the same weights."""
    tm, km, inputs = _loaded_pair(name, args, {}, 7, shapes)
    expected = torch_run(tm, inputs)
    assert np.abs(expected[0]).max() > 0.5 and np.abs(expected[2][1]).max() > 0.01  # not degenerate
    _assert_parity(expected, tf_run(km, inputs))
    _assert_parity(torch_run(tm, inputs, train=True), tf_run(km, inputs, train=True), grad=False)


@pytest.mark.slow
def test_attention_unet_grid_parity():
    """Whole AttentionUNet(gate="grid") in inference mode: logits and every gate's map."""
    kwargs = dict(in_channels=1, num_classes=2, base_channels=4, depth=2, gate="grid")
    tm, km, inputs = _loaded_pair("AttentionUNet", (), kwargs, 11, [(2, 1, 32, 32)])
    expected = torch_run(tm, inputs)
    got = tf_run(km, inputs)
    assert list(got[1]) == ["gate1", "gate0"]
    _assert_parity(expected, got)
