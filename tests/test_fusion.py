"""The multi-scale fusion modules and the quality head (IQA chapter) in PyTorch, Paddle and TensorFlow.

Every framework's modules are held to an independent float64 numpy transcription of the IQA
fusion note's equations (pooling to ``p x p`` with a ``(H/p) x (W/p)`` window, GAP of the last
stage, the two-layer MLP, softmax over stages, scaling, concatenation; the quality head's 1x1
convolution, ReLU, GAP and linear layer), loaded with the PyTorch module's ``state_dict``. Also:
the weights are a distribution over stages, the two call styles agree, dropout is off in
inference, the parameter count is the formula's, the frameworks' signatures and attributes
agree, and every bad argument or input raises the same message in the three frameworks (the
layout string and the shape printed in the framework's own layout: NCHW for PyTorch and Paddle,
NHWC for TensorFlow). Cross-framework parity of gradients and training: test_parity_fusion.py.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from conftest import OUTPUT_ATOL

import vision_attention.paddle as vp  # noqa: I001  (paddle before tensorflow)
import vision_attention.torch as vt
import vision_attention.tensorflow as vtf
from vision_attention._frameworks import import_paddle, import_tensorflow
from vision_attention.parity import load_weights

import torch

paddle = import_paddle()
tf = import_tensorflow()

FRAMEWORKS = ("torch", "paddle", "tensorflow")
PACKAGES = {"torch": vt, "paddle": vp, "tensorflow": vtf}
CLASSES = ("MultiScaleAttention", "MultiScaleConcat", "SingleScale", "QualityHead", "MultiScaleIQA")
LAYOUT = {"torch": "NCHW", "paddle": "NCHW", "tensorflow": "NHWC"}


# --- framework plumbing (inputs are NCHW numpy; TensorFlow gets and returns NHWC) -----------------

def _layout_shape(fw: str, shape: tuple) -> tuple:
    """``shape`` (NCHW) as the framework sees it: NHWC for TensorFlow when 4-D."""
    if fw == "tensorflow" and len(shape) == 4:
        return (shape[0], shape[2], shape[3], shape[1])
    return tuple(shape)


def _tensor(fw: str, a: np.ndarray):
    a = np.asarray(a, dtype=np.float32)
    if fw == "torch":
        return torch.from_numpy(a.copy())
    if fw == "paddle":
        return paddle.to_tensor(a)
    return tf.convert_to_tensor(np.ascontiguousarray(np.transpose(a, (0, 2, 3, 1))) if a.ndim == 4 else a)


def _numpy(fw: str, t) -> np.ndarray:
    a = t.detach().numpy() if fw == "torch" else np.asarray(t)
    return np.transpose(a, (0, 3, 1, 2)) if fw == "tensorflow" and a.ndim == 4 else a


def _build(fw: str, name: str, torch_module=None, **kwargs):
    """``name(**kwargs)`` in ``fw``, in inference mode; with the weights of ``torch_module``
    (which is itself the PyTorch module)."""
    if fw == "torch" and torch_module is not None:
        return torch_module.eval()
    module = getattr(PACKAGES[fw], name)(**kwargs)
    if torch_module is not None:
        load_weights(module, {k: v.numpy() for k, v in torch_module.state_dict().items()})
    if fw != "tensorflow":
        module.eval()
    return module


def _call(fw: str, module, *inputs, train: bool = False, **kwargs):
    if fw == "tensorflow":
        return module(*inputs, training=train, **kwargs)
    module.train(train)
    try:
        return module(*inputs, **kwargs)
    finally:
        module.eval()


def _stages(shapes, seed=0):
    rng = np.random.default_rng([seed, len(shapes)])
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _reference_torch(name: str, seed: int, **kwargs):
    """The PyTorch module with every parameter drawn from ``seed`` (biases too: PyTorch's
    default initialisation would already do, but a fixed draw makes the cases reproducible)."""
    module = getattr(vt, name)(**kwargs)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    return module.eval()


# --- the independent numpy computation (float64, NCHW) ----------------------------------------

def np_pool(f: np.ndarray, p: int) -> np.ndarray:
    """Mean over each of the ``p x p`` blocks of size ``(H/p, W/p)``."""
    b, c, h, w = f.shape
    return f.reshape(b, c, p, h // p, p, w // p).mean(axis=(3, 5))


def np_fusion(kind: str, sd: dict, features, p: int, prefix: str = ""):
    """``(y, w)`` of the fusion ``kind`` with weights ``sd`` (PyTorch ``state_dict`` arrays)."""
    pooled = [np_pool(np.asarray(f, np.float64), p) for f in features]
    if kind == "concat":
        return np.concatenate(pooled, axis=1), None
    if kind == "single":
        return pooled[-1], None
    W1, b1 = sd[prefix + "attention_net.0.weight"], sd[prefix + "attention_net.0.bias"]
    W2, b2 = sd[prefix + "attention_net.3.weight"], sd[prefix + "attention_net.3.bias"]
    gap = pooled[-1].mean(axis=(2, 3))                      # (B, C_last)
    logits = np.maximum(gap @ W1.T + b1, 0.0) @ W2.T + b2   # (B, S); dropout off in inference
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    w = e / e.sum(axis=1, keepdims=True)
    return np.concatenate([w[:, i, None, None, None] * f for i, f in enumerate(pooled)], axis=1), w


def np_quality_head(sd: dict, x: np.ndarray, prefix: str = "") -> np.ndarray:
    Wc, bc = sd[prefix + "conv.weight"][:, :, 0, 0], sd[prefix + "conv.bias"]
    h = np.maximum(np.einsum("oc,bchw->bohw", Wc, np.asarray(x, np.float64)) + bc[None, :, None, None], 0.0)
    return h.mean(axis=(2, 3)) @ sd[prefix + "fc.weight"].T + sd[prefix + "fc.bias"]


def _state(module) -> dict:
    return {k: v.detach().double().numpy() for k, v in module.state_dict().items()}


# pool_size, in_channels, NCHW stage shapes: non-square maps, windows of 1x1 up to 4x6, and the
# last stage already at p x p (passed through) in the first case
CONFIGS = {
    "p2": (2, (3, 5, 4), [(2, 3, 8, 12), (2, 5, 4, 6), (2, 4, 2, 2)]),
    "p3": (3, (2, 4), [(3, 2, 12, 9), (3, 4, 6, 3)]),
}
FUSION_CLASS = {"attention": "MultiScaleAttention", "concat": "MultiScaleConcat", "single": "SingleScale"}


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("kind", list(FUSION_CLASS))
def test_fusion_follows_the_equations(fw, config, kind):
    p, channels, shapes = CONFIGS[config]
    kwargs = {"in_channels": channels, "pool_size": p}
    if kind == "attention":
        kwargs.update(hidden=6, dropout=0.3)
    reference = _reference_torch(FUSION_CLASS[kind], 1, **kwargs)
    module = _build(fw, FUSION_CLASS[kind], reference, **kwargs)
    features = _stages(shapes)
    y_ref, w_ref = np_fusion(kind, _state(reference), features, p)
    inputs = [_tensor(fw, f) for f in features]
    if kind == "attention":
        y, maps = _call(fw, module, *inputs, return_attention=True)
        assert list(maps) == ["scale_weights"]
        w = _numpy(fw, maps["scale_weights"])
        assert w.shape == (shapes[0][0], len(channels))
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=OUTPUT_ATOL)
        assert np.all(w > 0) and np.allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-6)
        assert w_ref.std() > 0.02  # the weights are not uniform: the scaling is tested
    else:
        y = _call(fw, module, *inputs)
    y = _numpy(fw, y)
    out_channels = channels[-1] if kind == "single" else sum(channels)
    assert y.shape == (shapes[0][0], out_channels, p, p) == y_ref.shape
    assert module.out_channels == out_channels
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=OUTPUT_ATOL)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_quality_head_follows_the_equations(fw):
    reference = _reference_torch("QualityHead", 2, in_channels=5, hidden=7)
    head = _build(fw, "QualityHead", reference, in_channels=5, hidden=7)
    x = _stages([(3, 5, 4, 6)])[0]
    score = _numpy(fw, _call(fw, head, _tensor(fw, x)))
    assert score.shape == (3, 1)
    np.testing.assert_allclose(score, np_quality_head(_state(reference), x), rtol=0, atol=OUTPUT_ATOL)


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("kind", list(FUSION_CLASS))
def test_multiscale_iqa_is_the_head_on_the_fusion(fw, kind):
    p, channels, shapes = CONFIGS["p2"]
    kwargs = {"in_channels": channels, "pool_size": p, "fusion": kind, "hidden": 6, "head_channels": 3}
    reference = _reference_torch("MultiScaleIQA", 3, **kwargs)
    model = _build(fw, "MultiScaleIQA", reference, **kwargs)
    assert model.fusion_kind == kind and type(model.fusion).__name__ == FUSION_CLASS[kind]
    features = _stages(shapes, seed=4)
    sd = _state(reference)
    fused, w_ref = np_fusion(kind, sd, features, p, prefix="fusion.")
    score, maps = _call(fw, model, *[_tensor(fw, f) for f in features], return_attention=True)
    np.testing.assert_allclose(_numpy(fw, score), np_quality_head(sd, fused, prefix="head."), rtol=0,
                               atol=OUTPUT_ATOL)
    if kind == "attention":
        np.testing.assert_allclose(_numpy(fw, maps["scale_weights"]), w_ref, rtol=0, atol=OUTPUT_ATOL)
    else:
        assert maps == {}
    plain = _call(fw, model, *[_tensor(fw, f) for f in features])
    np.testing.assert_array_equal(_numpy(fw, plain), _numpy(fw, score))


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("name", ["MultiScaleAttention", "MultiScaleConcat", "SingleScale", "MultiScaleIQA"])
def test_maps_positionally_or_as_one_list(fw, name):
    p, channels, shapes = CONFIGS["p2"]
    module = _build(fw, name, in_channels=channels, pool_size=p)
    inputs = [_tensor(fw, f) for f in _stages(shapes, seed=5)]
    positional = _numpy(fw, _call(fw, module, *inputs))
    np.testing.assert_array_equal(_numpy(fw, _call(fw, module, inputs)), positional)
    np.testing.assert_array_equal(_numpy(fw, _call(fw, module, tuple(inputs))), positional)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_dropout_is_active_in_training_only(fw):
    """With dropout 0.5 the inference output is deterministic and is the numpy computation
    without dropout; in training mode the weights change (a mask of 32 hidden units on each of
    two images is all ones with probability 2**-64)."""
    p, channels, shapes = CONFIGS["p2"]
    kwargs = {"in_channels": channels, "pool_size": p, "hidden": 32, "dropout": 0.5}
    reference = _reference_torch("MultiScaleAttention", 6, **kwargs)
    module = _build(fw, "MultiScaleAttention", reference, **kwargs)
    features = _stages(shapes, seed=6)
    inputs = [_tensor(fw, f) for f in features]
    _, w_ref = np_fusion("attention", _state(reference), features, p)
    first = _numpy(fw, _call(fw, module, *inputs, return_attention=True)[1]["scale_weights"])
    second = _numpy(fw, _call(fw, module, *inputs, return_attention=True)[1]["scale_weights"])
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, w_ref, rtol=0, atol=OUTPUT_ATOL)
    trained = _numpy(fw, _call(fw, module, *inputs, train=True, return_attention=True)[1]["scale_weights"])
    assert np.abs(trained - first).max() > 1e-3
    np.testing.assert_allclose(trained.sum(axis=1), 1.0, rtol=0, atol=1e-6)


def test_tensorflow_pools_maps_of_unknown_size():
    """Traced with unknown height and width, the Keras modules average over a reshape instead
    of ``avg_pool2d`` (whose window must be static); the result is the eager one."""
    p, channels, shapes = CONFIGS["p2"]
    module = vtf.MultiScaleIQA(in_channels=channels, pool_size=p, hidden=6)
    inputs = [_tensor("tensorflow", f) for f in _stages(shapes, seed=7)]
    spec = [tf.TensorSpec((None, None, None, c), tf.float32) for c in channels]
    traced = tf.function(lambda *fs: module(*fs, return_attention=True), input_signature=spec)
    (y, maps), (y_eager, maps_eager) = traced(*inputs), module(*inputs, return_attention=True)
    np.testing.assert_allclose(y.numpy(), y_eager.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(maps["scale_weights"].numpy(), maps_eager["scale_weights"].numpy(), rtol=0,
                               atol=1e-7)


def _parameter_count(fw: str, module) -> int:
    if fw == "tensorflow":
        return sum(int(np.prod(v.shape)) for v in module.trainable_weights)
    return sum(int(np.prod(p.shape)) for p in module.parameters())


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_parameter_counts_with_the_defaults(fw):
    """The note's module with Swin-T widths: ``C_last * hidden + hidden + hidden * S + S``
    (both biases counted) = 197,892, not the note's 197,632."""
    c_last, hidden, stages = 768, 256, 4
    formula = c_last * hidden + hidden + hidden * stages + stages
    assert formula == 197_892
    attention = _build(fw, "MultiScaleAttention")
    assert attention.in_channels == (96, 192, 384, 768) and attention.out_channels == 1440
    assert _parameter_count(fw, attention) == formula
    assert _parameter_count(fw, _build(fw, "MultiScaleConcat")) == 0
    assert _parameter_count(fw, _build(fw, "SingleScale")) == 0
    head = 1440 * 64 + 64 + 64 * 1 + 1
    assert _parameter_count(fw, _build(fw, "QualityHead", in_channels=1440)) == head
    assert _parameter_count(fw, _build(fw, "MultiScaleIQA")) == formula + head
    single_head = 768 * 64 + 64 + 64 + 1
    assert _parameter_count(fw, _build(fw, "MultiScaleIQA", fusion="single")) == single_head


