"""create_vision_backbone agrees across PyTorch, Paddle and TensorFlow with ported weights.

For resnet50 and mobilenet_v2 (the trunks shared by the three frameworks) with each attention
type, the backbone is built once per framework, loaded with the same canonical weights
(:func:`vision_attention.parity.random_weights` of ``"create_vision_backbone"``, BatchNorm
statistics calibrated and perturbed) and run in eval/inference mode on one 1x3x64x64 input.
Compared, for every framework pair, with the whole-network tolerance of the parity contract
(max |diff| / max |ref| <= RESNET_RTOL): the features (through the parity layer's
run_module), and the intermediates of ``return_intermediates=True``: ``feature_maps`` and
``attention_weights`` (converted from NHWC for TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from conftest import PAIRS, RESNET_RTOL, seeded_input

from vision_attention._frameworks import import_paddle, import_tensorflow
from vision_attention.parity import (
    FRAMEWORKS,
    build_module,
    difference_table,
    export_weights,
    load_weights,
    random_weights,
    run_module,
)
from vision_attention.parity.layouts import activation_from_framework, activation_to_framework

paddle = import_paddle()
tf = import_tensorflow()

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("torch_single_thread")]

NAMES = ("resnet50", "mobilenet_v2")
VARIANTS = ("none", "se", "eca", "cbam", "bam")
INPUT_SHAPE = (1, 3, 64, 64)
HEADS = {"resnet50": "fc.", "mobilenet_v2": "classifier."}


def intermediates(fw: str, backbone, x_nchw) -> dict:
    """``backbone(x, return_intermediates=True)`` in eval mode, as NCHW numpy arrays (or None)."""
    x = np.ascontiguousarray(activation_to_framework(fw, x_nchw))
    if fw == "torch":
        backbone.eval()
        with torch.no_grad():
            out = backbone(torch.from_numpy(x), return_intermediates=True)
        out = {k: None if v is None else v.numpy() for k, v in out.items()}
    elif fw == "paddle":
        backbone.eval()
        with paddle.no_grad():
            out = backbone(paddle.to_tensor(x), return_intermediates=True)
        out = {k: None if v is None else v.numpy() for k, v in out.items()}
    else:
        out = backbone(tf.constant(x), return_intermediates=True, training=False)
        out = {k: None if v is None else np.asarray(v) for k, v in out.items()}
    return {k: None if v is None else activation_from_framework(fw, v) for k, v in out.items()}


def relative(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    return float(np.abs(a - b).max() / np.abs(a).max())


@pytest.fixture(scope="module", params=[(n, v) for n in NAMES for v in VARIANTS], ids=lambda p: f"{p[0]}-{p[1]}")
def backbones(request):
    """``(kwargs, weights, {fw: backbone}, {fw: run_module result}, {fw: intermediates})``, built
    once per case and framework; released after the case's tests."""
    name, variant = request.param
    kwargs = {"name": name, "attention_type": variant,
              "enable_attention_supervision": variant in ("cbam", "bam")}
    weights = random_weights("create_vision_backbone", seed=50, **kwargs)
    x = seeded_input(*INPUT_SHAPE)
    models, results, inter = {}, {}, {}
    for fw in FRAMEWORKS:
        models[fw] = build_module(fw, "create_vision_backbone", **kwargs)
        load_weights(models[fw], weights)
        results[fw] = run_module(fw, models[fw], x, grad=False)
        inter[fw] = intermediates(fw, models[fw], x)
    yield kwargs, weights, models, results, inter
    models.clear()


def test_features_agree_across_frameworks(backbones):
    kwargs, _, _, results, _ = backbones
    dim = {"resnet50": 2048, "mobilenet_v2": 1280}[kwargs["name"]]
    for fw, (outputs, _) in results.items():
        features = outputs["output"]
        assert features.shape == (1, dim) and features.dtype == np.float32, fw
        assert np.isfinite(features).all() and features.std() > 0, fw
    table = difference_table(results, name="create_vision_backbone", kwargs=kwargs, input_shape=INPUT_SHAPE)
    assert list(table["pair"]) == [f"{a}-{b}" for a, b in PAIRS]
    assert (table["output_max_rel"] <= RESNET_RTOL).all(), repr(table)
    assert table["passed"].all() and (table["tol_kind"] == "rel").all(), repr(table)


