"""The debugging tools of :mod:`vision_attention.monitor`: statistics, the monitor, ablation.

Expected statistics are worked out by hand in the comments (not by the code under test).
The cross-framework checks load the same canonical weights (:mod:`vision_attention.parity`)
into the three frameworks and compare the recorded statistics within the parity contract's
tolerances; the ablation check compares an attention ResNet with every SE module ablated to
the plain ResNet (``attention_type="none"``) built independently with the same weights.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import OUTPUT_ATOL, RESNET_RTOL, seeded_input

from vision_attention.monitor import (
    ATTENTION_CLASSES,
    TABLE_COLUMNS,
    AttentionMonitor,
    ablate,
    attention_modules,
    attention_statistics,
)
from vision_attention.parity import FRAMEWORKS, build_module, load_weights, random_weights
from vision_attention.parity.layouts import activation_from_framework, activation_to_framework

pytestmark = pytest.mark.usefixtures("torch_single_thread")

RESNET_INPUT = (1, 3, 64, 64)
FLOATS = ["mean", "std", "entropy"]
FRACTIONS = ["low", "high", "saturated"]


def forward(framework: str, model, x_nchw, training: bool = False) -> np.ndarray:
    """``model(x)`` (``model(*x)`` for a tuple) in ``framework``, a plain call without
    ``return_attention``; the output as NCHW numpy."""
    xs = [activation_to_framework(framework, x) for x in (x_nchw if isinstance(x_nchw, tuple) else (x_nchw,))]
    if framework == "torch":
        import torch

        model.train(training)
        with torch.no_grad():
            return model(*map(torch.from_numpy, xs)).numpy()
    if framework == "paddle":
        import paddle

        model.train() if training else model.eval()
        with paddle.no_grad():
            return model(*map(paddle.to_tensor, xs)).numpy()
    import tensorflow as tf

    return activation_from_framework(framework, model(*map(tf.constant, xs), training=training).numpy())


def state(framework: str, model) -> dict[str, np.ndarray]:
    """Every weight and buffer of ``model`` by name (the frameworks' own state)."""
    if framework == "torch":
        return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    if framework == "paddle":
        return {k: v.numpy().copy() for k, v in model.state_dict().items()}
    return {f"{i}:{v.path}": v.numpy().copy() for i, v in enumerate(model.weights)}


def assert_no_hooks(framework: str, model) -> None:
    from vision_attention import monitor

    for _, module in monitor._adapter(model, "test")[0].named_modules(model):
        if framework == "torch":
            assert not module._forward_hooks and not module._forward_pre_hooks
        elif framework == "paddle":
            assert not module._forward_pre_hooks and not module._forward_post_hooks
        else:
            assert "call" not in vars(module)


# --------------------------------------------------------------------------- statistics


def test_statistics_of_a_small_array_by_hand():
    # a = 0, 0.5, 1, 0.02: mean 1.52 / 4 = 0.38; deviations -0.38, 0.12, 0.62, -0.36, squares
    # 0.1444 + 0.0144 + 0.3844 + 0.1296 = 0.6728, / 4 = 0.1682, std = sqrt(0.1682);
    # below 0.05: 0 and 0.02 (2 of 4); above 0.95: 1 (1 of 4).
    stats = attention_statistics(np.array([[0.0, 0.5], [1.0, 0.02]]), spatial=False)
    assert list(stats) == ["mean", "std", "low", "high", "saturated", "entropy"]
    assert all(type(v) is float for v in stats.values())
    assert stats["mean"] == pytest.approx(0.38, abs=1e-12)
    assert stats["std"] == pytest.approx(math.sqrt(0.1682), abs=1e-12)
    assert (stats["low"], stats["high"], stats["saturated"]) == (0.5, 0.25, 0.75)
    assert math.isnan(stats["entropy"])


def test_entropy_of_two_maps_by_hand():
    # Map 1: 0.25, 0.75 -> p = 0.25, 0.75, H = 0.25 ln 4 + 0.75 ln(4/3) = 0.562335 nats, / ln 2
    # = 0.811278 (the binary entropy of 1/4 in bits). Map 2: 0.5, 0.5 -> uniform, 1. Mean 0.905639.
    a = np.array([0.25, 0.75, 0.5, 0.5]).reshape(2, 1, 1, 2)
    stats = attention_statistics(a, spatial=True)
    assert stats["entropy"] == pytest.approx((0.8112781244591328 + 1.0) / 2, abs=1e-12)
    assert stats["mean"] == pytest.approx(0.5, abs=1e-12)
    assert (stats["low"], stats["high"]) == (0.0, 0.0)


def test_entropy_is_one_for_a_uniform_map_and_about_zero_for_a_one_hot_map():
    uniform = np.full((3, 1, 4, 5), 0.3)
    assert attention_statistics(uniform, spatial=True)["entropy"] == pytest.approx(1.0, abs=1e-12)
    one_hot = np.zeros((1, 1, 8, 8))
    one_hot[0, 0, 2, 5] = 1.0
    stats = attention_statistics(one_hot, spatial=True)
    assert stats["entropy"] == 0.0  # 0 ln 0 = 0 and 1 ln 1 = 0
    assert (stats["low"], stats["high"], stats["saturated"]) == (63 / 64, 1 / 64, 1.0)
    nearly = np.where(one_hot == 1.0, 1.0, 1e-9)  # 63 terms of 1e-9 * ln(1e9) = 2.1e-8 each, / ln 64: 3e-7
    assert 0.0 < attention_statistics(nearly, spatial=True)["entropy"] < 1e-6


@pytest.mark.parametrize("weights, spatial, message", [
    (np.array([0.5, 1.2]), False, "expected values in [0, 1], got values in [0.5, 1.2]"),
    (np.array([-0.1, 0.5]), False, "expected values in [0, 1]"),
    (np.array([0.5, np.nan]), False, "expected finite values, got 1 non-finite"),
    (np.zeros((0, 3)), False, "expected a non-empty array"),
    (np.array(["a", "b"]), False, "expected a numeric array"),
    (np.full((2, 3, 4, 4), 0.5), True, "expected maps (B, 1, H, W) with H * W > 1 (NCHW), got shape (2, 3, 4, 4)"),
    (np.full((2, 1, 1, 1), 0.5), True, "with H * W > 1"),
    (np.concatenate([np.full((1, 1, 2, 2), 0.5), np.zeros((1, 1, 2, 2))]), True, "a spatial map sums to 0 (maps [1])"),
    (np.full((1, 1, 2, 2), 0.5), 1, "argument 'spatial' expected a bool"),
])
def test_statistics_reject_bad_weights(weights, spatial, message):
    with pytest.raises(ValueError, match="attention_statistics: argument '") as error:
        attention_statistics(weights, spatial)
    assert message in str(error.value)


def test_importing_the_monitor_imports_no_framework():
    code = ("import sys, vision_attention.monitor, vision_attention.viz; "
            "print([m for m in ('torch', 'paddle', 'tensorflow', 'keras', 'pandas') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- the monitor


@pytest.fixture(scope="module")
def cbam_resnets():
    """``{framework: attention_resnet(18, "cbam")}`` with the same canonical weights."""
    weights = random_weights("attention_resnet", seed=18, depth=18, attention_type="cbam")
    models = {}
    for fw in FRAMEWORKS:
        models[fw] = build_module(fw, "attention_resnet", depth=18, attention_type="cbam")
        load_weights(models[fw], weights)
    return models


def test_three_frameworks_record_the_same_statistics_of_a_resnet(cbam_resnets):
    x = seeded_input(*RESNET_INPUT)
    tables = {}
    for fw, model in cbam_resnets.items():
        with AttentionMonitor(model) as monitor:
            forward(fw, model, x)
        tables[fw] = monitor.table()
    reference = tables["torch"]
    assert list(reference.columns) == list(TABLE_COLUMNS)
    expected = [f"layer{s}.{b}.attention" for s in range(1, 5) for b in range(2)]
    assert list(reference["module"]) == [name for name in expected for _ in range(2)]
    assert list(reference["key"]) == ["channel", "spatial"] * 8
    assert reference.loc[reference["key"] == "channel", "entropy"].isna().all()
    assert reference.loc[reference["key"] == "spatial", "entropy"].between(0, 1).all()
    for fw in ("paddle", "tensorflow"):
        other = tables[fw]
        assert other[["step", "module", "key"]].equals(reference[["step", "module", "key"]])
        np.testing.assert_allclose(other[FLOATS], reference[FLOATS], rtol=0, atol=RESNET_RTOL)
        np.testing.assert_array_equal(other[FRACTIONS], reference[FRACTIONS])


@pytest.mark.parametrize("name", ["CBAM", "SEBlock"])
def test_three_frameworks_record_the_same_statistics_of_a_module(loaded_modules, name):
    _, modules = loaded_modules.get(name, 16)
    x = seeded_input(2, 16, 8, 8)
    tables = {}
    for fw, module in modules.items():
        with AttentionMonitor(module) as monitor:
            forward(fw, module, x)
        tables[fw] = monitor.table()
    keys = {"CBAM": ["channel", "spatial"], "SEBlock": ["channel"]}[name]
    assert list(tables["torch"]["module"]) == [name] * len(keys)
    assert list(tables["torch"]["key"]) == keys
    for fw in ("paddle", "tensorflow"):
        np.testing.assert_allclose(tables[fw][FLOATS], tables["torch"][FLOATS], rtol=0, atol=OUTPUT_ATOL)
        np.testing.assert_array_equal(tables[fw][FRACTIONS], tables["torch"][FRACTIONS])


OTHER_MODULES = {  # name -> (constructor arguments or None for conftest's, input shapes, recorded keys)
    "ECA": (None, ((2, 16, 5, 6),), ["channel"]),
    "BAM": (None, ((2, 16, 8, 8),), ["attention"]),  # not its logits "channel", "spatial"
    "NonLocalBlock": (None, ((2, 16, 6, 6),), ["attention_weights"]),
    "SelfAttention2d": (None, ((2, 16, 5, 5),), ["attention_weights"]),
    "MultiHeadSelfAttention2d": (None, ((2, 16, 4, 4),), ["attention_weights"]),
    "AttentionGate": ({"F_g": 5, "F_l": 6, "F_int": 3}, ((2, 6, 8, 8), (2, 5, 4, 4)), ["attention"]),
    "GridAttentionGate": ({"in_channels": 6, "gating_channels": 5}, ((2, 6, 8, 8), (2, 5, 4, 4)), ["attention"]),
    "MultiScaleAttention": ({"in_channels": (4, 6, 8), "pool_size": 2, "hidden": 5, "dropout": 0.0},
                            ((2, 4, 8, 12), (2, 6, 4, 6), (2, 8, 2, 2)), ["scale_weights"]),
}


@pytest.mark.parametrize("name", OTHER_MODULES)
def test_every_attention_class_is_recorded_alike_in_the_three_frameworks(loaded_modules, name):
    kwargs, shapes, keys = OTHER_MODULES[name]
    if kwargs is None:
        _, modules = loaded_modules.get(name, 16)
    else:
        weights = random_weights(name, seed=3, **kwargs)
        modules = {fw: build_module(fw, name, **kwargs) for fw in FRAMEWORKS}
        for module in modules.values():
            load_weights(module, weights)
    x = tuple(seeded_input(*shape) for shape in shapes)
    tables = {}
    for fw, module in modules.items():
        with AttentionMonitor(module) as monitor:
            forward(fw, module, x)
        tables[fw] = monitor.table()
    assert list(tables["torch"]["key"]) == keys
    assert tables["torch"]["entropy"].notna().all() == (keys == ["attention"] and "Gate" in name)
    for fw in ("paddle", "tensorflow"):
        np.testing.assert_allclose(tables[fw][FLOATS], tables["torch"][FLOATS], rtol=0, atol=OUTPUT_ATOL)
        np.testing.assert_array_equal(tables[fw][FRACTIONS], tables["torch"][FRACTIONS])


def test_recorded_statistics_are_those_of_the_modules_own_weights(loaded_modules):
    """The monitor records the statistics of exactly what ``return_attention=True`` returns
    (TensorFlow's NHWC spatial map transposed: its entropy is per map, so a transposition
    error into (B, H, 1, W) would be refused, and (B, H, W, 1) read as NCHW has no entropy)."""
    import tensorflow as tf

    _, modules = loaded_modules.get("CBAM", 16)
    x = seeded_input(2, 16, 7, 9)
    _, weights = modules["tensorflow"](tf.constant(activation_to_framework("tensorflow", x)), return_attention=True)
    spatial = np.transpose(weights["spatial"].numpy(), (0, 3, 1, 2))
    with AttentionMonitor(modules["tensorflow"]) as monitor:
        forward("tensorflow", modules["tensorflow"], x)
    row = monitor.table().set_index("key").loc["spatial"]
    assert row["entropy"] == attention_statistics(spatial, spatial=True)["entropy"]
    assert row["mean"] == pytest.approx(float(spatial.astype(np.float64).mean()), abs=1e-15)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_detach_restores_outputs_state_and_leaves_no_hooks(cbam_resnets, framework):
    model = cbam_resnets[framework]
    x = seeded_input(*RESNET_INPUT, seed=1)
    before, weights = forward(framework, model, x), state(framework, model)
    monitor = AttentionMonitor(model).attach()
    assert monitor.attached
    with pytest.raises(RuntimeError, match="already attached"):
        monitor.attach()
    monitored = forward(framework, model, x)
    monitor.detach()
    monitor.detach()  # a second detach does nothing
    np.testing.assert_array_equal(monitored, before)
    np.testing.assert_array_equal(forward(framework, model, x), before)
    after = state(framework, model)
    assert list(after) == list(weights)
    for key in weights:
        np.testing.assert_array_equal(after[key], weights[key])
    assert_no_hooks(framework, model)
    assert len(monitor.table()) == 16


def test_every_and_steps_in_training_and_evaluation():
    """Rule: automatic label = training passes before this one; a training pass is recorded
    when its label is a multiple of ``every``; evaluation passes always, under the label."""
    from vision_attention.torch import SEBlock

    module = SEBlock(8, 4)
    x = seeded_input(2, 8, 3, 3)
    with AttentionMonitor(module, every=2) as monitor:
        for _ in range(5):
            forward("torch", module, x, training=True)  # labels 0..4: 0, 2, 4 recorded
        forward("torch", module, x)  # eval after 5 training passes: label 5
        monitor.step(10)
        forward("torch", module, x, training=True)  # 10 % 2 == 0
        monitor.step(11)
        forward("torch", module, x, training=True)  # 11: skipped
        forward("torch", module, x)  # eval at 11: recorded
    assert list(monitor.table()["step"]) == [0, 2, 4, 5, 10, 11]
    monitor.reset()
    assert monitor.table().empty and list(monitor.table().columns) == list(TABLE_COLUMNS)
    with pytest.raises(ValueError, match="AttentionMonitor.step: argument 'step_index' expected a non-negative integer, got -1"):
        monitor.step(-1)


@pytest.mark.parametrize("framework", ("paddle", "tensorflow"))
def test_training_passes_count_in_paddle_and_keras(loaded_modules, framework):
    _, modules = loaded_modules.get("SEBlock", 16)
    x = seeded_input(1, 16, 4, 4)
    with AttentionMonitor(modules[framework], every=3) as monitor:
        for _ in range(4):
            forward(framework, modules[framework], x, training=True)  # 0 and 3 recorded
        forward(framework, modules[framework], x)
    assert list(monitor.table()["step"]) == [0, 3, 4]


def test_monitoring_a_training_pass_runs_the_network_once():
    """BatchNorm running statistics (CBAM's spatial branch) move once per pass, as unmonitored,
    and the input gradient is the same: the weights come from the pass itself, not a re-run."""
    import torch

    from vision_attention.torch import CBAM

    x = torch.from_numpy(seeded_input(2, 16, 6, 6))
    results = []
    for monitored in (False, True):
        torch.manual_seed(0)
        module = CBAM(16, 4).train()
        xi = x.clone().requires_grad_(True)
        monitor = AttentionMonitor(module).attach() if monitored else None
        module(xi).square().sum().backward()
        if monitor:
            monitor.detach()
            assert list(monitor.table()["key"]) == ["channel", "spatial"]
        results.append((module.spatial_attention.bn.running_mean.clone(), xi.grad.clone()))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=0)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=0, atol=0)