def _signature(cls) -> list:
    return [(p.name, p.default) for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD]


@pytest.mark.parametrize("name", CLASSES)
def test_signatures_and_attributes_mirror_torch(name):
    assert _signature(getattr(vp, name)) == _signature(getattr(vtf, name)) == _signature(getattr(vt, name))
    kwargs = {"in_channels": 6} if name == "QualityHead" else {"in_channels": (2, 3), "pool_size": 2}
    attrs = ["in_channels", "hidden"] if name == "QualityHead" else ["fusion_kind"] if name == "MultiScaleIQA" \
        else ["in_channels", "out_channels", "pool_size"]
    if name == "MultiScaleAttention":
        attrs += ["hidden", "dropout"]
    torch_module = getattr(vt, name)(**kwargs)
    for fw in ("paddle", "tensorflow"):
        module = getattr(PACKAGES[fw], name)(**kwargs)
        assert [getattr(module, a) for a in attrs] == [getattr(torch_module, a) for a in attrs], fw
    if name == "MultiScaleAttention":
        # Linear at 0 and 3, ReLU at 1, Dropout at 2 in every framework
        kinds = {"torch": ("Linear", "ReLU", "Dropout", "Linear"), "paddle": ("Linear", "ReLU", "Dropout", "Linear"),
                 "tensorflow": ("Dense", "ReLU", "Dropout", "Dense")}
        for fw, expected in kinds.items():
            module = torch_module if fw == "torch" else getattr(PACKAGES[fw], name)(**kwargs)
            assert tuple(type(layer).__name__ for layer in module.attention_net) == expected, fw
            dropout = module.attention_net[2]
            assert (dropout.rate if fw == "tensorflow" else dropout.p) == 0.1, fw


