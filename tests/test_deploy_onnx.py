"""PyTorch -> ONNX -> ONNX Runtime, and ONNX Runtime INT8 (vision_attention.deploy.onnx, .quantize).

Small networks (depth-18 attention ResNet, 10 classes, 64 px) on real images; each model is
exported once per module (the exports dominate the time).
"""

import copy
import math

import numpy as np
import onnx
import pytest
import torch

from vision_attention.deploy import ExportParityError, calibration_images, evaluation_images
from vision_attention.deploy.onnx import check_onnx, eager_logits, export_onnx, onnx_session, run_onnx
from vision_attention.deploy.quantize import (
    ImageCalibrationReader,
    file_size_mb,
    quantize_dynamic_int8,
    quantize_static_int8,
    tensor_errors,
)
from vision_attention.torch.models import attention_resnet

SIZE = 64
SHAPE = (1, 3, SIZE, SIZE)


@pytest.fixture(scope="module")
def images():
    x, _ = evaluation_images(SIZE)
    return x[::8]  # 9 images (whole photographs and corner crops): batches of 8 and 1


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """attention type -> (model, .onnx path), exported with the dynamo exporter at batch 1."""
    cache = {}

    def get(attention_type):
        if attention_type not in cache:
            torch.manual_seed(0)
            model = attention_resnet(18, attention_type, num_classes=10)
            path = tmp_path_factory.mktemp("onnx") / f"{attention_type}.onnx"
            cache[attention_type] = model, export_onnx(model, path, input_shape=SHAPE)
        return cache[attention_type]

    return get


def _batch_dims(path):
    graph = onnx.load(str(path)).graph
    return [v.type.tensor_type.shape.dim[0].dim_param for v in (graph.input[0], graph.output[0])]


