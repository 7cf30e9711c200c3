"""Bad arguments and bad inputs raise ValueError naming the argument, what was expected and
what was given, before any computation, with the same message in all three frameworks."""

from __future__ import annotations

import contextlib

import pytest

from vision_attention._frameworks import import_paddle, import_tensorflow
from vision_attention.parity import FRAMEWORKS, build_module

paddle = import_paddle()
tf = import_tensorflow()
import keras  # noqa: E402
import torch  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_single_thread")

# (module, constructor kwargs, offending argument, the given value)
CONSTRUCTOR_CASES = [
    ("SEBlock", {"in_channels": 16, "reduction_ratio": 17}, "reduction_ratio", 17),
    ("SEBlock", {"in_channels": 16, "reduction_ratio": 0}, "reduction_ratio", 0),
    ("SEBlock", {"in_channels": 16, "reduction_ratio": -2}, "reduction_ratio", -2),
    ("SEBlock", {"in_channels": 16, "reduction_ratio": 2.5}, "reduction_ratio", 2.5),
    ("SEBlock", {"in_channels": 0}, "in_channels", 0),
    ("ChannelAttention", {"in_channels": 16, "reduction_ratio": 32}, "reduction_ratio", 32),
    ("ChannelAttention", {"in_channels": 16, "reduction_ratio": 0}, "reduction_ratio", 0),
    ("ChannelAttention", {"in_channels": -16}, "in_channels", -16),
    ("CBAM", {"in_channels": 16, "reduction_ratio": 17}, "reduction_ratio", 17),
    ("CBAM", {"in_channels": 16, "reduction_ratio": -1}, "reduction_ratio", -1),
    ("CBAM", {"in_channels": 16, "reduction_ratio": 4, "kernel_size": 4}, "kernel_size", 4),
    ("CBAM", {"in_channels": 16, "reduction_ratio": 4, "kernel_size": 0}, "kernel_size", 0),
    ("CBAM", {"in_channels": 16, "reduction_ratio": 4, "kernel_size": -3}, "kernel_size", -3),
    ("BAM", {"in_channels": 16, "reduction_ratio": 17}, "reduction_ratio", 17),
    ("BAM", {"in_channels": 16, "reduction_ratio": 0}, "reduction_ratio", 0),
    ("BAM", {"in_channels": 16, "reduction_ratio": 4, "dilation": 0}, "dilation", 0),
    ("ECA", {"in_channels": 16, "kernel_size": 4}, "kernel_size", 4),
    ("ECA", {"in_channels": 16, "kernel_size": 0}, "kernel_size", 0),
    ("ECA", {"in_channels": 16, "kernel_size": -3}, "kernel_size", -3),
    ("ECA", {"in_channels": 0}, "in_channels", 0),
    ("ECA", {"in_channels": 16, "gamma": 0}, "gamma", 0),
    ("ECA", {"in_channels": 16, "b": "1"}, "b", "1"),
    ("SpatialAttention", {"kernel_size": 2}, "kernel_size", 2),
    ("SpatialAttention", {"kernel_size": 0}, "kernel_size", 0),
    ("SpatialAttention", {"kernel_size": -7}, "kernel_size", -7),
    ("NonLocalBlock", {"in_channels": 0}, "in_channels", 0),
    ("NonLocalBlock", {"in_channels": 16.0}, "in_channels", 16.0),
    ("NonLocalBlock", {"in_channels": 16, "inter_channels": 0}, "inter_channels", 0),
    ("NonLocalBlock", {"in_channels": 16, "inter_channels": 2.5}, "inter_channels", 2.5),
    ("NonLocalBlock", {"in_channels": 16, "mode": "softmax"}, "mode", "softmax"),
    ("NonLocalBlock", {"in_channels": 16, "mode": None}, "mode", None),
    ("NonLocalBlock", {"in_channels": 16, "sub_sample": 1}, "sub_sample", 1),
    ("NonLocalBlock", {"in_channels": 16, "bn_layer": "yes"}, "bn_layer", "yes"),
    ("NonLocalBlock", {"in_channels": 16, "scale": None}, "scale", None),
    ("SelfAttention2d", {"in_channels": 0}, "in_channels", 0),
    ("SelfAttention2d", {"in_channels": 16, "reduction_ratio": 17}, "reduction_ratio", 17),
    ("SelfAttention2d", {"in_channels": 16, "reduction_ratio": 0}, "reduction_ratio", 0),
    ("SelfAttention2d", {"in_channels": 16, "reduction_ratio": 2.5}, "reduction_ratio", 2.5),
    ("MultiHeadSelfAttention2d", {"in_channels": 0}, "in_channels", 0),
    ("MultiHeadSelfAttention2d", {"in_channels": 16.0}, "in_channels", 16.0),
    ("MultiHeadSelfAttention2d", {"in_channels": 16, "num_heads": 3}, "num_heads", 3),
    ("MultiHeadSelfAttention2d", {"in_channels": 16, "num_heads": 0}, "num_heads", 0),
    ("MultiHeadSelfAttention2d", {"in_channels": 16, "num_heads": 2.0}, "num_heads", 2.0),
    ("MultiHeadSelfAttention2d", {"in_channels": 16, "qkv_bias": 1}, "qkv_bias", 1),
    ("MultiHeadSelfAttention2d", {"in_channels": 16, "window_size": 0}, "window_size", 0),
    ("MultiHeadSelfAttention2d", {"in_channels": 16, "window_size": -2}, "window_size", -2),
    ("MultiHeadSelfAttention2d", {"in_channels": 16, "window_size": 2.5}, "window_size", 2.5),
]


