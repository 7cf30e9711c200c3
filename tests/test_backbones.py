"""create_vision_backbone, attention_supervision_loss and class_activation_map in three frameworks.

Fast checks: every refused argument raises before anything is built (three frameworks);
feature_dim per family (PyTorch on the meta device, where no memory is allocated and nothing
is computed; RegNet, whose builder computes its widths with tensors, on the CPU; Paddle's and
Keras' zoo families); the intermediates' shapes and wiring; loading a torchvision checkpoint
into the trunk (the features equal torchvision's own pre-head vector); the loss and CAM
against small examples computed by hand. Whole-network parity of the backbones across the
frameworks is in tests/test_parity_backbones.py.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torchvision

from vision_attention._frameworks import import_paddle, import_tensorflow
from vision_attention.architectures import (
    BACKBONE_FAMILIES,
    BACKBONE_NAMES,
    FEATURE_DIMS,
    FRAMEWORK_BACKBONES,
    KERAS_APPLICATIONS,
    PADDLE_ZOO,
)
from vision_attention._backbone_common import resize_matrix
from vision_attention.parity.layouts import activation_from_framework, activation_to_framework

paddle = import_paddle()
tf = import_tensorflow()
import torch  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_single_thread")

FRAMEWORKS = ("torch", "paddle", "tensorflow")


def package(fw: str):
    return importlib.import_module(f"vision_attention.{fw}")


def tensor(fw: str, array_nchw, layout_free: bool = False):
    """A framework tensor from a canonical (NCHW) numpy array."""
    a = np.asarray(array_nchw)
    if not layout_free:
        a = activation_to_framework(fw, a)
    a = np.ascontiguousarray(a)
    if fw == "torch":
        return torch.from_numpy(a)
    if fw == "paddle":
        return paddle.to_tensor(a)
    return tf.constant(a)


def numpy(fw: str, t, layout_free: bool = False) -> np.ndarray:
    a = t.detach().numpy() if fw == "torch" else np.asarray(t.numpy())
    return a if layout_free else activation_from_framework(fw, a)


def run(fw: str, backbone, x_nchw, **kwargs):
    if fw == "torch":
        backbone.eval()
        with torch.no_grad():
            return backbone(tensor(fw, x_nchw), **kwargs)
    if fw == "paddle":
        backbone.eval()
        with paddle.no_grad():
            return backbone(tensor(fw, x_nchw), **kwargs)
    return backbone(tensor(fw, x_nchw), training=False, **kwargs)


# --------------------------------------------------------------------------- argument errors

ARGUMENT_ERRORS = [
    # (kwargs, text the message must contain)
    ({"name": "resnet51"}, "'name' expected a torchvision backbone name"),
    ({"name": "mobilenetv3_large"}, "did you mean 'mobilenet_v3_large'"),
    ({"name": 50}, "argument 'name'"),
    ({"name": "resnet18", "attention_type": "gc"}, "'attention_type' expected one of"),
    ({"name": "resnet18", "attention_type": None}, "'attention_type' expected one of"),
    ({"name": "resnet18", "attention_type": "se", "enable_attention_supervision": True},
     "SE's weights are (B, C, 1, 1) channel weights with no spatial map"),
    ({"name": "resnet18", "attention_type": "eca", "enable_attention_supervision": True},
     "ECA's weights are (B, C, 1, 1)"),
    ({"name": "resnet18", "enable_attention_supervision": True}, "'none' has no attention module"),
    ({"name": "resnet18", "attention_type": "cbam", "enable_attention_supervision": 1},
     "'enable_attention_supervision' expected a bool"),
    ({"name": "resnet18", "pretrained": True}, "only mobilenet_v2 has bundled weights"),
    ({"name": "resnet18", "pretrained": 1}, "'pretrained' expected False, True or a local checkpoint path"),
    ({"name": "resnet18", "pretrained": None}, "'pretrained' expected False, True or a local checkpoint path"),
]


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("kwargs, text", ARGUMENT_ERRORS)
def test_bad_arguments_raise_before_building(fw, kwargs, text):
    with pytest.raises(ValueError) as info:
        package(fw).create_vision_backbone(**kwargs)
    message = str(info.value)
    assert message.startswith("create_vision_backbone: argument '"), message
    assert text in message, message


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_unknown_name_lists_every_valid_name(fw):
    with pytest.raises(ValueError) as info:
        package(fw).create_vision_backbone("densenet121")
    message = str(info.value)
    for family in BACKBONE_FAMILIES.values():
        assert f"{family.family}: {', '.join(family.names)}" in message


@pytest.mark.parametrize("name, attention_type, reason", [
    ("vit_b_16", "cbam", "its output is the class token"),
    ("vit_l_32", "se", "no (B, C, H, W) feature map"),
    ("swin_t", "eca", "(shifted-)window self-attention"),
    ("swin_v2_b", "bam", "does end in a spatial map"),
    ("maxvit_t", "cbam", "block (window) and grid self-attention"),
])
def test_transformers_refuse_attention_with_the_reason(name, attention_type, reason):
    from vision_attention.torch import create_vision_backbone

    with pytest.raises(ValueError) as info:
        create_vision_backbone(name, attention_type)
    message = str(info.value)
    assert f"argument 'attention_type' expected 'none' for the" in message and reason in message, message


@pytest.mark.parametrize("fw", ("paddle", "tensorflow"))
def test_families_a_zoo_lacks_raise_and_list_what_it_builds(fw):
    lacking = [n for n in BACKBONE_NAMES if n not in FRAMEWORK_BACKBONES[fw]]
    expected_missing = {"paddle": {"EfficientNet", "EfficientNetV2", "ConvNeXt", "RegNet", "ViT", "Swin", "MaxViT"},
                        "tensorflow": {"RegNet", "ViT", "Swin", "MaxViT"}}[fw]
    assert {f.family for f in BACKBONE_FAMILIES.values() if set(f.names) & set(lacking)} == expected_missing
    for name in ("efficientnet_b0", "regnet_y_400mf", "vit_b_16", "swin_t", "maxvit_t", "convnext_tiny"):
        if name not in lacking:
            continue
        with pytest.raises(ValueError) as info:
            package(fw).create_vision_backbone(name)
        message = str(info.value)
        assert f"is not available in {fw}" in message, message
        assert all(n in message for n in FRAMEWORK_BACKBONES[fw]), message


@pytest.mark.parametrize("fw", ("paddle", "tensorflow"))
def test_zoo_trunks_refuse_a_checkpoint_path(fw, tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({}, path)
    with pytest.raises(ValueError, match="only the trunks shared with PyTorch"):
        package(fw).create_vision_backbone("mobilenet_v3_small", pretrained=str(path))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_missing_checkpoint_file(fw, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        package(fw).create_vision_backbone("resnet18", pretrained=str(tmp_path / "absent.pth"))


# --------------------------------------------------------------------------- feature_dim

# The torchvision widths given in the issue (independent of the table in architectures.py).
KNOWN_DIMS = {"resnet50": 2048, "resnet18": 512, "efficientnet_b0": 1280, "mobilenet_v2": 1280,
              "convnext_tiny": 768, "regnet_y_400mf": 440, "mobilenet_v3_large": 960,
              "mobilenet_v3_small": 576, "vit_b_16": 768, "swin_t": 768, "maxvit_t": 512}
ONE_PER_FAMILY = ("resnet18", "mobilenet_v3_small", "efficientnet_b0", "efficientnet_v2_s", "convnext_tiny",
                  "regnet_y_400mf", "vit_b_16", "swin_t", "maxvit_t")


def test_feature_dim_table_has_the_known_values_and_every_name():
    assert set(FEATURE_DIMS) == set(BACKBONE_NAMES)
    for name, dim in KNOWN_DIMS.items():
        assert FEATURE_DIMS[name] == dim, name


@pytest.mark.parametrize("name", sorted(set(ONE_PER_FAMILY) | set(KNOWN_DIMS)))
def test_torch_feature_dim_is_the_maps_width(name):
    from vision_attention.torch import create_vision_backbone

    regnet = name.startswith("regnet")  # its builder computes widths with tensors: not on "meta"
    size = 64 if regnet else 224
    with torch.device("cpu" if regnet else "meta"):
        backbone = create_vision_backbone(name).eval()
        out = backbone(torch.zeros(2, 3, size, size), return_intermediates=True)
    assert backbone.feature_dim == FEATURE_DIMS[name]
    assert tuple(out["features"].shape) == (2, backbone.feature_dim)
    if name.startswith("vit"):
        assert out["feature_maps"] is None
        # torchvision's own hidden width
        assert backbone.trunk.hidden_dim == backbone.feature_dim
    else:
        assert out["feature_maps"].shape[:2] == (2, backbone.feature_dim)
    assert out["attention_weights"] is None


def test_torch_families_accept_every_attention_type_on_the_meta_device():
    from vision_attention.torch import create_vision_backbone

    with torch.device("meta"):
        for name in ("efficientnet_b0",):
            for attention_type in ("se", "eca", "cbam", "bam"):
                backbone = create_vision_backbone(name, attention_type).eval()
                out = backbone(torch.zeros(1, 3, 64, 64), return_intermediates=True)
                assert out["feature_maps"].shape == (1, FEATURE_DIMS[name], 2, 2)
                spatial = attention_type in ("cbam", "bam")
                assert (out["attention_weights"] is not None) == spatial
                if spatial:
                    assert out["attention_weights"].shape == (1, 1, 2, 2)


@pytest.mark.parametrize("name", sorted(PADDLE_ZOO))
def test_paddle_zoo_feature_dim(name):
    from vision_attention.paddle import create_vision_backbone

    backbone = create_vision_backbone(name, "cbam")
    out = run("paddle", backbone, np.zeros((1, 3, 64, 64), np.float32), return_intermediates=True)
    assert backbone.feature_dim == KNOWN_DIMS[name]
    assert tuple(out["feature_maps"].shape) == (1, KNOWN_DIMS[name], 2, 2)


KERAS_ONE_PER_FAMILY = ("mobilenet_v3_small", "efficientnet_b0", "efficientnet_v2_s", "convnext_tiny")


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n == "mobilenet_v3_small" else [pytest.mark.slow])
                                  for n in KERAS_ONE_PER_FAMILY])
def test_keras_zoo_feature_dim(name):
    from vision_attention.tensorflow import create_vision_backbone

    backbone = create_vision_backbone(name, "bam")
    out = run("tensorflow", backbone, np.zeros((1, 3, 64, 64), np.float32), return_intermediates=True)
    assert backbone.feature_dim == FEATURE_DIMS[name]
    assert tuple(out["feature_maps"].shape) == (1, 2, 2, FEATURE_DIMS[name])  # NHWC
    assert tuple(out["attention_weights"].shape) == (1, 2, 2, 1)
    assert KERAS_APPLICATIONS[name] in {"MobileNetV3Small", "EfficientNetB0", "EfficientNetV2S", "ConvNeXtTiny"}
    if name == "convnext_tiny":  # Keras' final per-position LayerNormalization is cut off
        assert type(backbone.trunk.layers[-1]).__name__ != "LayerNormalization"


# --------------------------------------------------------------------------- outputs

@pytest.fixture(scope="module")
def cbam_resnet18():
    """A ResNet-18 + CBAM backbone per framework, built once."""
    return {fw: package(fw).create_vision_backbone("resnet18", "cbam", enable_attention_supervision=True)
            for fw in FRAMEWORKS}


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_intermediates_shapes_and_wiring(fw, cbam_resnet18):
    backbone = cbam_resnet18[fw]
    assert (backbone.name, backbone.family, backbone.attention_type) == ("resnet18", "ResNet", "cbam")
    assert backbone.attention_supervision is True and backbone.feature_dim == 512
    assert type(backbone.attention).__name__ == "CBAM"
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    out = run(fw, backbone, x, return_intermediates=True)
    assert set(out) == {"features", "feature_maps", "attention_weights"}
    features = numpy(fw, out["features"])
    maps = numpy(fw, out["feature_maps"])
    weights = numpy(fw, out["attention_weights"])
    assert features.shape == (2, 512) and maps.shape == (2, 512, 2, 2) and weights.shape == (2, 1, 2, 2)
    assert features.dtype == np.float32 and ((weights > 0) & (weights < 1)).all()
    np.testing.assert_allclose(features, maps.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)  # GAP of the maps
    plain = numpy(fw, run(fw, backbone, x))
    np.testing.assert_allclose(plain, features, rtol=1e-5, atol=1e-6)
    # forward_head on a cached trunk output gives the same, and the maps are taken after CBAM:
    # CBAM's output at every position is the channel-refined map times the spatial weight.
    trunk_map = backbone.forward_features(tensor(fw, x)) if fw != "tensorflow" else \
        backbone.forward_features(tensor(fw, x), training=False)
    head = backbone.forward_head(trunk_map, return_intermediates=True)
    np.testing.assert_allclose(numpy(fw, head["features"]), features, rtol=1e-5, atol=1e-6)
    raw = numpy(fw, trunk_map)
    assert not np.allclose(raw, maps)
    _, attention = backbone.attention(trunk_map, return_attention=True)
    channel = numpy(fw, attention["channel"])
    np.testing.assert_allclose(maps, raw * channel * weights, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_bad_inputs(fw, cbam_resnet18):
    backbone = cbam_resnet18[fw]
    with pytest.raises(ValueError, match="'x' expected 3 channels"):
        backbone(tensor(fw, np.zeros((1, 4, 32, 32), np.float32)))
    with pytest.raises(ValueError, match="'feature_map' expected 512 channels"):
        backbone.forward_head(tensor(fw, np.zeros((1, 256, 2, 2), np.float32)))
    with pytest.raises(ValueError, match="'return_intermediates' expected a bool"):
        backbone(tensor(fw, np.zeros((1, 3, 32, 32), np.float32)), return_intermediates=1)


def test_torch_bam_weights_are_the_spatial_branch_probability():
    from vision_attention.torch import create_vision_backbone

    backbone = create_vision_backbone("resnet18", "bam", enable_attention_supervision=True).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = backbone(x, return_intermediates=True)
        trunk_map = backbone.forward_features(x)
        logits = backbone.attention.spatial_gate(trunk_map)
        channel = backbone.attention.channel_gate(trunk_map)
    np.testing.assert_allclose(out["attention_weights"].numpy(), 1 / (1 + np.exp(-logits.numpy())), rtol=1e-5)
    # ... which is not the weight BAM applies: sigmoid(Mc + Ms), per channel
    applied = 1 / (1 + np.exp(-(channel.numpy() + logits.numpy())))
    np.testing.assert_allclose(out["feature_maps"].numpy(), trunk_map.numpy() * (1 + applied), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, head", [("mobilenet_v3_small", "classifier"), ("efficientnet_b0", "classifier"),
                                        ("regnet_y_400mf", "fc"), ("resnet18", "fc")])
def test_torch_checkpoint_loads_into_the_trunk_and_features_equal_torchvision(name, head, tmp_path):
    from vision_attention.torch import create_vision_backbone

    reference = getattr(torchvision.models, name)(weights=None).eval()
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)
    backbone = create_vision_backbone(name, pretrained=str(path)).eval()
    setattr(reference, head, torch.nn.Identity())  # torchvision's pooled vector before the head
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(backbone(x).numpy(), reference(x).numpy(), rtol=1e-5, atol=1e-6)
    # the trunk's own state_dict loads too
    trunk_path = tmp_path / "trunk.pth"
    torch.save(backbone.trunk.state_dict(), trunk_path)
    again = create_vision_backbone(name, "se", pretrained=str(trunk_path)).eval()
    with torch.no_grad():
        np.testing.assert_allclose(again.forward_features(x).numpy(), backbone.forward_features(x).numpy(),
                                   rtol=1e-6, atol=1e-7)


def _tiny_torchvision(family: str):
    """A small torchvision network of ``family`` (fast to build), the attribute holding its head,
    what replaces the head so the network returns its pooled vector, and the input size."""
    from torchvision.models import convnext, maxvit, swin_transformer, vision_transformer

    if family == "ConvNeXt":  # its classifier's LayerNorm2d belongs to the head: Flatten only
        net = convnext.ConvNeXt([convnext.CNBlockConfig(8, 16, 1), convnext.CNBlockConfig(16, None, 1)], layer_scale=0.5)
        return net, "classifier", torch.nn.Flatten(1)
    if family == "Swin":
        net = swin_transformer.SwinTransformer([4, 4], 8, [1, 1], [1, 2], [2, 2], stochastic_depth_prob=0.0)
        return net, "head", torch.nn.Identity()
    if family == "ViT":
        return vision_transformer.VisionTransformer(32, 8, 2, 2, 8, 16), "heads", torch.nn.Identity()
    net = maxvit.MaxVit((32, 32), 8, 2, [8, 16], [1, 1], 4, 0.0)  # MaxViT: pool + flatten, no LN/Linear/Tanh
    return net, "classifier", torch.nn.Sequential(net.classifier[0], net.classifier[1])


@pytest.mark.parametrize("family", ("ConvNeXt", "Swin", "ViT", "MaxViT"))
def test_hand_cut_trunks_give_torchvisions_pooled_vector(family):
    """The trunks cut out of torchvision by hand, pooled as VisionBackbone pools them (ViT: the
    class token; the others: the mean of the map), equal torchvision's own vector before the head."""
    from vision_attention.torch.backbones import _trunk_of

    net, head, replacement = _tiny_torchvision(family)
    net.eval()
    trunk = _trunk_of(net, family)
    setattr(net, head, replacement)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = trunk(x)
        pooled = out[:, 0] if family == "ViT" else out.mean(dim=(2, 3))
        expected = net(x)
    assert out.ndim == (3 if family == "ViT" else 4)
    np.testing.assert_allclose(pooled.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_torch_checkpoint_errors(tmp_path):
    from vision_attention.torch import create_vision_backbone

    state = torchvision.models.resnet18(weights=None).state_dict()
    extra = tmp_path / "extra.pth"  # as a ResNet-34 checkpoint would have
    torch.save({**state, "layer1.2.conv1.weight": torch.zeros(64, 64, 3, 3)}, extra)
    with pytest.raises(ValueError, match="does not fit the trunk .* 1 keys the trunk lacks: layer1.2.conv1.weight"):
        create_vision_backbone("resnet18", pretrained=str(extra))
    short = tmp_path / "short.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("layer4.1.")}, short)
    with pytest.raises(ValueError, match="lacks 10 keys of the trunk: layer4.1.bn1.bias"):
        create_vision_backbone("resnet18", pretrained=str(short))
    wide = tmp_path / "wide.pth"
    state["conv1.weight"] = torch.zeros(64, 3, 5, 5)
    torch.save(state, wide)
    with pytest.raises(ValueError, match="wrong shape: conv1.weight"):
        create_vision_backbone("resnet18", pretrained=str(wide))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch state_dict"):
        create_vision_backbone("resnet18", pretrained=str(junk))


def test_torch_bundled_mobilenet_v2_fills_the_trunk():
    from vision_attention.torch import create_vision_backbone
    from vision_attention.weights import load_bundled_state_dict

    backbone = create_vision_backbone("mobilenet_v2", "cbam", enable_attention_supervision=True, pretrained=True)
    state = load_bundled_state_dict()
    trunk = backbone.trunk.state_dict()
    assert sorted(k for k in trunk) == sorted(k for k in state if not k.startswith("classifier."))
    for key in ("features.0.0.weight", "features.18.1.running_var", "features.9.conv.1.0.weight"):
        assert torch.equal(trunk[key], state[key]), key


@pytest.mark.parametrize("fw", ("paddle", "tensorflow"))
def test_torchvision_checkpoint_converts_into_paddle_and_tensorflow(fw, tmp_path):
    from vision_attention.torch import create_vision_backbone

    path = tmp_path / "resnet18.pth"
    reference = torchvision.models.resnet18(weights=None)
    with torch.no_grad():  # BatchNorm statistics that are not the identity, so a mix-up shows
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.1, 0.3)
    torch.save(reference.state_dict(), path)
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    ours = create_vision_backbone("resnet18", pretrained=str(path)).eval()
    with torch.no_grad():
        expected = ours.forward_features(torch.from_numpy(x)).numpy()
    other = package(fw).create_vision_backbone("resnet18", pretrained=str(path))
    if fw == "paddle":
        other.eval()
        got = other.forward_features(tensor(fw, x))
    else:
        got = other.forward_features(tensor(fw, x), training=False)
    got = numpy(fw, got)
    assert np.abs(got - expected).max() / np.abs(expected).max() <= 1e-4