@pytest.mark.parametrize("attention_type", ["se", "eca", "cbam", "bam"])
def test_dynamo_export_batch_1_runs_at_batch_8_and_matches_eager(exported, images, attention_type):
    model, path = exported(attention_type)
    assert _batch_dims(path) == ["batch", "batch"]
    assert not path.with_name(path.name + ".data").exists()  # self-contained
    assert [o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")] == [18]
    check = check_onnx(model, path, images, batch_sizes=(1, 8))
    assert check.passed and check.batch == (1, 8) and check.images == len(images)
    assert check.rel_diff <= 1e-4 and check.top1_agreement == 1.0
    logits = run_onnx(onnx_session(path), images, batch_size=8)
    assert logits.shape == (len(images), 10) and logits.dtype == np.float32


def test_legacy_exporter_opset_17(tmp_path, images):
    torch.manual_seed(1)
    model = attention_resnet(18, "cbam", num_classes=10)
    path = export_onnx(model, tmp_path / "cbam17.onnx", input_shape=SHAPE, opset=17, dynamo=False)
    assert [o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert _batch_dims(path) == ["batch", "batch"]
    assert model.training  # the caller's mode is restored
    session = onnx_session(path)
    assert check_onnx(model, session, images, batch_sizes=(8, 5)).passed
    assert onnx_session(path, threads=2).get_session_options().intra_op_num_threads == 2
    eager = eager_logits(model, images, batch_size=3)
    np.testing.assert_allclose(run_onnx(session, images), eager, rtol=0, atol=1e-4 * np.abs(eager).max())


def test_check_onnx_fails_on_a_different_model(exported, images):
    model, path = exported("se")
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.fc.weight.mul_(1.001)  # logits change by about 1e-3 of their size: beyond 1e-4
    with pytest.raises(ExportParityError, match="does not match eager PyTorch"):
        check_onnx(changed, path, images, batch_sizes=(8,))


def test_export_refuses_a_batch_size_fixed_in_the_graph(tmp_path):
    class FixedBatch(torch.nn.Module):  # int() on the traced batch size: the silent bug
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(12, 4)

        def forward(self, x):
            return self.fc(x.reshape(int(x.shape[0]), -1))

    with pytest.raises(RuntimeError, match="batch axis is fixed at 1, not symbolic"):
        export_onnx(FixedBatch(), tmp_path / "fixed.onnx", input_shape=(1, 3, 2, 2))
    with pytest.raises(RuntimeError, match="fails at batch 2"), pytest.warns(torch.jit.TracerWarning):
        export_onnx(FixedBatch(), tmp_path / "fixed17.onnx", input_shape=(1, 3, 2, 2), opset=17, dynamo=False)
    assert list(tmp_path.iterdir()) == []  # the bad files are deleted


def test_calibration_reader_gives_every_image_once_per_pass():
    x = calibration_images(5, SIZE, seed=3)
    reader = ImageCalibrationReader(x, input_name="input", batch_size=2)
    assert len(reader) == 3
    for _ in range(2):
        batches = list(iter(reader.get_next, None))
        assert [b["input"].shape[0] for b in batches] == [2, 2, 1]
        np.testing.assert_array_equal(np.concatenate([b["input"] for b in batches]), x)
        assert reader.get_next() is None
        reader.rewind()


@pytest.fixture(scope="module")
def quantized(exported, tmp_path_factory):
    model, path = exported("cbam")
    reader = ImageCalibrationReader(calibration_images(8, SIZE))
    list(iter(reader.get_next, None))  # used up: quantize_static_int8 must rewind it
    out = tmp_path_factory.mktemp("int8") / "cbam_int8.onnx"
    return model, path, quantize_static_int8(path, out, reader)


def test_static_int8_is_smaller_and_runs_at_batch_8(quantized, images):
    _, fp32, int8 = quantized
    assert file_size_mb(int8) / file_size_mb(fp32) < 0.5  # int8 weights: about a quarter
    assert file_size_mb(fp32) == pytest.approx(fp32.stat().st_size / 1e6)
    graph = onnx.load(str(int8)).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    logits = run_onnx(onnx_session(int8), images, batch_size=8)
    assert logits.shape == (len(images), 10) and np.all(np.isfinite(logits))


def test_dynamic_int8(exported, images, tmp_path):
    _, fp32 = exported("se")
    int8 = quantize_dynamic_int8(fp32, tmp_path / "se_dynamic.onnx")
    assert file_size_mb(int8) / file_size_mb(fp32) < 0.5
    assert "ConvInteger" in {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert run_onnx(onnx_session(int8), images, batch_size=8).shape == (len(images), 10)


def test_tensor_errors_for_convolutions_and_gates(quantized, images):
    _, fp32, int8 = quantized
    rows = tensor_errors(fp32, int8, images[:4])
    by_type = {t: [r for r in rows if r["op_type"] == t] for t in ("Conv", "Gemm", "Sigmoid", "Mul")}
    assert all(by_type.values())
    assert len(by_type["Sigmoid"]) == 16  # 8 blocks: channel and spatial gate
    for row in rows:
        assert all(math.isfinite(row[k]) for k in ("rel_rmse", "max_abs", "rmse", "own_rel_rmse"))
        assert row["elements"] > 0
    assert all(r["quantized"] for r in by_type["Sigmoid"])
    assert any(r["fused"] == "Relu" for r in by_type["Conv"])
    assert all(r["rel_rmse"] > 0 for r in rows)
    same = tensor_errors(fp32, fp32, images[:2], op_types=("Conv", "Sigmoid"))
    assert {r["op_type"] for r in same} == {"Conv", "Sigmoid"}
    assert all(r["rel_rmse"] == 0 and r["max_abs"] == 0 and not r["quantized"] for r in same)


def _error_cases(model, path, tmp_path, images):
    session = onnx_session(path)
    missing = tmp_path / "missing.onnx"
    reader = ImageCalibrationReader(images[:2], input_name="pixels")
    return [
        (lambda: export_onnx(object(), tmp_path / "a.onnx"), "model"),
        (lambda: export_onnx(model, tmp_path / "a.txt"), "path"),
        (lambda: export_onnx(model, tmp_path / "no" / "a.onnx"), "path"),
        (lambda: export_onnx(model, tmp_path / "a.onnx", input_shape=(1, 3, 0, 64)), "input_shape"),
        (lambda: export_onnx(model, tmp_path / "a.onnx", input_shape=64), "input_shape"),
        (lambda: export_onnx(model, tmp_path / "a.onnx", opset=17), "opset"),
        (lambda: export_onnx(model, tmp_path / "a.onnx", opset=21, dynamo=False), "opset"),
        (lambda: export_onnx(model, tmp_path / "a.onnx", dynamo=1), "dynamo"),
        (lambda: onnx_session(missing), "path"),
        (lambda: onnx_session(path, threads=0), "threads"),
        (lambda: run_onnx(object(), images), "session"),
        (lambda: run_onnx(session, images[:, :2]), "x"),
        (lambda: run_onnx(session, images.astype(np.int32)), "x"),
        (lambda: run_onnx(session, images, batch_size=0), "batch_size"),
        (lambda: eager_logits(model, images, batch_size=0), "batch_size"),
        (lambda: check_onnx("model", path, images), "model"),
        (lambda: check_onnx(model, 3, images), "path_or_session"),
        (lambda: check_onnx(model, missing, images), "path_or_session"),
        (lambda: check_onnx(model, path, images[0, 0, 0]), "images"),
        (lambda: check_onnx(model, path, images, batch_sizes=()), "batch_sizes"),
        (lambda: check_onnx(model, path, images, threads=-1), "threads"),
        (lambda: ImageCalibrationReader(images[:, 0]), "images"),
        (lambda: ImageCalibrationReader(images, input_name=""), "input_name"),
        (lambda: ImageCalibrationReader(images, batch_size=0), "batch_size"),
        (lambda: quantize_static_int8(missing, tmp_path / "q.onnx", images), "fp32_path"),
        (lambda: quantize_static_int8(path, tmp_path / "q.txt", images), "out_path"),
        (lambda: quantize_static_int8(path, path, images), "out_path"),
        (lambda: quantize_static_int8(path, tmp_path / "q.onnx", images[:, 0]), "calibration"),
        (lambda: quantize_static_int8(path, tmp_path / "q.onnx", reader), "calibration"),
        (lambda: quantize_static_int8(path, tmp_path / "q.onnx", images, per_channel=1), "per_channel"),
        (lambda: quantize_static_int8(path, tmp_path / "q.onnx", images, activation_type="int4"),
         "activation_type"),
        (lambda: quantize_static_int8(path, tmp_path / "q.onnx", images, weight_type=8), "weight_type"),
        (lambda: quantize_static_int8(path, tmp_path / "q.onnx", images, method="mse"), "method"),
        (lambda: quantize_static_int8(path, tmp_path / "q.onnx", images, reduce_range=None), "reduce_range"),
        (lambda: quantize_dynamic_int8(path, tmp_path / "d.txt"), "out_path"),
        (lambda: file_size_mb(missing), "path"),
        (lambda: tensor_errors(path, missing, images), "int8_path"),
        (lambda: tensor_errors(missing, path, images), "fp32_path"),
        (lambda: tensor_errors(path, path, images[:, 0]), "images"),
        (lambda: tensor_errors(path, path, images, op_types=()), "op_types"),
        (lambda: tensor_errors(path, path, images, op_types=("LSTM",)), "int8_path"),
        (lambda: tensor_errors(path, path, images, batch_size=0), "batch_size"),
    ]


def test_bad_arguments_raise_value_error_naming_them(exported, images, tmp_path):
    model, path = exported("eca")
    for call, name in _error_cases(model, path, tmp_path, images[:2]):
        with pytest.raises(ValueError, match=f"argument '{name}'"):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written
