"""The FLOP counters compared (thop, fvcore, FlopCounterMode, count_flops): the relations that hold
between them on ResNet-50, the attention modules' share by each against hand-derived values,
thop's leftover buffers, captured output, bad arguments.

Hand values come from the architecture (He et al., 2016, Table 1; SE: Hu et al., Sec. 3.2; ECA's
kernel from Eq. (12); CBAM: Woo et al., Sec. 3), never from the counters.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vision_attention import eca_kernel_size
from vision_attention.profiling.counters import (
    COUNTER_COLUMNS,
    COUNTERS,
    flop_counter_comparison,
    se_last_stage_check,
    thop_profile,
)
from vision_attention.torch.models import attention_resnet

SIZE = 32  # input side: stage maps 8, 4, 2, 1 (stem /2, max-pool /2, then /2 per stage)
# (output channels, blocks, side of the stage's map) of ResNet-50's four stages at SIZE
STAGES = ((256, 3, 8), (512, 4, 4), (1024, 6, 2), (2048, 3, 1))
R = 16


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def table():
    return flop_counter_comparison(("none", "se", "eca", "cbam"), input_size=SIZE)


def _value(table, attention, counter, column="total"):
    rows = table[(table.attention == attention) & (table.counter == counter)]
    assert len(rows) == 1, (attention, counter)
    return rows[column].iloc[0]


def _batchnorm_elements(model, x) -> int:
    """Input elements of every BatchNorm2d in one forward (a hook, independent of the counters)."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(i[0].numel()))
             for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return sum(seen)


def test_table_is_tidy_with_versions_and_conventions(table):
    assert list(table.columns) == list(COUNTER_COLUMNS)
    assert len(table) == 4 * len(COUNTERS)
    assert set(table.attrs["versions"]) == {"thop", "fvcore", "torch"}
    assert table.attrs["versions"]["thop"].startswith("0.1.1")
    assert {"thop", "fvcore", "flop_counter_mode", "count_flops"} <= set(table.attrs["conventions"])


def test_counters_on_the_network_without_attention(table):
    """What holds on "none": FlopCounterMode = 2 x count_flops' MACs; thop and fvcore exceed
    FlopCounterMode / 2 by their BatchNorm and average-pool conventions: thop 4 per BatchNorm
    element and kernel + 1 per pooled output, fvcore 2 per element and 1 per pooled input."""
    torch.manual_seed(0)
    bn = _batchnorm_elements(attention_resnet(50, "none").eval(), torch.zeros(1, 3, SIZE, SIZE))
    macs = _value(table, "none", "count_flops_macs")
    assert _value(table, "none", "flop_counter_mode") == 2 * macs
    # the final global pool reads a 1 x 1 map of 2048 channels at SIZE: kernel 1 per output
    assert _value(table, "none", "thop") == macs + 4 * bn + 2048 * (1 + 1)
    assert _value(table, "none", "fvcore") == macs + 2 * bn + 2048 * 1
    assert _value(table, "none", "fvcore", "skipped_ops") == {"aten::add": 16, "aten::max_pool2d": 1}


