"""The canonical weight format: round trips, error reporting, layout conversions, and proof
that the parity harness catches deliberate layout mistakes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import GRAD_ATOL, MODULES, OUTPUT_ATOL, module_kwargs, seeded_input

import vision_attention.parity as parity
from vision_attention._frameworks import import_paddle, import_tensorflow
from vision_attention.parity import (
    FRAMEWORKS,
    WeightMismatchError,
    build_module,
    compare_frameworks,
    difference_table,
    export_weights,
    load_weights,
    random_weights,
    run_module,
)
from vision_attention.parity import layouts

paddle = import_paddle()
tf = import_tensorflow()
import keras  # noqa: E402
import torch  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_single_thread")

def _assert_same_weights(a: dict, b: dict):
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == np.float32 and b[name].dtype == np.float32, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name", MODULES)
def test_export_load_export_round_trip_is_exact(framework, name):
    kwargs = module_kwargs(name, 64)
    reference = random_weights(name, seed=1, **kwargs)
    module = build_module(framework, name, **kwargs)
    load_weights(module, reference)
    exported = export_weights(module)
    assert set(exported) == set(reference)
    _assert_same_weights({k: reference[k] for k in exported}, exported)

    fresh = build_module(framework, name, **kwargs)
    load_weights(fresh, exported)
    _assert_same_weights(exported, export_weights(fresh))


@pytest.mark.parametrize("name", MODULES)
def test_canonical_names_are_the_torch_state_dict_keys_in_every_framework(name):
    kwargs = module_kwargs(name, 64)
    torch_module = build_module("torch", name, **kwargs)
    keys = [k for k in torch_module.state_dict() if not k.endswith("num_batches_tracked")]
    for fw in FRAMEWORKS:
        exported = export_weights(build_module(fw, name, **kwargs))
        assert sorted(exported) == sorted(keys), fw
        for key in keys:
            assert exported[key].shape == tuple(torch_module.state_dict()[key].shape), (fw, key)


def test_export_returns_copies():
    module = build_module("tensorflow", "SEBlock", in_channels=16, reduction_ratio=8)
    exported = export_weights(module)
    exported["fc1.weight"][...] = 123.0
    assert not np.any(export_weights(module)["fc1.weight"] == 123.0)


def test_random_weights_are_seeded_and_non_trivial():
    a = random_weights("BAM", seed=3, in_channels=64)
    b = random_weights("BAM", seed=3, in_channels=64)
    c = random_weights("BAM", seed=4, in_channels=64)
    _assert_same_weights(a, b)
    assert not np.array_equal(a["spatial_gate.reduce_bn.running_var"], c["spatial_gate.reduce_bn.running_var"])
    for suffix in ("weight", "bias", "running_mean", "running_var"):
        value = a[f"channel_gate.bn.{suffix}"]
        assert np.unique(value).size == value.size, suffix  # not a constant like 0 or 1
    assert (a["channel_gate.bn.running_var"] > 0).all()


def test_torch_state_dict_with_num_batches_tracked_loads():
    module = build_module("torch", "CBAM", in_channels=16, reduction_ratio=8)
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    assert any(k.endswith("num_batches_tracked") for k in state)
    target = build_module("paddle", "CBAM", in_channels=16, reduction_ratio=8)
    load_weights(target, state)
    _assert_same_weights(export_weights(module), export_weights(target))


# --------------------------------------------------------------------------- mismatch errors


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mismatched_weights_list_every_offending_name_and_assign_nothing(framework):
    kwargs = {"in_channels": 64, "reduction_ratio": 16}
    module = build_module(framework, "BAM", **kwargs)
    before = export_weights(module)
    weights = random_weights("BAM", seed=5, **kwargs)
    del weights["channel_gate.bn.running_var"]
    del weights["spatial_gate.final_conv.bias"]
    weights["spatial_gate.extra_conv.weight"] = np.zeros((1, 4, 1, 1), np.float32)
    weights["channel_gate.fc1.weight"] = weights["channel_gate.fc1.weight"].T  # (4, 64) -> (64, 4)
    weights["spatial_gate.reduce_conv.weight"] = weights["spatial_gate.reduce_conv.weight"][..., None]

    with pytest.raises(WeightMismatchError) as info:
        load_weights(module, weights)
    error = info.value
    assert isinstance(error, ValueError)
    message = str(error)
    assert error.missing == ["channel_gate.bn.running_var", "spatial_gate.final_conv.bias"]
    assert error.unexpected == ["spatial_gate.extra_conv.weight"]
    assert error.wrong_shape == {
        "channel_gate.fc1.weight": ((4, 64), (64, 4)),
        "spatial_gate.reduce_conv.weight": ((4, 64, 1, 1), (4, 64, 1, 1, 1)),
    }
    for name in error.missing + error.unexpected + list(error.wrong_shape):
        assert name in message
    assert "expected (4, 64), given (64, 4)" in message
    assert "missing (2)" in message and "unexpected (1)" in message and "wrong shape (2)" in message
    assert "nothing was assigned" in message
    _assert_same_weights(before, export_weights(module))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_batchnorm_with_another_eps_is_refused(framework):
    module = build_module(framework, "SpatialAttention")
    bn = module.bn
    if framework == "torch":
        bn.eps = 1e-3
    elif framework == "paddle":
        bn._epsilon = 1e-3
    else:
        bn.epsilon = 1e-3  # Keras's default
    with pytest.raises(WeightMismatchError, match=r"BatchNorm eps differs .*bn \(eps=0.001\)") as info:
        load_weights(module, random_weights("SpatialAttention"))
    assert info.value.wrong_eps == {"bn": pytest.approx(1e-3)}


def test_load_weights_rejects_a_non_mapping():
    module = build_module("torch", "ECA", in_channels=16)
    with pytest.raises(TypeError, match="'weights'"):
        load_weights(module, [np.zeros((1, 1, 3), np.float32)])


def test_objects_from_no_framework_are_refused():
    with pytest.raises(TypeError, match="torch.nn.Module, paddle.nn.Layer or keras.layers.Layer"):
        export_weights(object())


# --------------------------------------------------------------------------- leaf layouts


def _torch_leaf(kind):
    return {
        "conv2d": lambda: torch.nn.Conv2d(4, 6, 3, groups=2),
        "depthwise": lambda: torch.nn.Conv2d(3, 6, 3, groups=3),
        "conv1d": lambda: torch.nn.Conv1d(2, 4, 3),
        "linear": lambda: torch.nn.Linear(5, 3),
        "batchnorm": lambda: torch.nn.BatchNorm2d(4),
    }[kind]()


def _paddle_leaf(kind):
    nn = paddle.nn
    return {
        "conv2d": lambda: nn.Conv2D(4, 6, 3, groups=2),
        "depthwise": lambda: nn.Conv2D(3, 6, 3, groups=3),
        "conv1d": lambda: nn.Conv1D(2, 4, 3),
        "linear": lambda: nn.Linear(5, 3),
        "batchnorm": lambda: nn.BatchNorm2D(4),
    }[kind]()


def _keras_leaf(kind):
    layers = keras.layers
    layer, shape = {
        "conv2d": (layers.Conv2D(6, 3, groups=2), (None, None, None, 4)),
        "depthwise": (layers.DepthwiseConv2D(3, depth_multiplier=2), (None, None, None, 3)),
        "conv1d": (layers.Conv1D(4, 3), (None, None, 2)),
        "linear": (layers.Dense(3), (None, 5)),
        "batchnorm": (layers.BatchNormalization(epsilon=1e-5), (None, None, None, 4)),
    }[kind]
    layer.build(shape)
    return layer


LEAF_INPUTS = {  # canonical (channels-first) input shapes
    "conv2d": (2, 4, 7, 9),
    "depthwise": (2, 3, 7, 9),
    "conv1d": (2, 2, 11),
    "linear": (2, 5),
    "batchnorm": (2, 4, 7, 9),
}


def _random_like(weights: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for name, value in weights.items():
        if name.endswith("running_var"):
            out[name] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
        else:
            out[name] = rng.standard_normal(value.shape).astype(np.float32)
    return out


@pytest.mark.parametrize("kind", sorted(LEAF_INPUTS))
def test_every_leaf_layout_conversion_is_numerically_right(kind):
    """Each converter of :mod:`layouts` is checked by computation, not only by shape: the
    same canonical weights give the same output and input gradient in the three frameworks."""
    modules = {"torch": _torch_leaf(kind), "paddle": _paddle_leaf(kind), "tensorflow": _keras_leaf(kind)}
    weights = _random_like(export_weights(modules["torch"]), seed=len(kind))
    for module in modules.values():
        load_weights(module, weights)
        _assert_same_weights(weights, export_weights(module))
    x = seeded_input(*LEAF_INPUTS[kind])
    results = {}
    for fw, module in modules.items():
        if kind == "conv1d" and fw == "tensorflow":  # rank-3 activations are not converted: NCL <-> NLC here
            outputs, grad = run_module(fw, module, x.transpose(0, 2, 1))
            outputs, grad = {"output": outputs["output"].transpose(0, 2, 1)}, grad.transpose(0, 2, 1)
            results[fw] = (outputs, grad)
        else:
            results[fw] = run_module(fw, module, x)
    table = difference_table(results)
    assert (table["output_max_abs"] <= OUTPUT_ATOL).all(), repr(table)
    assert (table["grad_max_abs"] <= GRAD_ATOL).all(), repr(table)


def test_attribute_walk_names_keras_lists_dicts_and_sequentials_like_torch():
    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(3, 4), torch.nn.Linear(4, 5)])
            self.seq = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU())
            self.head = torch.nn.Linear(5, 2)
            self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 1)})
            self.nothing = None

    class PaddleNet(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.blocks = paddle.nn.LayerList([paddle.nn.Linear(3, 4), paddle.nn.Linear(4, 5)])
            self.seq = paddle.nn.Sequential(paddle.nn.Conv2D(2, 3, 3), paddle.nn.BatchNorm2D(3), paddle.nn.ReLU())
            self.head = paddle.nn.Linear(5, 2)
            self.heads = paddle.nn.LayerDict({"a": paddle.nn.Linear(2, 1)})
            self.nothing = None

    class KerasNet(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.blocks = [keras.layers.Dense(4), keras.layers.Dense(5)]  # Keras wraps it: TrackedList
            self.seq = keras.Sequential(
                [keras.layers.Conv2D(3, 3), keras.layers.BatchNormalization(epsilon=1e-5), keras.layers.ReLU()]
            )
            self.head = keras.layers.Dense(2)
            self.heads = {"a": keras.layers.Dense(1)}  # Keras wraps it: TrackedDict
            self.nothing = None
            self.heads["a"].build((None, 2))
            self.blocks[0].build((None, 3))
            self.blocks[1].build((None, 4))
            self.seq.build((None, 8, 8, 2))
            self.head.build((None, 5))

    expected = [
        "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
        "seq.0.weight", "seq.0.bias",
        "seq.1.weight", "seq.1.bias", "seq.1.running_mean", "seq.1.running_var",
        "head.weight", "head.bias", "heads.a.weight", "heads.a.bias",
    ]  # fmt: skip
    reference = export_weights(TorchNet())
    assert list(reference) == expected
    weights = _random_like(reference, seed=0)
    for net in (PaddleNet(), KerasNet()):
        assert list(export_weights(net)) == expected
        load_weights(net, weights)
        _assert_same_weights(weights, export_weights(net))


def test_unsupported_weight_layers_are_errors_not_silently_dropped():
    net = torch.nn.Module()
    net.fc = torch.nn.Linear(2, 2)
    net.norm = torch.nn.LayerNorm(2)
    with pytest.raises(NotImplementedError, match=r"norm \(LayerNorm: weight, bias\)"):
        export_weights(net)
    with pytest.raises(NotImplementedError, match=r"1 \(LayerNorm: weight, bias\)"):
        export_weights(paddle.nn.Sequential(paddle.nn.Linear(2, 2), paddle.nn.LayerNorm(2)))
    norm = keras.layers.LayerNormalization()
    norm.build((None, 2))
    with pytest.raises(NotImplementedError, match="gamma"):
        export_weights(norm)


def test_keras_layers_the_attribute_walk_cannot_reach_are_errors():
    class Hidden(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.fc = keras.layers.Dense(2)
            self._secret = keras.layers.Dense(2)  # private: not part of the naming
            self.fc.build((None, 2))
            self._secret.build((None, 2))

    with pytest.raises(NotImplementedError, match="belong to no supported"):
        export_weights(Hidden())


def test_unbuilt_keras_layers_are_reported_and_can_be_built_by_one_call():
    model = keras.Sequential([keras.layers.Dense(3), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"not built.*Unbuilt layers: 0, 1"):
        export_weights(model)
    from vision_attention.parity import _tensorflow

    _tensorflow.ensure_built(model, (1, 4))  # what build_module does for TensorFlow
    assert {k: v.shape for k, v in export_weights(model).items()} == {
        "0.weight": (3, 4), "0.bias": (3,), "1.weight": (2, 3), "1.bias": (2,)
    }


# --------------------------------------------------------------------------- deliberate mistakes


def _without_transpose(converter: layouts.Converter) -> layouts.Converter:
    """The classic porting bug: the right shape, reached by reshaping instead of transposing."""
    return dataclasses.replace(
        converter,
        name="reshape (bug)",
        to_canonical=lambda a: a.reshape(converter.canonical_shape(a.shape)),
        from_canonical=lambda a, shape: np.ascontiguousarray(a).reshape(shape),
    )


def _patch(monkeypatch, framework, kind, **replacements):
    specs = tuple(
        dataclasses.replace(s, converter=replacements[s.canonical_name](s.converter))
        if s.canonical_name in replacements
        else s
        for s in layouts.PARAMS[framework][kind]
    )
    monkeypatch.setitem(layouts.PARAMS[framework], kind, specs)


def _assert_only_pairs_with_broken_framework_fail(table, broken: str, column="output_max_abs"):
    for pair, value in zip(table["pair"], table[column]):
        if broken in pair.split("-"):  # NaN (e.g. a negative variance) counts as caught
            assert not value <= 100 * OUTPUT_ATOL, f"mistake not caught in {pair}\n{table!r}"
        else:
            assert value <= OUTPUT_ATOL, f"{pair}\n{table!r}"


def test_harness_catches_a_conv_kernel_loaded_without_its_transpose(monkeypatch):
    x = seeded_input(2, 16, 7, 9)
    clean = compare_frameworks("SpatialAttention", x, grad=False)
    assert (clean["output_max_abs"] <= OUTPUT_ATOL).all(), repr(clean)
    # Write the OIHW kernel raw into the HWIO variable (shape fixed by a reshape).
    _patch(monkeypatch, "tensorflow", "conv2d", weight=_without_transpose)
    broken = compare_frameworks("SpatialAttention", x, grad=False)
    _assert_only_pairs_with_broken_framework_fail(broken, "tensorflow")


def test_harness_catches_a_linear_weight_loaded_without_its_transpose(monkeypatch):
    _patch(monkeypatch, "paddle", "linear", weight=_without_transpose)
    broken = compare_frameworks("SEBlock", seeded_input(1, 64, 8, 8), in_channels=64, grad=False)
    _assert_only_pairs_with_broken_framework_fail(broken, "paddle")


def test_harness_catches_swapped_batchnorm_statistics(monkeypatch):
    specs = {s.canonical_name: s for s in layouts.PARAMS["paddle"]["batchnorm"]}
    swapped = (
        specs["weight"],
        specs["bias"],
        dataclasses.replace(specs["running_mean"], framework_name="_variance"),
        dataclasses.replace(specs["running_var"], framework_name="_mean"),
    )
    monkeypatch.setitem(layouts.PARAMS["paddle"], "batchnorm", swapped)
    broken = compare_frameworks("BAM", seeded_input(1, 64, 7, 9), in_channels=64, grad=False)
    _assert_only_pairs_with_broken_framework_fail(broken, "paddle")


def test_harness_catches_keras_default_batchnorm_eps():
    """Keras's BatchNormalization defaults to eps=1e-3; load_weights refuses it, and if the
    eps changes after loading the comparison shows the difference."""
    weights = random_weights("SpatialAttention")
    x = seeded_input(2, 16, 7, 9)
    results = {}
    for fw in ("torch", "tensorflow"):
        module = build_module(fw, "SpatialAttention")
        load_weights(module, weights)
        if fw == "tensorflow":
            module.bn.epsilon = 1e-3
        results[fw] = run_module(fw, module, x, grad=False)
    table = difference_table(results)
    assert table["output_max_abs"].iloc[0] > OUTPUT_ATOL, repr(table)


def test_harness_refuses_outputs_in_the_wrong_layout():
    """An NHWC attention map compared with an NCHW one is an error, not a broadcast."""
    y = np.zeros((2, 8, 5, 5), np.float32)
    results = {
        "torch": ({"output": y, "channel": np.zeros((2, 8, 1, 1), np.float32)}, None),
        "tensorflow": ({"output": y, "channel": np.zeros((2, 1, 1, 8), np.float32)}, None),
    }
    with pytest.raises(ValueError, match=r"shapes differ: \(2, 8, 1, 1\) vs \(2, 1, 1, 8\)"):
        difference_table(results)
    results["tensorflow"] = ({"output": y}, None)
    with pytest.raises(ValueError, match="output keys differ"):
        difference_table(results)


# --------------------------------------------------------------------------- API


def test_compare_frameworks_returns_the_documented_table():
    x = seeded_input(1, 16, 7, 9)
    table = compare_frameworks("CBAM", x, in_channels=16, reduction_ratio=8)
    assert list(table.columns) == list(parity.TABLE_COLUMNS)
    assert list(table["pair"]) == ["torch-paddle", "torch-tensorflow", "paddle-tensorflow"]
    assert table.attrs == {
        "name": "CBAM",
        "kwargs": {"in_channels": 16, "reduction_ratio": 8},
        "input_shape": (1, 16, 7, 9),
    }
    text, html = repr(table), table._repr_html_()
    assert "CBAM(in_channels=16, reduction_ratio=8)" in text and "e-0" in text
    assert "<table" in html and "e-0" in html
    two = compare_frameworks("ECA", x, frameworks=("tensorflow", "torch"), grad=False, in_channels=16)
    assert list(two["pair"]) == ["tensorflow-torch"] and np.isnan(two["grad_max_abs"].iloc[0])


def test_modules_without_attention_report_nan_attention():
    modules = {"torch": torch.nn.Linear(3, 2), "paddle": paddle.nn.Linear(3, 2)}
    load_weights(modules["paddle"], export_weights(modules["torch"]))
    x = seeded_input(4, 3)
    table = difference_table({fw: run_module(fw, m, x) for fw, m in modules.items()})
    assert np.isnan(table["attention_max_abs"].iloc[0])
    assert table["output_max_abs"].iloc[0] <= OUTPUT_ATOL


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: build_module("jax", "SEBlock", in_channels=16), "'framework'"),
        (lambda: build_module("torch", "Transformer"), "'name'"),
        (lambda: run_module("paddle", build_module("torch", "ECA", in_channels=16), seeded_input(1, 16, 4, 4)), "'framework'"),
        (lambda: compare_frameworks("ECA", seeded_input(1, 16, 4, 4), frameworks=("torch",), in_channels=16), "'frameworks'"),
        (lambda: compare_frameworks("ECA", seeded_input(1, 16, 4, 4), frameworks=("torch", "torch"), in_channels=16), "'frameworks'"),
        (lambda: compare_frameworks("ECA", seeded_input(1, 16, 4, 4), frameworks=("torch", "mxnet"), in_channels=16), "'framework'"),
    ],
)
def test_parity_api_rejects_bad_arguments(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


def test_self_attention_weights_keep_their_layout_in_every_framework():
    from vision_attention.parity.layouts import outputs_from_framework

    attn = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    act = np.zeros((1, 2, 3, 4), np.float32)
    out = outputs_from_framework("tensorflow", {"attention_weights": attn, "spatial": act})
    np.testing.assert_array_equal(out["attention_weights"], attn)
    assert out["spatial"].shape == (1, 4, 2, 3)