# --------------------------------------------------------------------------- resizing and the loss

def test_resize_matrices_by_hand():
    np.testing.assert_allclose(resize_matrix(2, 4, "area"), [[.5, .5, 0, 0], [0, 0, .5, .5]])
    np.testing.assert_allclose(resize_matrix(2, 3, "area"), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]], rtol=1e-6)
    np.testing.assert_allclose(resize_matrix(2, 4, "nearest"), [[1, 0, 0, 0], [0, 0, 1, 0]])
    np.testing.assert_allclose(resize_matrix(2, 4, "bilinear"), [[.5, .5, 0, 0], [0, 0, .5, .5]])
    np.testing.assert_allclose(resize_matrix(4, 2, "bilinear"), [[1, 0], [.75, .25], [.25, .75], [0, 1]])
    with pytest.raises(ValueError, match="'mode' expected one of"):
        resize_matrix(2, 4, "bicubic")


@pytest.mark.parametrize("mode, sizes", [
    ("nearest", [(7, 224, 5, 225), (7, 10, 3, 5), (5, 3, 4, 4)]),
    ("bilinear", [(7, 224, 5, 225), (7, 10, 3, 5), (5, 3, 4, 4)]),
    ("area", [(7, 224, 5, 225), (4, 8, 3, 3)]),  # integer factors only: PyTorch's area rule differs otherwise
])
def test_resize_matrices_match_torch_interpolate(mode, sizes):
    rng = np.random.default_rng(2)
    for out_h, in_h, out_w, in_w in sizes:
        mask = rng.random((1, 1, in_h, in_w)).astype(np.float32)
        expected = torch.nn.functional.interpolate(torch.from_numpy(mask), size=(out_h, out_w), mode=mode).numpy()
        got = resize_matrix(out_h, in_h, mode) @ mask[0, 0] @ resize_matrix(out_w, in_w, mode).T
        np.testing.assert_allclose(got, expected[0, 0], rtol=1e-5, atol=1e-6)


