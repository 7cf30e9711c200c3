"""PyTorch attention gates and U-Nets: the equations against an independent numpy computation,
shapes, the maps returned, and every error path (Paddle and TensorFlow: test_unet_paddle.py,
test_unet_tensorflow.py; parity of the three: test_parity_unet.py)."""

import numpy as np
import pytest
from skimage.transform import resize

import vision_attention.torch  # noqa: F401
import torch
from vision_attention.torch import (AttentionGate, AttentionUNet, DecoderBlock,
                                    DecoderBlockWithAttention, GridAttentionGate, UNet)

EPS = 1e-5


def _randomise(module, seed=0):
    """Random weights and BatchNorm statistics (the defaults would hide a missing BN)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen))
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return module.eval()


def _np_conv1x1(conv, x):
    w = conv.weight.detach().double().numpy()[:, :, 0, 0]
    y = np.einsum("oc,bchw->bohw", w, x)
    if conv.bias is not None:
        y = y + conv.bias.detach().double().numpy()[None, :, None, None]
    return y


def _np_bn(bn, x):
    mean = bn.running_mean.double().numpy()[None, :, None, None]
    var = bn.running_var.double().numpy()[None, :, None, None]
    w = bn.weight.detach().double().numpy()[None, :, None, None]
    b = bn.bias.detach().double().numpy()[None, :, None, None]
    return (x - mean) / np.sqrt(var + EPS) * w + b


def _np_resize(x, size):
    """Bilinear, pixel centres aligned, edge values repeated: scikit-image's convention."""
    if x.shape[2:] == tuple(size):
        return x
    return np.stack([np.stack([resize(c, size, order=1, mode="edge", anti_aliasing=False)
                               for c in sample]) for sample in x])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("g_size", [(6, 10), (3, 4), (5, 7)])
def test_attention_gate_follows_the_equations(g_size):
    gate = _randomise(AttentionGate(F_g=5, F_l=4, F_int=3))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 6, 10))
    g = rng.standard_normal((2, 5, *g_size))
    g1 = _np_resize(_np_bn(gate.W_g[1], _np_conv1x1(gate.W_g[0], g)), (6, 10))
    x1 = _np_bn(gate.W_x[1], _np_conv1x1(gate.W_x[0], x))
    alpha = _sigmoid(_np_bn(gate.psi[1], _np_conv1x1(gate.psi[0], np.maximum(g1 + x1, 0))))
    with torch.no_grad():
        y, maps = gate(torch.tensor(x, dtype=torch.float32), torch.tensor(g, dtype=torch.float32),
                       return_attention=True)
    np.testing.assert_allclose(maps["attention"].numpy(), alpha, atol=2e-6)
    np.testing.assert_allclose(y.numpy(), x * alpha, atol=1e-5)


@pytest.mark.parametrize("factor", [2, 3])
def test_grid_gate_follows_the_official_computation(factor):
    gate = _randomise(GridAttentionGate(in_channels=4, gating_channels=6, inter_channels=3,
                                        sub_sample_factor=factor))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 12, 18))
    g = rng.standard_normal((2, 6, 3, 5))
    # theta: kernel = stride = factor, no bias, as a sum over the blocks of x
    w = gate.theta.weight.detach().double().numpy()
    h, wd = 12 // factor, 18 // factor
    blocks = x[:, :, :h * factor, :wd * factor].reshape(2, 4, h, factor, wd, factor)
    theta = np.einsum("ocij,bcpiqj->bopq", w, blocks)
    assert gate.theta.bias is None
    phi = _np_resize(_np_conv1x1(gate.phi, g), (h, wd))
    alpha = _np_resize(_sigmoid(_np_conv1x1(gate.psi, np.maximum(theta + phi, 0))), (12, 18))
    expected = _np_bn(gate.W[1], _np_conv1x1(gate.W[0], alpha * x))
    with torch.no_grad():
        y, maps = gate(torch.tensor(x, dtype=torch.float32), torch.tensor(g, dtype=torch.float32),
                       return_attention=True)
    np.testing.assert_allclose(maps["attention"].numpy(), alpha, atol=2e-6)
    np.testing.assert_allclose(y.numpy(), expected, atol=2e-5)


def test_grid_gate_default_inter_channels():
    assert GridAttentionGate(in_channels=9, gating_channels=4).inter_channels == 4
    assert GridAttentionGate(in_channels=1, gating_channels=4).inter_channels == 1