# --- errors: the same message in the three frameworks ------------------------------------------

def _message(fn) -> str:
    with pytest.raises(ValueError) as info:
        fn()
    assert type(info.value) is ValueError
    return str(info.value)


SEQ = "a non-empty sequence of positive integers (channels of each stage)"
CONSTRUCTOR_CASES = [
    ("MultiScaleAttention", {"in_channels": ()}, f"MultiScaleAttention: argument 'in_channels' expected {SEQ}, got ()"),
    ("MultiScaleAttention", {"in_channels": "abc"}, f"MultiScaleAttention: argument 'in_channels' expected {SEQ}, got 'abc'"),
    ("MultiScaleAttention", {"in_channels": 96}, f"MultiScaleAttention: argument 'in_channels' expected {SEQ}, got 96"),
    ("MultiScaleAttention", {"in_channels": (4, 0, 8)},
     "MultiScaleAttention: argument 'in_channels[1]' expected a positive integer, got 0"),
    ("MultiScaleAttention", {"in_channels": [4, -2]},
     "MultiScaleAttention: argument 'in_channels[1]' expected a positive integer, got -2"),
    ("MultiScaleAttention", {"in_channels": (4.0, 8)},
     "MultiScaleAttention: argument 'in_channels[0]' expected a positive integer, got 4.0"),
    ("MultiScaleAttention", {"hidden": 0}, "MultiScaleAttention: argument 'hidden' expected a positive integer, got 0"),
    ("MultiScaleAttention", {"hidden": 2.5}, "MultiScaleAttention: argument 'hidden' expected a positive integer, got 2.5"),
    ("MultiScaleAttention", {"dropout": -0.1}, "MultiScaleAttention: argument 'dropout' expected a number in [0, 1), got -0.1"),
    ("MultiScaleAttention", {"dropout": 1.0}, "MultiScaleAttention: argument 'dropout' expected a number in [0, 1), got 1.0"),
    ("MultiScaleAttention", {"dropout": True}, "MultiScaleAttention: argument 'dropout' expected a number in [0, 1), got True"),
    ("MultiScaleAttention", {"dropout": "0.1"},
     "MultiScaleAttention: argument 'dropout' expected a number in [0, 1), got '0.1'"),
    ("MultiScaleAttention", {"pool_size": 0}, "MultiScaleAttention: argument 'pool_size' expected a positive integer, got 0"),
    ("MultiScaleAttention", {"pool_size": (7, 7)},
     "MultiScaleAttention: argument 'pool_size' expected a positive integer, got (7, 7)"),
    ("MultiScaleConcat", {"in_channels": []}, f"MultiScaleConcat: argument 'in_channels' expected {SEQ}, got []"),
    ("MultiScaleConcat", {"pool_size": 1.0}, "MultiScaleConcat: argument 'pool_size' expected a positive integer, got 1.0"),
    ("SingleScale", {"in_channels": (8, None)},
     "SingleScale: argument 'in_channels[1]' expected a positive integer, got None"),
    ("SingleScale", {"pool_size": -1}, "SingleScale: argument 'pool_size' expected a positive integer, got -1"),
    ("QualityHead", {"in_channels": 0}, "QualityHead: argument 'in_channels' expected a positive integer, got 0"),
    ("QualityHead", {"in_channels": 8, "hidden": 0}, "QualityHead: argument 'hidden' expected a positive integer, got 0"),
    ("MultiScaleIQA", {"fusion": "max"},
     "MultiScaleIQA: argument 'fusion' expected one of ('attention', 'concat', 'single'), got 'max'"),
    ("MultiScaleIQA", {"fusion": None},
     "MultiScaleIQA: argument 'fusion' expected one of ('attention', 'concat', 'single'), got None"),
    ("MultiScaleIQA", {"in_channels": (), "fusion": "concat"},
     f"MultiScaleConcat: argument 'in_channels' expected {SEQ}, got ()"),
    ("MultiScaleIQA", {"dropout": 1.5}, "MultiScaleIQA: argument 'dropout' expected a number in [0, 1), got 1.5"),
    # checked for every fusion, and under the name of the argument the caller passed
    ("MultiScaleIQA", {"fusion": "concat", "hidden": -1},
     "MultiScaleIQA: argument 'hidden' expected a positive integer, got -1"),
    ("MultiScaleIQA", {"fusion": "single", "dropout": -0.1},
     "MultiScaleIQA: argument 'dropout' expected a number in [0, 1), got -0.1"),
    ("MultiScaleIQA", {"head_channels": 0},
     "MultiScaleIQA: argument 'head_channels' expected a positive integer, got 0"),
]


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("name, kwargs, expected", CONSTRUCTOR_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1])}-{i}" for i, c in enumerate(CONSTRUCTOR_CASES)])
def test_bad_constructor_arguments(fw, name, kwargs, expected):
    assert _message(lambda: getattr(PACKAGES[fw], name)(**kwargs)) == expected


