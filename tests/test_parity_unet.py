"""The parity contract for the attention gates, the decoder blocks and the U-Nets: outputs, every
attention map, the gradients of both inputs, every parameter gradient and the weights after one
SGD step agree in PyTorch, PaddlePaddle and TensorFlow (vision_attention.parity.compare_frameworks,
which holds each pair to OUTPUT_ATOL / GRAD_ATOL)."""

import numpy as np
import pytest

from vision_attention.parity import compare_frameworks

RNG = np.random.default_rng(7)
X = RNG.standard_normal((2, 6, 12, 20)).astype(np.float32)
G_SMALL = RNG.standard_normal((2, 5, 5, 7)).astype(np.float32)    # non-integer ratios 12/5, 20/7
G_HALF = RNG.standard_normal((2, 5, 6, 10)).astype(np.float32)
IMAGE = RNG.standard_normal((2, 2, 16, 24)).astype(np.float32)

CASES = {
    "seed gate, g 5x7": ("AttentionGate", (X, G_SMALL), {"F_g": 5, "F_l": 6, "F_int": 3}),
    "seed gate, g same size": ("AttentionGate", (X, RNG.standard_normal((2, 5, 12, 20)).astype(np.float32)),
                               {"F_g": 5, "F_l": 6, "F_int": 4}),
    "grid gate, factor 2": ("GridAttentionGate", (X, G_HALF), {"in_channels": 6, "gating_channels": 5}),
    "grid gate, factor 3, g 2x3": ("GridAttentionGate", (X, G_SMALL[:, :, :2, :3]),
                                   {"in_channels": 6, "gating_channels": 5, "inter_channels": 2,
                                    "sub_sample_factor": 3}),
    "decoder block": ("DecoderBlock", (G_HALF, X), {"in_channels": 5, "out_channels": 4, "skip_channels": 6}),
    "decoder block, seed gate": ("DecoderBlockWithAttention", (G_HALF, X),
                                 {"in_channels": 5, "out_channels": 4, "skip_channels": 6, "gate": "seed"}),
    "decoder block, grid gate": ("DecoderBlockWithAttention", (G_HALF, X),
                                 {"in_channels": 5, "out_channels": 4, "skip_channels": 6, "gate": "grid"}),
    "U-Net": ("UNet", IMAGE, {"in_channels": 2, "num_classes": 2, "base_channels": 4, "depth": 3}),
    "Attention U-Net, seed gate": ("AttentionUNet", IMAGE, {"in_channels": 2, "num_classes": 2,
                                                           "base_channels": 4, "depth": 3, "gate": "seed"}),
    "Attention U-Net, grid gate": ("AttentionUNet", IMAGE, {"in_channels": 2, "num_classes": 2,
                                                           "base_channels": 4, "depth": 3, "gate": "grid"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_three_frameworks_agree_in_inference_and_training(case):
    name, inputs, kwargs = CASES[case]
    table = compare_frameworks(name, inputs, seed=3, **kwargs)
    assert list(table["pair"]) == ["torch-paddle", "torch-tensorflow", "paddle-tensorflow"]
    # every column the contract bounds was computed: outputs, gradients, the training step
    assert table[["output_max_abs", "grad_max_abs", "param_grad_max_abs", "step_max_abs"]].notna().all().all()
    if name != "DecoderBlock" and name != "UNet":
        assert table["attention_max_abs"].notna().all()
    assert table["passed"].all(), table.to_string()


def test_both_input_gradients_are_compared():
    """A gate's gradient with respect to g is compared too: zeroing it in one framework's
    result must make the table fail."""
    from vision_attention import parity

    weights = parity.random_weights("AttentionGate", seed=0, F_g=5, F_l=6, F_int=3)
    results = {}
    for fw in ("torch", "paddle"):
        module = parity.build_module(fw, "AttentionGate", F_g=5, F_l=6, F_int=3)
        parity.load_weights(module, weights)
        results[fw] = parity.run_module(fw, module, (X, G_SMALL))
    assert isinstance(results["torch"][1], tuple) and len(results["torch"][1]) == 2
    assert parity.difference_table(results, name="AttentionGate")["passed"].all()
    outputs, (gx, gg) = results["paddle"]
    results["paddle"] = (outputs, (gx, np.zeros_like(gg)))
    assert not parity.difference_table(results, name="AttentionGate")["passed"].any()