def test_a_caller_asking_for_the_weights_still_gets_them():
    """An attention gate inside the U-Net decoder is called with return_attention=True by its
    block; the monitor records it and the block gets its dict (its maps are unchanged)."""
    import torch

    from vision_attention.torch import AttentionUNet

    torch.manual_seed(0)
    net = AttentionUNet(1, 2, base_channels=4, depth=2).eval()
    x = torch.from_numpy(seeded_input(1, 1, 16, 16))
    with torch.no_grad():
        _, plain = net(x, return_attention=True)
        with AttentionMonitor(net) as monitor:
            _, maps = net(x, return_attention=True)
    assert list(attention_modules(net)) == ["decoders.0.att_gate", "decoders.1.att_gate"]
    for key in plain:
        torch.testing.assert_close(maps[key], plain[key], rtol=0, atol=0)
    table = monitor.table()
    assert list(table["module"]) == ["decoders.0.att_gate", "decoders.1.att_gate"]
    assert table["entropy"].between(0, 1).all()


def test_bam_records_its_attention_not_its_logits():
    from vision_attention.torch.models import attention_resnet

    net = attention_resnet(18, "bam", num_classes=4)
    assert attention_modules(net) == {"bam1": "BAM", "bam2": "BAM", "bam3": "BAM"}
    with AttentionMonitor(net) as monitor:
        forward("torch", net, seeded_input(1, 3, 32, 32))
    assert list(monitor.table()["key"]) == ["attention"] * 3