def test_attention_shares_equal_the_hand_counts(table):
    """SE: fc1 and fc2, 2 C^2 / r MACs per block; ECA: a k-tap Conv1d over C channels, k C;
    CBAM: its MLP twice (average and max), 4 C^2 / r, plus the 7 x 7 convolution of 2 maps,
    98 H W, plus its one-channel BatchNorm (H W elements) by the counters that count BN."""
    blocks = [(c, n, s) for c, n, s in STAGES]
    se = sum(n * 2 * c * (c // R) for c, n, _ in blocks)
    eca = sum(n * eca_kernel_size(c) * c for c, n, _ in blocks)
    cbam = sum(n * (4 * c * (c // R) + 98 * s * s) for c, n, s in blocks)
    bn = sum(n * s * s for _c, n, s in blocks)
    for counter in ("thop", "fvcore", "count_flops_macs"):
        assert _value(table, "se", counter, "share") == se, counter
        assert _value(table, "eca", counter, "share") == eca, counter
    assert _value(table, "se", "flop_counter_mode", "share") == 2 * se
    assert _value(table, "eca", "flop_counter_mode", "share") == 2 * eca
    assert _value(table, "cbam", "count_flops_macs", "share") == cbam
    assert _value(table, "cbam", "flop_counter_mode", "share") == 2 * cbam
    assert _value(table, "cbam", "fvcore", "share") == cbam + 2 * bn
    assert _value(table, "cbam", "thop", "share") == cbam + 4 * bn
    # the per-module breakdowns attribute exactly the difference to the attention modules
    for t in ("se", "eca", "cbam"):
        for counter in ("thop", "fvcore", "flop_counter_mode"):
            assert _value(table, t, counter, "modules") == _value(table, t, counter, "share"), (t, counter)


def test_attention_share_ordering_and_what_fvcore_skips(table):
    for counter in COUNTERS:
        shares = [_value(table, t, counter, "share") for t in ("eca", "se", "cbam")]
        assert 0 < shares[0] < shares[1] < shares[2], (counter, shares)
    # element-wise work is most of what the modules add: in % of the network's own, many times their MACs
    for t in ("se", "eca", "cbam"):
        assert _value(table, t, "count_flops_elementwise", "share_pct") > 10 * _value(
            table, t, "count_flops_macs", "share_pct"), t
    skipped = {t: _value(table, t, "fvcore", "skipped_ops") for t in ("se", "eca", "cbam")}
    assert {"aten::mean", "aten::sigmoid", "aten::mul"} <= set(skipped["se"]) & set(skipped["eca"])
    assert skipped["se"]["aten::sigmoid"] == 16 and skipped["cbam"]["aten::sigmoid"] == 32
    assert "aten::amax" in skipped["cbam"] and "aten::amax" not in skipped["se"]


def test_se_last_stage_hand_check():
    """One SE block on ResNet-50's last map at 224 (2048 x 7 x 7, r = 16), counted alone."""
    check = se_last_stage_check(224)
    c, hidden, n = 2048, 2048 // 16, 2048 * 7 * 7
    assert check["hand"]["mlp_macs"] == 2 * c * hidden == 524288
    assert check["thop"] == check["fvcore"] == check["count_flops"]["macs"] == 524288
    assert check["flop_counter_mode"] == 2 * 524288
    assert check["count_flops"]["elementwise_by_op"] == {"aten.mean.dim": n, "aten.relu.default": hidden,
                                                         "aten.sigmoid.default": c, "aten.mul.Tensor": n}
    assert check["fvcore_skipped"] == {"aten::mean": 1, "aten::mul": 1, "aten::sigmoid": 1}


def test_thop_leaves_the_original_model_clean_and_its_output_is_captured(capsys):
    torch.manual_seed(0)
    model = attention_resnet(50, "se").eval()
    x = torch.zeros(1, 3, SIZE, SIZE)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    messages: list = []
    macs, modules = thop_profile(model, x, messages)
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert not any("total_ops" in name for name, _ in model.named_buffers())
    assert macs > modules > 0
    assert any("[INFO] Register count_linear()" in m for m in messages)
    assert capsys.readouterr().out == ""
    # why the deep copy: thop on the model itself leaves buffers behind in modules without a rule
    import thop

    thop.profile(model, inputs=(x,), verbose=False)
    assert any(name.endswith("attention.total_ops") for name, _ in model.named_buffers())


@pytest.mark.parametrize("kwargs, error, words", [
    ({"attention_types": "se"}, TypeError, "argument 'attention_types' expected a sequence"),
    ({"attention_types": ()}, ValueError, "expected at least one attention type"),
    ({"attention_types": ("se", "sk")}, ValueError, "argument 'attention_types' expected one of"),
    ({"input_size": 16}, ValueError, "argument 'input_size' expected an int >= 32"),
    ({"input_size": 64.0}, ValueError, "argument 'input_size' expected a positive integer"),
])
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        flop_counter_comparison(**kwargs)