def _bce(p, m):
    return -(m * np.maximum(np.log(p), -100) + (1 - m) * np.maximum(np.log(1 - p), -100))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_supervision_loss_by_hand(fw):
    loss_fn = package(fw).attention_supervision_loss
    p = np.array([[[[0.9, 0.2], [0.4, 0.5]]]], np.float32)  # (1, 1, 2, 2)
    mask = np.zeros((1, 1, 4, 4), np.float32)
    mask[0, 0, 0:2, 0:2] = 1.0       # fills the top-left cell
    mask[0, 0, 3, 3] = 1.0           # a quarter of the bottom-right cell
    area = np.array([[1.0, 0.0], [0.0, 0.25]])
    nearest = np.array([[1.0, 0.0], [0.0, 0.0]])  # pixels (0, 0), (0, 2), (2, 0), (2, 2)
    for mode, target in (("area", area), ("nearest", nearest)):
        expected = _bce(p[0, 0].astype(np.float64), target)
        got = loss_fn(tensor(fw, p), tensor(fw, mask), mode=mode)
        assert float(got) == pytest.approx(expected.mean(), rel=1e-5), mode
        got = loss_fn(tensor(fw, p), tensor(fw, mask), mode=mode, reduction="sum")
        assert float(got) == pytest.approx(expected.sum(), rel=1e-5), mode
        got = numpy(fw, loss_fn(tensor(fw, p), tensor(fw, mask), mode=mode, reduction="none"))
        np.testing.assert_allclose(got[0, 0], expected, rtol=1e-5)
    # p = 0 and p = 1: logs clamped at -100, as torch's binary_cross_entropy
    edge = np.array([[[[0.0, 1.0]]]], np.float32)
    got = numpy(fw, loss_fn(tensor(fw, edge), tensor(fw, np.array([[[[1.0, 0.0]]]], np.float32)),
                            reduction="none"))
    np.testing.assert_allclose(got[0, 0], [[100.0, 100.0]])


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_a_small_object_vanishes_with_nearest_but_not_with_area(fw):
    loss_fn = package(fw).attention_supervision_loss
    mask = np.zeros((1, 1, 8, 8), np.float32)
    mask[0, 0, 1, 1] = 1.0  # one pixel; nearest samples pixels 0 and 4 of each axis
    p = np.full((1, 1, 2, 2), 0.5, np.float32)
    # with the target t, BCE at p = 0.5 is log 2 whatever t is; use p near 0 to read t back
    p[...] = 1e-3
    nearest = float(loss_fn(tensor(fw, p), tensor(fw, mask), mode="nearest", reduction="sum"))
    area = float(loss_fn(tensor(fw, p), tensor(fw, mask), mode="area", reduction="sum"))
    assert nearest == pytest.approx(4 * -np.log(1 - 1e-3), rel=1e-4)  # target all zeros
    expected = 3 * -np.log(1 - 1e-3) + _bce(1e-3, 1 / 16)  # target 1/16 in the top-left cell
    assert area == pytest.approx(expected, rel=1e-4)