def test_monitor_rejects_bad_arguments():
    from torch import nn

    from vision_attention.torch import SEBlock

    with pytest.raises(ValueError, match="AttentionMonitor: argument 'model' \\(Sequential\\) contains no attention "
                                         "module; recognised classes: SEBlock, ECA, ChannelAttention") as error:
        AttentionMonitor(nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU()))
    assert all(name in str(error.value) for name in ATTENTION_CLASSES)
    for every in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="AttentionMonitor: argument 'every' expected a positive integer"):
            AttentionMonitor(SEBlock(8, 4), every=every)
    with pytest.raises(TypeError, match="AttentionMonitor: argument 'model' expected a torch.nn.Module"):
        AttentionMonitor(object())


def test_plot_attention_statistics_draws_one_line_per_module_and_key():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from vision_attention.viz import plot_attention_statistics

    rows = [{"step": s, "module": m, "key": k, "mean": 0.5, "std": 0.1, "low": 0.0, "high": 0.0,
             "saturated": 0.1 * s + (0.5 if m == "b" else 0.0), "entropy": float("nan") if k == "channel" else 0.9}
            for s in (0, 0, 1, 2) for m in ("a", "b") for k in ("channel", "spatial")]
    table = pd.DataFrame(rows)
    ax = plot_attention_statistics(table)
    assert [line.get_label() for line in ax.lines] == ["a: channel", "a: spatial", "b: channel", "b: spatial"]
    np.testing.assert_allclose(ax.lines[2].get_ydata(), [0.5, 0.6, 0.7])  # step 0 twice: mean
    assert ax.lines[0].get_linestyle() != ax.lines[1].get_linestyle()
    assert ax.get_ylim() == (-0.02, 1.02)
    entropy = plot_attention_statistics(table, "entropy")
    assert [line.get_label() for line in entropy.lines] == ["a: spatial", "b: spatial"]
    with pytest.raises(ValueError, match="argument 'stat' expected one of"):
        plot_attention_statistics(table, "median")
    with pytest.raises(ValueError, match="argument 'table' expected columns .* missing \\['step'\\]"):
        plot_attention_statistics(table.drop(columns="step"))
    with pytest.raises(ValueError, match="has no finite 'entropy' value"):
        plot_attention_statistics(table[table["key"] == "channel"], "entropy")
    matplotlib.pyplot.close("all")