def _case_id(case):
    name, kwargs, argument, value = case
    return f"{name}-{argument}={value}"


def _message(framework, name, kwargs):
    with pytest.raises(ValueError) as info:
        build_module(framework, name, **kwargs)
    assert type(info.value) is ValueError  # not a framework error subclassing ValueError
    return str(info.value)


@pytest.mark.parametrize("case", CONSTRUCTOR_CASES, ids=_case_id)
def test_constructor_arguments_are_checked_identically_in_every_framework(case):
    name, kwargs, argument, value = case
    messages = {fw: _message(fw, name, kwargs) for fw in FRAMEWORKS}
    message = messages["torch"]
    assert message.startswith(f"{name}: argument '{argument}' expected "), message
    assert message.endswith(f"got {value!r}"), message
    assert messages["paddle"] == message and messages["tensorflow"] == message, messages


def test_nonlocal_mode_message_lists_the_four_modes():
    message = _message("torch", "NonLocalBlock", {"in_channels": 16, "mode": "softmax"})
    for mode in ("embedded_gaussian", "dot_product", "gaussian", "concatenation"):
        assert repr(mode) in message, message


# ------------------------------------------------------------------------------- inputs

MODULE_KWARGS = {
    "SEBlock": {"in_channels": 16, "reduction_ratio": 4},
    "ECA": {"in_channels": 16},
    "ChannelAttention": {"in_channels": 16, "reduction_ratio": 4},
    "SpatialAttention": {"kernel_size": 7},
    "CBAM": {"in_channels": 16, "reduction_ratio": 4},
    "BAM": {"in_channels": 16, "reduction_ratio": 4},
    "NonLocalBlock": {"in_channels": 16, "sub_sample": True},
    "SelfAttention2d": {"in_channels": 16},
    "MultiHeadSelfAttention2d": {"in_channels": 16, "num_heads": 4, "window_size": 3},
}

