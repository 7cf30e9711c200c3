"""Where the attention module sits in a residual unit (``position``): SENet TPAMI 2020, Sec. 6.5.

Three kinds of check:

* whole-network eval parity across PyTorch, Paddle and TensorFlow, as in
  ``tests/test_parity_resnet.py`` (canonical weights from
  :func:`vision_attention.parity.random_weights`, one seeded 1x3x64x64 input, the contract's
  ``RESNET_RTOL`` on the logits of every framework pair). ResNet-18: positions
  ``"pre"``, ``"post"``, ``"identity"`` x ``"se"``, ``"eca"``, ``"cbam"`` (``"standard"`` is
  covered by ``tests/test_parity_resnet.py`` and ``tests/test_parity_backbones.py``), plus
  ``"pre"`` CBAM with ``reduction_ratio=8, kernel_size=3`` (so both arguments must reach every
  framework's modules). ResNet-50: ``"pre"`` with SE and CBAM only (ECA's ``"pre"`` code path
  is the depth-18 one; dropped to keep this file under 40 s on one core). With ``"post"`` and
  ``"identity"`` the shortcut is no longer a clean identity (every unit gates it), and with
  these random weights float32 round-off then grows ~1.3-1.4x per bottleneck instead of
  ~1.15x: each framework's logits end 1.1e-4..1.9e-4 (relative) from a float64 PyTorch run of
  the same weights (measured: SE, seed 50; ``"standard"`` 6e-6..7e-6, ``"pre"`` 1.5e-5..2.1e-5),
  so a pair can exceed ``RESNET_RTOL`` = 1e-4 through round-off alone. Those two positions are
  therefore compared at depth 18 (same block code as depth 50's ``_residual_unit``), where all
  pairs stay below 6e-6;
* each position computes its formula (PyTorch), with a known affine function in place of the
  attention module and with the real modules, against the block's layers composed by hand;
* the attention modules' parameter counts per unit, from the modules' formulas.

Argument errors of the three frameworks are in ``tests/test_validation.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import PAIRS, RESNET_RTOL, seeded_input

from vision_attention.parity import (
    FRAMEWORKS,
    build_module,
    difference_table,
    export_weights,
    load_weights,
    random_weights,
    run_module,
)
from vision_attention.torch.models import attention_resnet
from vision_attention.torch.models.resnet import BasicBlock, Bottleneck

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("torch_single_thread")]

INPUT_SHAPE = (1, 3, 64, 64)
TYPES = ("se", "eca", "cbam")
CASES = (
    [{"depth": 18, "attention_type": t, "position": p} for p in ("pre", "post", "identity") for t in TYPES]
    + [{"depth": 18, "attention_type": "cbam", "position": "pre", "reduction_ratio": 8, "kernel_size": 3}]
    + [{"depth": 50, "attention_type": t, "position": "pre"} for t in ("se", "cbam")]
)


def _case_id(kwargs: dict) -> str:
    return "-".join(str(v) for v in kwargs.values())


@pytest.fixture(scope="module", params=CASES, ids=_case_id)
def network(request):
    """``(kwargs, weights, {framework: loaded model}, {framework: (outputs, grad)})``."""
    kwargs = request.param
    weights = random_weights("attention_resnet", seed=kwargs["depth"], **kwargs)
    x = seeded_input(*INPUT_SHAPE)
    models, results = {}, {}
    for fw in FRAMEWORKS:
        models[fw] = build_module(fw, "attention_resnet", **kwargs)
        load_weights(models[fw], weights)
        results[fw] = run_module(fw, models[fw], x, grad=False)
    yield kwargs, weights, models, results
    models.clear()


def test_logits_agree_across_frameworks(network):
    kwargs, _, _, results = network
    for fw, (outputs, _) in results.items():
        logits = outputs["output"]
        assert logits.shape == (INPUT_SHAPE[0], 1000) and logits.dtype == np.float32, fw
        assert np.isfinite(logits).all() and logits.std() > 0, fw
    table = difference_table(results, name="attention_resnet", kwargs=kwargs, input_shape=INPUT_SHAPE)
    assert list(table["pair"]) == [f"{a}-{b}" for a, b in PAIRS]
    assert (table["output_max_rel"] <= RESNET_RTOL).all(), repr(table)
    assert table["passed"].all() and (table["tol_kind"] == "rel").all(), repr(table)


def test_weights_round_trip_with_the_positions_shapes(network):
    kwargs, weights, models, _ = network
    channels = _attention_channels(kwargs["depth"], kwargs["position"])
    units = [n.rsplit(".conv1.", 1)[0] for n in weights if n.startswith("layer") and n.endswith(".conv1.weight")]
    assert len(units) == len(channels)
    for unit, c in zip(units, channels):  # the attention module's input channel count, per unit
        if kwargs["attention_type"] == "eca":
            assert weights[f"{unit}.attention.conv.weight"].shape == (1, 1, _eca_k(c)), unit
        else:
            prefix = "attention" if kwargs["attention_type"] == "se" else "attention.channel_attention"
            r = kwargs.get("reduction_ratio", 16)
            assert weights[f"{unit}.{prefix}.fc1.weight"].shape == (c // r, c), unit
    if kwargs["attention_type"] == "cbam":
        k = kwargs.get("kernel_size", 7)
        assert weights[f"{units[0]}.attention.spatial_attention.conv.weight"].shape == (1, 2, k, k)
    for fw, model in models.items():
        exported = export_weights(model)
        assert list(exported) == list(weights), fw
        for name, value in exported.items():
            np.testing.assert_array_equal(value, weights[name], err_msg=f"{fw} {name}")


# ------------------------------------------------------------------------- the formulas

STAGES = {18: ((2, 2, 2, 2), 1), 50: ((3, 4, 6, 3), 4)}  # units per stage, expansion (He et al., Table 1)


def _attention_channels(depth: int, position: str) -> list[int]:
    """Channel count each unit's attention module sees: the unit's output (``planes * e``), or
    for ``"pre"`` its input (the stem's 64 or the previous stage's output for a stage's first unit)."""
    units, e = STAGES[depth]
    out, previous = [], 64
    for planes, n in zip((64, 128, 256, 512), units):
        for i in range(n):
            out.append((previous if i == 0 else planes * e) if position == "pre" else planes * e)
        previous = planes * e
    return out


def _eca_k(c: int, gamma: float = 2, b: float = 1) -> int:
    """ECA-Net Eq. (12): ``k = |log2(C) / gamma + b / gamma|_odd``."""
    t = int(abs((math.log2(c) + b) / gamma))
    return t if t % 2 else t + 1


def _formula_params(attention_type: str, c: int, r: int = 16, k: int = 7) -> int:
    """Learnable parameters of one module on ``c`` channels (weights and biases; BN statistics
    are buffers): SE's two FC layers with biases; CBAM's shared MLP, ``2 -> 1`` k x k conv
    without bias and its BatchNorm's scale and shift; ECA's one bias-free 1-D kernel."""
    mlp = 2 * c * (c // r) + c // r + c
    return {"se": mlp, "cbam": mlp + 2 * k * k + 2, "eca": _eca_k(c)}[attention_type]


@pytest.mark.parametrize("depth", (18, 50))
@pytest.mark.parametrize("attention_type", TYPES)
def test_attention_parameter_counts_follow_the_formulas(depth, attention_type):
    counts = {}
    for position in ("standard", "pre", "post", "identity"):
        model = attention_resnet(depth, attention_type, num_classes=10, position=position)
        block = BasicBlock if depth == 18 else Bottleneck
        units = [m for m in model.modules() if isinstance(m, block)]
        got = [sum(p.numel() for p in u.attention.parameters()) for u in units]
        expected = [_formula_params(attention_type, c) for c in _attention_channels(depth, position)]
        assert got == expected, position
        counts[position] = sum(got)
    assert counts["post"] == counts["identity"] == counts["standard"]
    if attention_type != "eca":  # "pre" sees fewer channels in the first unit of each stage
        assert counts["pre"] < counts["standard"]


def test_reduction_ratio_and_kernel_size_change_the_counts():
    model = attention_resnet(18, "cbam", num_classes=10, position="pre", reduction_ratio=4, kernel_size=3)
    units = [m for m in model.modules() if isinstance(m, BasicBlock)]
    got = [sum(p.numel() for p in u.attention.parameters()) for u in units]
    assert got == [_formula_params("cbam", c, 4, 3) for c in _attention_channels(18, "pre")]


class _Affine(torch.nn.Module):
    """A known stand-in for an attention module: ``2 t - 0.3`` (channel-agnostic)."""

    def forward(self, t):
        return 2.0 * t - 0.3


def _randomise_batchnorms(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d) and m.num_features > 1:
            n = m.num_features
            m.weight.data = torch.rand(n, generator=gen) + 0.5
            m.bias.data = torch.randn(n, generator=gen) * 0.2
            m.running_mean = torch.randn(n, generator=gen) * 0.2
            m.running_var = torch.rand(n, generator=gen) + 0.5


def _block(kind: str, position: str, seed: int):
    """An eval-mode unit with a projection shortcut (stride 2, channels change) and SE."""
    torch.manual_seed(seed)
    if kind == "basic":
        inplanes, planes, cls = 16, 32, BasicBlock
    else:
        inplanes, planes, cls = 32, 16, Bottleneck
    out = planes * cls.expansion
    downsample = torch.nn.Sequential(torch.nn.Conv2d(inplanes, out, 1, stride=2, bias=False),
                                     torch.nn.BatchNorm2d(out))
    block = cls(inplanes, planes, 2, downsample, "se", position=position, reduction_ratio=4)
    _randomise_batchnorms(block, seed)
    return block.eval(), inplanes


def _by_hand(block, x, attention, position: str):
    """The formula of ``position`` (SENet Fig. 5) from the block's layers, composed here."""
    relu = torch.relu

    def residual(t):
        t = relu(block.bn1(block.conv1(t)))
        if isinstance(block, Bottleneck):
            t = relu(block.bn2(block.conv2(t)))
            return block.bn3(block.conv3(t))
        return block.bn2(block.conv2(t))

    s = block.downsample(x)
    if position == "standard":
        return relu(attention(residual(x)) + s)
    if position == "pre":
        return relu(residual(attention(x)) + s)
    if position == "post":
        return attention(relu(residual(x) + s))
    return relu(residual(x) + attention(s))  # "identity"


@pytest.mark.parametrize("kind", ("basic", "bottleneck"))
@pytest.mark.parametrize("position", ("standard", "pre", "post", "identity"))
def test_each_position_computes_its_formula(kind, position):
    block, inplanes = _block(kind, position, seed=3)
    x = torch.randn(2, inplanes, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        # the block's own SE (its channel count fits only this position's formula)
        torch.testing.assert_close(block(x), _by_hand(block, x, block.attention, position), rtol=1e-5, atol=1e-6)
        block.attention = _Affine()
        known = {p: _by_hand(block, x, block.attention, p) for p in ("standard", "pre", "post", "identity")}
        y = block(x)
    torch.testing.assert_close(y, known[position], rtol=1e-5, atol=1e-6)
    for other, value in known.items():  # the formulas differ, so a swapped position fails above
        if other != position:
            assert (value - known[position]).abs().max() > 1e-2, other