# --------------------------------------------------------------------------- ablation


@pytest.fixture(scope="module")
def se_and_plain_resnets():
    """``{framework: (attention_resnet(18, "se"), attention_resnet(18, "none"))}``: the plain
    network has the SE network's weights without the ``*.attention.*`` ones."""
    weights = random_weights("attention_resnet", seed=7, depth=18, attention_type="se")
    plain_weights = {k: v for k, v in weights.items() if ".attention." not in k}
    models = {}
    for fw in FRAMEWORKS:
        se = build_module(fw, "attention_resnet", depth=18, attention_type="se")
        plain = build_module(fw, "attention_resnet", depth=18, attention_type="none")
        load_weights(se, weights)
        load_weights(plain, plain_weights)
        models[fw] = (se, plain)
    return models


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_ablating_every_se_module_gives_the_plain_resnet_and_restores(se_and_plain_resnets, framework):
    se, plain = se_and_plain_resnets[framework]
    x = seeded_input(*RESNET_INPUT, seed=2)
    before, weights = forward(framework, se, x), state(framework, se)
    expected = forward(framework, plain, x)
    assert np.abs(before - expected).max() > 1e-2  # the SE modules matter
    with ablate(se, "*") as names:
        assert names == [f"layer{s}.{b}.attention" for s in range(1, 5) for b in range(2)]
        ablated = forward(framework, se, x)
    np.testing.assert_allclose(ablated, expected, rtol=0, atol=OUTPUT_ATOL * np.abs(expected).max())
    np.testing.assert_array_equal(forward(framework, se, x), before)
    after = state(framework, se)
    assert list(after) == list(weights)
    assert all(np.array_equal(after[k], weights[k]) for k in weights)
    assert_no_hooks(framework, se)