GOOD = [(2, 4, 8, 12), (2, 6, 4, 6), (2, 8, 2, 2)]   # in_channels (4, 6, 8), pool_size 2


def _shape_text(fw: str, shape: tuple) -> str:
    return str(_layout_shape(fw, shape))


def _layout_text(fw: str) -> str:
    return "(B, C, H, W)" if LAYOUT[fw] == "NCHW" else "(B, H, W, C)"


# (description, NCHW stage shapes, message after "<owner>: argument ", built per framework)
INPUT_CASES = [
    ("two maps", GOOD[:2],
     lambda fw: "'features' expected 3 stage maps (one per entry of in_channels=(4, 6, 8)), got 2"),
    ("four maps", GOOD + [(2, 8, 2, 2)],
     lambda fw: "'features' expected 3 stage maps (one per entry of in_channels=(4, 6, 8)), got 4"),
    ("no maps", [], lambda fw: "'features' expected 3 stage maps (one per entry of in_channels=(4, 6, 8)), got 0"),
    ("channels", [GOOD[0], (2, 5, 4, 6), GOOD[2]],
     lambda fw: f"'features[1]' expected 6 channels (in_channels[1]) in layout {_layout_text(fw)}, got 5 "
                f"channels in shape {_shape_text(fw, (2, 5, 4, 6))}"),
    ("channels of the last", [GOOD[0], GOOD[1], (2, 4, 2, 2)],
     lambda fw: f"'features[2]' expected 8 channels (in_channels[2]) in layout {_layout_text(fw)}, got 4 "
                f"channels in shape {_shape_text(fw, (2, 4, 2, 2))}"),
    ("3-D", [(2, 4, 8), GOOD[1], GOOD[2]],
     lambda fw: f"'features[0]' expected a 4-D tensor {_layout_text(fw)} ({LAYOUT[fw]}), got a 3-D tensor "
                f"of shape (2, 4, 8)"),
    ("5-D", [GOOD[0], (1, 2, 6, 4, 6), GOOD[2]],
     lambda fw: f"'features[1]' expected a 4-D tensor {_layout_text(fw)} ({LAYOUT[fw]}), got a 5-D tensor "
                f"of shape (1, 2, 6, 4, 6)"),
    ("batch", [GOOD[0], GOOD[1], (3, 8, 2, 2)],
     lambda fw: f"'features[2]' expected the batch size of features[0] (2), got 3 in shape "
                f"{_shape_text(fw, (3, 8, 2, 2))}"),
    ("height", [(2, 4, 7, 12), GOOD[1], GOOD[2]],
     lambda fw: f"'features[0]' expected a height and width divisible by pool_size=2 (average pooling to "
                f"2 x 2), got H=7, W=12 in shape {_shape_text(fw, (2, 4, 7, 12))}"),
    ("width", [GOOD[0], (2, 6, 4, 5), GOOD[2]],
     lambda fw: f"'features[1]' expected a height and width divisible by pool_size=2 (average pooling to "
                f"2 x 2), got H=4, W=5 in shape {_shape_text(fw, (2, 6, 4, 5))}"),
    ("smaller than the pool", [GOOD[0], GOOD[1], (2, 8, 1, 1)],
     lambda fw: f"'features[2]' expected a height and width divisible by pool_size=2 (average pooling to "
                f"2 x 2), got H=1, W=1 in shape {_shape_text(fw, (2, 8, 1, 1))}"),
]
# (module, constructor arguments, the class named in its stage errors)
STAGE_MODULES = [
    ("MultiScaleAttention", {"hidden": 5}, "MultiScaleAttention"),
    ("MultiScaleConcat", {}, "MultiScaleConcat"),
    ("SingleScale", {}, "SingleScale"),
    ("MultiScaleIQA", {"fusion": "attention"}, "MultiScaleAttention"),
    ("MultiScaleIQA", {"fusion": "single"}, "SingleScale"),
]