def test_intermediates_agree_across_frameworks(backbones):
    kwargs, _, _, results, inter = backbones
    spatial = kwargs["attention_type"] in ("cbam", "bam")
    for fw, out in inter.items():
        np.testing.assert_array_equal(out["features"], results[fw][0]["output"], err_msg=fw)
        assert out["feature_maps"].shape == (1, out["features"].shape[1], 2, 2), fw
        assert (out["attention_weights"] is not None) == spatial, fw
        if spatial:
            assert out["attention_weights"].shape == (1, 1, 2, 2), fw
    for a, b in PAIRS:
        for key in ("features", "feature_maps") + (("attention_weights",) if spatial else ()):
            diff = relative(inter[a][key], inter[b][key])
            assert diff <= RESNET_RTOL, f"{a}-{b} {key}: {diff:.2e}"


def test_canonical_names_are_torchvisions_under_trunk_and_the_attention_module(backbones):
    kwargs, weights, _, _, _ = backbones
    name, variant = kwargs["name"], kwargs["attention_type"]
    with torch.device("meta"):  # names only: nothing allocated
        reference = getattr(torchvision.models, name)(weights=None).state_dict()
    expected = {f"trunk.{k}" for k in reference
                if not k.startswith(HEADS[name]) and not k.endswith("num_batches_tracked")}
    trunk = {k for k in weights if k.startswith("trunk.")}
    attention = {k for k in weights if k.startswith("attention.")}
    assert trunk == expected
    assert trunk | attention == set(weights)
    assert bool(attention) == (variant != "none")
    if variant == "bam":
        assert weights["attention.channel_gate.fc2.bias"].shape == ({"resnet50": 2048, "mobilenet_v2": 1280}[name],)


def test_attention_weights_round_trip_in_every_framework(backbones):
    """The attention module's arrays export back unchanged from every framework (the trunks'
    round trip is tests/test_parity_resnet.py's and tests/test_parity_mobilenet_v2.py's)."""
    kwargs, weights, models, _, _ = backbones
    expected = {k[len("attention."):]: v for k, v in weights.items() if k.startswith("attention.")}
    for fw, model in models.items():
        if kwargs["attention_type"] == "none":
            assert model.attention is None, fw
            continue
        exported = export_weights(model.attention)
        assert sorted(exported) == sorted(expected), fw
        for key, value in exported.items():
            np.testing.assert_array_equal(value, expected[key], err_msg=f"{fw} {key}")


def test_pretrained_mobilenet_v2_features_classify_a_real_photograph_alike():
    """With the bundled ImageNet weights, the three frameworks' features of scikit-image's
    ``chelsea`` agree within the whole-network tolerance, and torchvision's own classifier
    (the checkpoint's ``classifier.1``) on those features says "Egyptian cat" (285) in each."""
    from vision_attention.data import imagenet_normalise, load_image
    from vision_attention.weights import bundled_canonical_weights

    image = imagenet_normalise(load_image("chelsea", 224)).transpose(2, 0, 1)[None]  # (1, 3, 224, 224)
    bundled = bundled_canonical_weights()
    features = {}
    for fw in FRAMEWORKS:
        backbone = build_module(fw, "create_vision_backbone", name="mobilenet_v2", pretrained=True)
        features[fw] = intermediates(fw, backbone, image)["features"]
    for a, b in PAIRS:
        assert relative(features[a], features[b]) <= RESNET_RTOL, (a, b)
    for fw, f in features.items():
        logits = f @ bundled["classifier.1.weight"].T + bundled["classifier.1.bias"]
        assert int(np.argmax(logits)) == 285, fw