# (case id, input shape in NCHW terms (4-D ones are transposed for TensorFlow), expected
# fragment of the message in the framework's layout, given fragment)
RANK_CASES = [
    ("3-D", (16, 7, 9), "expected a 4-D tensor", "got a 3-D tensor"),
    ("5-D", (1, 16, 7, 9, 1), "expected a 4-D tensor", "got a 5-D tensor"),
    ("2-D", (2, 16), "expected a 4-D tensor", "got a 2-D tensor"),
]
CHANNEL_CASE = ("8-channels", (2, 8, 7, 9), "expected 16 channels (in_channels)", "got 8 channels")
# sub_sample=True pools keys and values 2x2: a map thinner than 2 is refused.
SMALL_CASES = [
    ("H=1", (2, 16, 1, 5), "expected height and width >= 2", "got H=1, W=5"),
    ("W=1", (2, 16, 6, 1), "expected height and width >= 2", "got H=6, W=1"),
]
WINDOW_CASES = [  # MultiHeadSelfAttention2d with window_size=3
    ("H-not-divisible", (2, 16, 7, 9), "expected height H and width W divisible by window_size=3", "got H=7, W=9"),
    ("W-not-divisible", (2, 16, 6, 8), "expected height H and width W divisible by window_size=3", "got H=6, W=8"),
]
INPUT_CASES = [
    (name, case)
    for name in MODULE_KWARGS
    for case in RANK_CASES + ([] if name == "SpatialAttention" else [CHANNEL_CASE])
    + (SMALL_CASES if name == "NonLocalBlock" else [])
    + (WINDOW_CASES if name == "MultiHeadSelfAttention2d" else [])
]


def _tensor(framework, shape):
    if framework == "torch":
        return torch.zeros(shape)
    if framework == "paddle":
        return paddle.zeros(shape)
    if len(shape) == 4:
        shape = (shape[0], shape[2], shape[3], shape[1])  # NHWC
    return tf.zeros(shape)


@contextlib.contextmanager
def _layer_calls(framework, monkeypatch):
    """Record every (sub)layer call: a forward pre-hook for torch, a spy on the base class
    ``__call__`` for Paddle and Keras."""
    calls = []
    if framework == "torch":
        handle = torch.nn.modules.module.register_module_forward_pre_hook(lambda m, args: calls.append(m))
        try:
            yield calls
        finally:
            handle.remove()
        return
    base = paddle.nn.Layer if framework == "paddle" else keras.layers.Layer
    original = base.__call__

    def spy(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(base, "__call__", spy)
        yield calls


@pytest.fixture(scope="module")
def modules():
    built = {(fw, name): build_module(fw, name, **kw) for fw in FRAMEWORKS for name, kw in MODULE_KWARGS.items()}
    for (fw, _), module in built.items():
        if fw != "tensorflow":
            module.eval()  # inference, as in the parity tests (Paddle warns about BN in training)
    return built


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name, case", INPUT_CASES, ids=lambda v: v if isinstance(v, str) else v[0])
def test_bad_inputs_raise_before_any_layer_runs(modules, monkeypatch, framework, name, case):
    _, shape, expected, given = case
    module = modules[(framework, name)]
    x = _tensor(framework, shape)
    with _layer_calls(framework, monkeypatch) as calls:
        with pytest.raises(ValueError) as info:
            module(x)
    message = str(info.value)
    assert type(info.value) is ValueError, message
    assert message.startswith(f"{name}: argument 'x' "), message
    assert expected in message and given in message, message
    layout = "(B, H, W, C)" if framework == "tensorflow" else "(B, C, H, W)"
    assert layout in message, message
    assert [c for c in calls if c is not module] == [], "a sub-layer ran before the check"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_layer_call_spy_sees_sub_layers_on_valid_input(modules, monkeypatch, framework):
    """Control for the test above: on a valid input the spy does record sub-layer calls."""
    module = modules[(framework, "CBAM")]
    with _layer_calls(framework, monkeypatch) as calls:
        module(_tensor(framework, (1, 16, 5, 5)))
    assert len([c for c in calls if c is not module]) >= 2


# ------------------------------------------------------------------------------- ResNet


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    "kwargs, argument",
    [({"attention_type": "sk"}, "attention_type"), ({"depth": 20}, "depth"), ({"depth": 50.0}, "depth")],
    ids=["attention_type", "depth", "depth-float"],
)
def test_attention_resnet_rejects_bad_arguments(framework, kwargs, argument):
    with pytest.raises(ValueError) as info:
        build_module(framework, "attention_resnet", **kwargs)
    message = str(info.value)
    assert f"argument '{argument}' expected" in message and repr(next(iter(kwargs.values()))) in message