def test_torch_supervision_loss_is_the_guides_loss_and_differentiable():
    from vision_attention.torch import attention_supervision_loss

    rng = np.random.default_rng(3)
    p = torch.tensor(rng.uniform(0.05, 0.95, (2, 1, 7, 7)), dtype=torch.float32, requires_grad=True)
    masks = torch.tensor(rng.random((2, 1, 224, 224)) > 0.7, dtype=torch.float32)
    guide = torch.nn.functional.binary_cross_entropy(p, torch.nn.functional.interpolate(masks, size=(7, 7)))
    ours = attention_supervision_loss(p, masks, mode="nearest")
    assert ours.item() == pytest.approx(guide.item(), rel=1e-6)
    attention_supervision_loss(p, masks).backward()
    assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


SUPERVISION_ERRORS = [
    ((1, 2, 2, 2), (1, 1, 4, 4), {}, "'attention_weights' expected a 4-D tensor"),
    ((1, 1, 2), (1, 1, 4, 4), {}, "'attention_weights' expected a 4-D tensor"),
    ((1, 1, 2, 2), (1, 3, 4, 4), {}, "'masks' expected a 4-D tensor"),
    ((2, 1, 2, 2), (1, 1, 4, 4), {}, "'masks' expected batch size 2"),
    ((1, 1, 2, 2), (1, 1, 4, 4), {"mode": "bicubic"}, "'mode' expected one of"),
    ((1, 1, 2, 2), (1, 1, 4, 4), {"reduction": "max"}, "'reduction' expected one of"),
]


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_supervision_loss_errors(fw):
    loss_fn = package(fw).attention_supervision_loss
    for p_shape, m_shape, kwargs, text in SUPERVISION_ERRORS:
        p = np.full(p_shape, 0.5, np.float32)
        m = np.zeros(m_shape, np.float32)
        with pytest.raises(ValueError) as info:
            loss_fn(tensor(fw, p), tensor(fw, m), **kwargs)
        assert str(info.value).startswith("attention_supervision_loss: argument '") and text in str(info.value)
    p = tensor(fw, np.full((1, 1, 2, 2), 0.5, np.float32))
    with pytest.raises(ValueError, match="'masks' expected values in \\[0, 1\\]"):
        loss_fn(p, tensor(fw, np.full((1, 1, 4, 4), 255.0, np.float32)))
    with pytest.raises(ValueError, match="'attention_weights' expected values in \\[0, 1\\]"):
        loss_fn(tensor(fw, np.full((1, 1, 2, 2), 1.5, np.float32)), tensor(fw, np.zeros((1, 1, 4, 4), np.float32)))
    with pytest.raises(ValueError, match="'masks' expected a floating-point tensor"):
        loss_fn(p, tensor(fw, np.ones((1, 1, 4, 4), np.uint8)))