def test_ablating_some_modules_changes_only_those_and_restores_on_errors(se_and_plain_resnets):
    """``layer4.*.attention`` ablates the two last blocks' SE; the torch blocks are then the
    plain network's blocks with the SE of layers 1-3 only (per-block check on layer4's input)."""
    import torch

    se, plain = se_and_plain_resnets["torch"]
    x = torch.from_numpy(seeded_input(*RESNET_INPUT, seed=3))
    originals = [block.attention for block in se.layer4]
    with torch.no_grad():
        with ablate(se, ["layer4.*.attention", "layer4.0.attention"]) as names:
            assert names == ["layer4.0.attention", "layer4.1.attention"]
            assert type(se.layer1[0].attention).__name__ == "SEBlock"
            h = se.layer3(se.layer2(se.layer1(se.maxpool(se.relu(se.bn1(se.conv1(x)))))))
            torch.testing.assert_close(se.layer4(h), plain.layer4(h), rtol=0, atol=0)
        assert [block.attention for block in se.layer4] == originals
        with pytest.raises(KeyError):
            with ablate(se, "layer2.1.attention"):
                raise KeyError("inside the block")
        assert type(se.layer2[1].attention).__name__ == "SEBlock"


@pytest.mark.parametrize("names, error, message", [
    ("layer9.0.attention", ValueError, "ablate: argument 'names' has 'layer9.0.attention', which names no attention "
                                       "module of the model; valid names (8): 'layer1.0.attention', "
                                       "'layer1.1.attention', 'layer2.0.attention', 'layer2.1.attention', ..."),
    ("layer1.0.attention.fc1", ValueError, "which names no attention module"),  # inner modules are not names
    (["layer1.0.attention", "layer5.*"], ValueError, "has 'layer5.*', which names no attention module"),
    ([], TypeError, "ablate: argument 'names' expected a module name, a glob pattern or a non-empty list"),
    (3, TypeError, "argument 'names' expected a module name"),
])
def test_ablate_rejects_unknown_names(se_and_plain_resnets, names, error, message):
    se, _ = se_and_plain_resnets["torch"]
    with pytest.raises(error) as raised:
        with ablate(se, names):
            pass
    assert message in str(raised.value)
    assert all(type(block.attention).__name__ == "SEBlock" for block in se.layer1)


def test_ablate_refuses_modules_whose_output_is_not_shaped_like_their_input(loaded_modules):
    from torch import nn

    from vision_attention.torch import MultiScaleAttention

    net = nn.Sequential()
    net.fusion = MultiScaleAttention((4, 8), hidden=5, pool_size=2)
    with pytest.raises(ValueError, match="ablate: argument 'names' selects fusion \\(MultiScaleAttention\\), whose "
                                         "output does not have its input's shape; only SEBlock"):
        with ablate(net, "fusion"):
            pass
    with pytest.raises(ValueError, match="ablate: argument 'model' is itself an attention module \\(SEBlock\\)"):
        with ablate(loaded_modules.get("SEBlock", 16)[1]["tensorflow"], "SEBlock"):
            pass
    with pytest.raises(ValueError, match="ablate: argument 'model' \\(Sequential\\) contains no attention module"):
        with ablate(nn.Sequential(nn.ReLU()), "*"):
            pass