# (attention_resnet kwargs beyond depth 18, the exact message). The checks run before any layer
# is built, in the same order in every framework.
_POSITIONS = "('standard', 'pre', 'post', 'identity')"
PLACEMENT_CASES = [
    ({"attention_type": "se", "position": "side"},
     f"attention_resnet: argument 'position' expected one of {_POSITIONS}, got 'side'"),
    ({"attention_type": "se", "position": None},
     f"attention_resnet: argument 'position' expected one of {_POSITIONS}, got None"),
    ({"attention_type": "se", "position": True},
     f"attention_resnet: argument 'position' expected one of {_POSITIONS}, got True"),
    ({"attention_type": "none", "position": "pre"},
     "attention_resnet: argument 'position'='pre' needs an in-block attention type ('se', 'eca', 'cbam'); "
     "attention_type='none' has no module to place"),
    ({"attention_type": "bam", "position": "post"},
     "attention_resnet: argument 'position'='post' needs an in-block attention type ('se', 'eca', 'cbam'); "
     "attention_type='bam' has its modules between stages, not in units"),
    ({"attention_type": "cbam", "kernel_size": 4},
     "attention_resnet: argument 'kernel_size' expected a positive odd integer, got 4"),
    ({"attention_type": "cbam", "kernel_size": -3},
     "attention_resnet: argument 'kernel_size' expected a positive odd integer, got -3"),
    ({"attention_type": "cbam", "kernel_size": 3.0},
     "attention_resnet: argument 'kernel_size' expected a positive odd integer, got 3.0"),
    ({"attention_type": "se", "reduction_ratio": 0},
     "attention_resnet: argument 'reduction_ratio' expected a positive integer, got 0"),
    ({"attention_type": "se", "reduction_ratio": -4},
     "attention_resnet: argument 'reduction_ratio' expected a positive integer, got -4"),
    ({"attention_type": "cbam", "reduction_ratio": 2.5},
     "attention_resnet: argument 'reduction_ratio' expected a positive integer, got 2.5"),
    # larger than the 64 channels of the first stage's modules: the module's own check
    ({"attention_type": "se", "reduction_ratio": 128},
     "SEBlock: argument 'reduction_ratio' expected a positive integer no larger than in_channels=64, got 128"),
]


@pytest.mark.parametrize("case", PLACEMENT_CASES, ids=lambda case: "-".join(map(str, case[0].values())))
def test_attention_resnet_placement_arguments_are_checked_identically(case):
    kwargs, expected = case
    messages = {fw: _message(fw, "attention_resnet", {"depth": 18, **kwargs}) for fw in FRAMEWORKS}
    assert messages == {fw: expected for fw in FRAMEWORKS}, messages


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_blocks_and_make_attention_check_position_and_kernel_size(framework):
    import importlib

    resnet = importlib.import_module(f"vision_attention.{framework}.models.resnet")
    for cls in (resnet.BasicBlock, resnet.Bottleneck):
        with pytest.raises(ValueError) as info:
            cls(64, 16, attention_type="se", position="before")
        assert str(info.value) == f"{cls.__name__}: argument 'position' expected one of {_POSITIONS}, got 'before'"
        with pytest.raises(ValueError, match=r"^" + cls.__name__ + r": argument 'position'='identity' needs"):
            cls(64, 16, attention_type="none", position="identity")
    with pytest.raises(ValueError) as info:
        resnet.make_attention("cbam", 64, kernel_size=6)
    assert str(info.value) == "make_attention: argument 'kernel_size' expected a positive odd integer, got 6"