def _input(fw: str, shape: tuple):
    return _tensor(fw, np.zeros(shape, np.float32))


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("module_case", range(len(STAGE_MODULES)),
                         ids=[f"{m[0]}-{m[2]}" for m in STAGE_MODULES])
@pytest.mark.parametrize("case", range(len(INPUT_CASES)), ids=[c[0] for c in INPUT_CASES])
def test_bad_stage_maps(fw, module_case, case):
    name, extra, owner = STAGE_MODULES[module_case]
    _, shapes, expected = INPUT_CASES[case]
    module = _build(fw, name, in_channels=(4, 6, 8), pool_size=2, **extra)
    inputs = [_input(fw, s) for s in shapes]
    want = f"{owner}: argument {expected(fw)}"
    assert _message(lambda: _call(fw, module, *inputs)) == want
    assert _message(lambda: _call(fw, module, inputs)) == want  # the same as one list


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("name", ["MultiScaleAttention", "MultiScaleIQA"])
@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_return_attention_must_be_a_bool(fw, name, value):
    module = _build(fw, name, in_channels=(4, 6, 8), pool_size=2)
    inputs = [_input(fw, s) for s in GOOD]
    assert _message(lambda: _call(fw, module, *inputs, return_attention=value)) == (
        f"{name}: argument 'return_attention' expected a bool (True or False), got {value!r}")


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_bad_quality_head_inputs(fw):
    head = _build(fw, "QualityHead", in_channels=6, hidden=3)
    layout = _layout_text(fw)
    assert _message(lambda: _call(fw, head, _input(fw, (2, 6, 4)))) == (
        f"QualityHead: argument 'x' expected a 4-D tensor {layout} ({LAYOUT[fw]}), got a 3-D tensor of shape "
        f"(2, 6, 4)")
    assert _message(lambda: _call(fw, head, _input(fw, (2, 5, 4, 4)))) == (
        f"QualityHead: argument 'x' expected 6 channels (in_channels) in layout {layout}, got 5 channels in "
        f"shape {_shape_text(fw, (2, 5, 4, 4))}")
