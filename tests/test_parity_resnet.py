"""The five ResNet-50 variants agree across PyTorch, Paddle and TensorFlow with ported weights.

Each variant is built once per framework, loaded with the same canonical weights
(:func:`vision_attention.parity.random_weights`, random BatchNorm statistics included) and
run in eval/inference mode on one 1x3x64x64 input (small, to keep the suite fast; 64 pixels
still leave layer4 at 2x2). Tolerance from the parity contract (defined in
:mod:`vision_attention.parity`): for every framework pair, max |diff| / max |ref| <= 1e-4 on
the logits.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import PAIRS, RESNET_RTOL, seeded_input

from vision_attention.parity import (
    FRAMEWORKS,
    batchnorm_config,
    build_module,
    difference_table,
    export_weights,
    load_weights,
    random_weights,
    run_module,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("torch_single_thread")]

VARIANTS = ("none", "se", "eca", "cbam", "bam")
INPUT_SHAPE = (1, 3, 64, 64)


@functools.lru_cache(maxsize=1)
def reference_weights(variant: str) -> dict:
    """Canonical weights of the variant (cached: the torchvision test reuses "none")."""
    return random_weights("attention_resnet", seed=50, depth=50, attention_type=variant)


@pytest.fixture(scope="module", params=VARIANTS)
def resnet50(request):
    """``(variant, weights, {framework: loaded model}, {framework: (outputs, grad)})``, built
    once per variant and framework; the models are released after the variant's tests."""
    variant = request.param
    kwargs = {"depth": 50, "attention_type": variant}
    weights = reference_weights(variant)
    x = seeded_input(*INPUT_SHAPE)
    models, results = {}, {}
    for fw in FRAMEWORKS:
        models[fw] = build_module(fw, "attention_resnet", **kwargs)
        load_weights(models[fw], weights)
        results[fw] = run_module(fw, models[fw], x, grad=False)
    yield variant, weights, models, results
    models.clear()


def test_torchvision_resnet50_weights_load_by_name_and_agree():
    """A torchvision ResNet-50 (random init, nothing downloaded) has exactly the canonical
    names of the ``"none"`` variant and, with the same weights, the same logits as our
    PyTorch model (which the tests below tie to Paddle and TensorFlow)."""
    import torchvision

    weights = reference_weights("none")
    reference = torchvision.models.resnet50(weights=None)
    assert sorted(export_weights(reference)) == sorted(weights)
    load_weights(reference, weights)
    ours = build_module("torch", "attention_resnet", depth=50, attention_type="none")
    load_weights(ours, weights)
    x = seeded_input(*INPUT_SHAPE)
    results = {"torchvision": run_module("torch", reference, x, grad=False),
               "torch": run_module("torch", ours, x, grad=False)}
    table = difference_table(results, name="attention_resnet", kwargs={"depth": 50, "attention_type": "none"},
                             input_shape=INPUT_SHAPE)
    assert (table["output_max_rel"] <= RESNET_RTOL).all(), repr(table)
    assert table["passed"].all(), repr(table)


def test_resnet50_logits_agree_across_frameworks(resnet50):
    variant, _, _, results = resnet50
    for fw, (outputs, _) in results.items():
        assert set(outputs) == {"output"}
        logits = outputs["output"]
        assert logits.shape == (INPUT_SHAPE[0], 1000) and logits.dtype == np.float32, fw
        assert np.isfinite(logits).all() and logits.std() > 0, fw
    table = difference_table(results, name="attention_resnet", kwargs={"depth": 50, "attention_type": variant},
                             input_shape=INPUT_SHAPE)
    assert list(table["pair"]) == [f"{a}-{b}" for a, b in PAIRS]
    assert (table["output_max_rel"] <= RESNET_RTOL).all(), repr(table)
    assert table["passed"].all() and (table["tol_kind"] == "rel").all(), repr(table)


def test_resnet50_weights_round_trip_in_every_framework(resnet50):
    _, weights, models, _ = resnet50
    for fw, model in models.items():
        exported = export_weights(model)
        assert list(exported) == list(weights), fw  # same names, in the same (definition) order
        for name, value in exported.items():
            np.testing.assert_array_equal(value, weights[name], err_msg=f"{fw} {name}")


def test_resnet50_attention_placement_matches_the_spec(resnet50):
    variant, weights, _, _ = resnet50
    blocks = [name for name in weights if name.endswith(".conv3.weight")]
    assert len(blocks) == 16  # 3 + 4 + 6 + 3 bottlenecks
    in_block = {n.split(".attention.")[0] for n in weights if ".attention." in n}
    bam = {n.split(".")[0] for n in weights if n.startswith("bam")}
    if variant in ("se", "eca", "cbam"):
        assert in_block == {b.rsplit(".conv3.", 1)[0] for b in blocks} and not bam
    elif variant == "bam":
        assert not in_block and bam == {"bam1", "bam2", "bam3"}
        assert weights["bam3.channel_gate.fc2.bias"].shape == (1024,)
    else:
        assert not in_block and not bam


def test_resnet50_batchnorm_eps_and_momentum_agree_across_frameworks(resnet50):
    _, _, models, _ = resnet50
    configs = {fw: batchnorm_config(model) for fw, model in models.items()}
    for fw, config in configs.items():
        assert config.keys() == configs["torch"].keys(), fw
        for layer, values in config.items():
            assert values["eps"] == pytest.approx(1e-5, rel=1e-6), (fw, layer)
            assert values["momentum"] == pytest.approx(configs["torch"][layer]["momentum"], abs=1e-7), (fw, layer)