# --------------------------------------------------------------------------- CAM

F0 = [[1.0, 2.0], [3.0, 4.0]]
F1 = [[0.0, 1.0], [0.0, -1.0]]
MAPS = np.array([[F0, F1], [F0, F1]], np.float32)  # (B=2, C=2, 2, 2)
WEIGHT = np.array([[1.0, 0.0], [1.0, -2.0], [-1.0, 0.0]], np.float32)  # (3 classes, C=2)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_cam_by_hand(fw):
    cam_fn = package(fw).class_activation_map
    # class 1: 1*F0 - 2*F1 = [[1, 0], [3, 6]]: ReLU keeps it, min-max gives /6
    # class 0: F0 = [[1, 2], [3, 4]]: min 1, max 4 (the guide's /max would give [[.25, .5], ...])
    got = np.asarray(numpy(fw, cam_fn(tensor(fw, MAPS), WEIGHT, [1, 0]), layout_free=True))
    np.testing.assert_allclose(got[0], [[1 / 6, 0.0], [0.5, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(got[1], [[0.0, 1 / 3], [2 / 3, 1.0]], rtol=1e-6, atol=1e-7)
    # class 2: -F0 < 0 everywhere: ReLU leaves a constant 0 map, which stays zeros (no 0/0)
    got = np.asarray(numpy(fw, cam_fn(tensor(fw, MAPS), tensor(fw, WEIGHT, layout_free=True), 2), layout_free=True))
    assert got.shape == (2, 2, 2) and np.array_equal(got, np.zeros((2, 2, 2)))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_cam_errors(fw):
    cam_fn = package(fw).class_activation_map
    maps = tensor(fw, MAPS)
    cases = [
        ((maps, WEIGHT[:, :1], 0), "'classifier_weight' expected shape (num_classes, 2)"),
        ((maps, WEIGHT.T, 0), "'classifier_weight' expected shape"),
        ((maps, WEIGHT, 3), "'class_idx' expected class indices in [0, 3)"),
        ((maps, WEIGHT, [0, -1]), "'class_idx' expected class indices in [0, 3)"),
        ((maps, WEIGHT, [0]), "'class_idx' expected an int or a 1-D sequence of 2 ints"),
        ((maps, WEIGHT, True), "'class_idx' expected an int"),
        ((maps, WEIGHT, 1.0), "'class_idx' expected an int"),
        ((tensor(fw, MAPS[0], layout_free=True), WEIGHT, 0), "'feature_maps' expected a 4-D tensor"),
    ]
    for args, text in cases:
        with pytest.raises(ValueError) as info:
            cam_fn(*args)
        assert str(info.value).startswith("class_activation_map: argument '") and text in str(info.value), text


@pytest.mark.parametrize("fw", ("paddle", "tensorflow"))
def test_bundled_mobilenet_v2_fills_the_paddle_and_tensorflow_trunks(fw):
    from vision_attention.parity import export_weights
    from vision_attention.weights import bundled_canonical_weights

    backbone = package(fw).create_vision_backbone("mobilenet_v2", "eca", pretrained=True)
    bundled = bundled_canonical_weights()
    trunk = export_weights(backbone.trunk)
    assert sorted(trunk) == sorted(k for k in bundled if not k.startswith("classifier."))
    for key in ("features.0.0.weight", "features.18.1.running_var", "features.9.conv.1.0.weight"):
        np.testing.assert_array_equal(trunk[key], bundled[key], err_msg=key)
    assert backbone.feature_dim == 1280 and type(backbone.attention).__name__ == "ECA"