@pytest.mark.parametrize("gate", ["seed", "grid"])
def test_attention_unet_maps_coarsest_first(gate):
    torch.manual_seed(0)
    net = AttentionUNet(in_channels=2, num_classes=3, base_channels=4, depth=3, gate=gate).eval()
    with torch.no_grad():
        logits, maps = net(torch.zeros(2, 2, 32, 48), return_attention=True)
    assert tuple(logits.shape) == (2, 3, 32, 48)
    assert list(maps) == ["gate2", "gate1", "gate0"]
    assert [tuple(m.shape) for m in maps.values()] == [(2, 1, 8, 12), (2, 1, 16, 24), (2, 1, 32, 48)]
    assert all(float(m.min()) >= 0 and float(m.max()) <= 1 for m in maps.values())  # float32 sigmoid


def test_unet_and_attention_unet_share_every_name_but_the_gates():
    plain = set(UNet(base_channels=4, depth=2).state_dict())
    gated = set(AttentionUNet(base_channels=4, depth=2).state_dict())
    assert plain < gated
    assert all(".att_gate." in name for name in gated - plain)
    logits, maps = UNet(base_channels=4, depth=2).eval()(torch.zeros(1, 1, 8, 8), return_attention=True)
    assert maps == {} and tuple(logits.shape) == (1, 1, 8, 8)


def test_decoder_block_concatenates_upsampled_map_first():
    block = DecoderBlock(in_channels=6, out_channels=4, skip_channels=3)
    assert block.conv[0].in_channels == 7
    assert tuple(block.up.weight.shape) == (6, 4, 2, 2)
    seed = DecoderBlockWithAttention(6, 4, 3, gate="seed")
    grid = DecoderBlockWithAttention(6, 4, 3, gate="grid")
    assert (seed.att_gate.F_g, seed.att_gate.F_l, seed.att_gate.F_int) == (4, 3, 1)
    assert (grid.att_gate.gating_channels, grid.att_gate.in_channels) == (6, 3)


def _raises(match, fn):
    with pytest.raises(ValueError, match=match):
        fn()


def test_errors_name_the_argument():
    gate = AttentionGate(F_g=5, F_l=4, F_int=3)
    grid = GridAttentionGate(in_channels=4, gating_channels=5, sub_sample_factor=3)
    x, g = torch.zeros(2, 4, 8, 8), torch.zeros(2, 5, 4, 4)
    _raises("argument 'F_int' expected a positive integer", lambda: AttentionGate(4, 4, 0))
    _raises("argument 'inter_channels' expected a positive integer or None",
            lambda: GridAttentionGate(4, 4, inter_channels=0))
    _raises("argument 'sub_sample_factor'", lambda: GridAttentionGate(4, 4, sub_sample_factor=(2, 2, 2)))
    _raises("argument 'x' expected 4 channels", lambda: gate(torch.zeros(2, 3, 8, 8), g))
    _raises("argument 'g' expected 5 channels", lambda: gate(x, torch.zeros(2, 4, 4, 4)))
    _raises("argument 'g' expected the batch size of x", lambda: gate(x, torch.zeros(1, 5, 4, 4)))
    _raises("argument 'g' expected a spatial size no larger", lambda: gate(x, torch.zeros(2, 5, 9, 4)))
    _raises("argument 'x' expected a 4-D tensor", lambda: gate(torch.zeros(4, 8, 8), g))
    _raises(r"argument 'x' expected height and width >= 3", lambda: grid(torch.zeros(2, 4, 2, 8), g[:, :, :2]))
    block = DecoderBlockWithAttention(6, 4, 3)
    _raises("argument 'skip' expected twice x's height", lambda: block(torch.zeros(1, 6, 4, 4), torch.zeros(1, 3, 8, 9)))
    _raises("argument 'skip' expected 3 channels", lambda: block(torch.zeros(1, 6, 4, 4), torch.zeros(1, 2, 8, 8)))
    _raises("argument 'gate' expected one of", lambda: DecoderBlockWithAttention(6, 4, 3, gate="none"))
    _raises("argument 'gate' expected one of", lambda: AttentionUNet(gate="official"))
    _raises("argument 'depth' expected a positive integer", lambda: UNet(depth=0))
    _raises("argument 'base_channels' expected a positive integer", lambda: UNet(base_channels=2.0))
    net = UNet(base_channels=4, depth=3)
    _raises(r"multiples of 2\*\*depth = 8 .* got H=12", lambda: net(torch.zeros(1, 1, 12, 16)))
    _raises(r"got W=4", lambda: net(torch.zeros(1, 1, 16, 4)))
    _raises("argument 'x' expected 1 channels", lambda: net(torch.zeros(1, 3, 16, 16)))
    _raises("argument 'return_attention' expected a bool", lambda: net(torch.zeros(1, 1, 16, 16), 1))
