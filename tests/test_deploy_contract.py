"""The artefact parity contract (deploy.contract), the real-image batches (deploy.images) and the
argument checks of the runtime benchmark (deploy.bench)."""

import numpy as np
import pytest

from vision_attention import deploy
from vision_attention.deploy import bench


def test_float_tolerance_is_the_whole_network_tolerance():
    from vision_attention.parity import RESNET_RTOL

    assert deploy.FLOAT_RTOL == RESNET_RTOL


def test_compare_logits_measures_by_hand():
    ref = np.array([[1.0, 4.0, -2.0], [0.5, 0.0, 3.0]], dtype=np.float32)
    got = ref.copy()
    got[1, 0] += 0.04  # max |a - b| = 0.04, max |ref| = 4: relative 0.01; top-1 unchanged
    got[0, 0] += 3.5   # 4.5 > 4.0: image 0 changes class
    r = deploy.compare_logits(got, ref, artefact="a", reference_name="b", batch=(1, 8))
    assert r.max_abs_diff == pytest.approx(3.5)
    assert r.rel_diff == pytest.approx(3.5 / 4.0)
    assert r.top1_agreement == 0.5 and r.images == 2 and r.batch == (1, 8)
    assert r.passed is None  # measured only
    assert r.as_row()["batch"] == "1, 8"


def test_check_artefact_passes_and_raises():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((6, 10)).astype(np.float32)
    ok = deploy.check_artefact(ref * (1 + 1e-6), ref, artefact="a", reference_name="b")
    assert ok.passed is True and ok.tolerance == deploy.FLOAT_RTOL
    with pytest.raises(deploy.ExportParityError, match="does not match b"):
        deploy.check_artefact(ref + 1e-2, ref, artefact="a", reference_name="b")
    flipped = ref.copy()
    i = int(ref[0].argmax())
    j = int(np.argsort(ref[0])[-2])
    flipped[0, [i, j]] = ref[0, [j, i]]  # swap the two largest logits of image 0
    with pytest.raises(deploy.ExportParityError, match="top-1 agreement"):
        deploy.check_artefact(flipped, ref, artefact="a", reference_name="b", tolerance=10.0)


@pytest.mark.parametrize("logits, ref, match", [
    (np.zeros((2, 3)), np.zeros((3, 3)), "same shape"),
    (np.zeros(3), np.zeros(3), "'logits' expected float logits"),
    (np.zeros((2, 3), dtype=np.int64), np.zeros((2, 3)), "'logits' expected float logits"),
    (np.zeros((2, 3)), np.full((2, 3), np.nan), "'reference' has non-finite"),
])
def test_compare_logits_errors(logits, ref, match):
    with pytest.raises(ValueError, match=match):
        deploy.compare_logits(logits, ref, artefact="a", reference_name="b")


@pytest.mark.parametrize("tolerance", [0, -1.0, True, "1e-4"])
def test_check_artefact_tolerance_errors(tolerance):
    with pytest.raises(ValueError, match="'tolerance'"):
        deploy.check_artefact(np.zeros((2, 3)), np.zeros((2, 3)), artefact="a", reference_name="b",
                              tolerance=tolerance)


def test_image_batches_are_real_and_seeded():
    x, names = deploy.evaluation_images(size=32)
    assert x.shape == (65, 3, 32, 32) and x.dtype == np.float32 and len(names) == 65
    assert names[0] == "astronaut" and names[1] == "astronaut/tl"
    assert len({n.split("/")[0] for n in names}) == 13
    # ImageNet-normalised: roughly zero mean, unit spread, and no two inputs alike
    assert abs(float(x.mean())) < 1.0 and 0.5 < float(x.std()) < 2.0
    assert len({float(v) for v in x.reshape(65, -1).mean(1)}) == 65
    a, b, c = (deploy.calibration_images(4, size=32, seed=s) for s in (0, 0, 1))
    assert a.shape == (4, 3, 32, 32) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert deploy.to_nhwc(a).shape == (4, 32, 32, 3) and deploy.to_nhwc(a).flags.c_contiguous


@pytest.mark.parametrize("call, match", [
    (lambda: deploy.evaluation_images(size=16), "'size' expected an int >= 32"),
    (lambda: deploy.evaluation_images(size=32.0), "'size'"),
    (lambda: deploy.calibration_images(0), "'count'"),
    (lambda: deploy.calibration_images(2, seed=1.5), "'seed'"),
    (lambda: deploy.to_nhwc(np.zeros((3, 4, 4))), "'x_nchw' expected a 4-D"),
])
def test_image_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("kwargs, match", [
    ({"runtime": "tensorrt"}, "'runtime'"),
    ({"runtime": "torch", "attention": "bam"}, "'attention'"),
    ({"runtime": "torch", "batches": ()}, "'batches'"),
    ({"runtime": "torch", "batches": (0,)}, "'batches'"),
    ({"runtime": "torch", "threads": 0}, "'threads'"),
    ({"runtime": "torch", "warmup": -1}, "'warmup'"),
    ({"runtime": "torch", "artefact": "model.onnx"}, "'artefact' must be None"),
    ({"runtime": "onnxruntime"}, "'artefact' expected the exported model"),
    ({"runtime": "litert", "artefact": "/nonexistent.tflite"}, "existing exported model"),
])
def test_runtime_benchmark_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.runtime_benchmark(**kwargs)


def test_check_at_batch_sizes_reports_the_worst_and_raises_at_the_bad_batch():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((8, 5))
    noise = {1: 1e-7, 8: 3e-7}
    r = deploy.check_at_batch_sizes(lambda b: ref + noise[b], ref, (1, 8), artefact="a", reference_name="b")
    assert r.batch == (1, 8) and r.max_abs_diff == pytest.approx(3e-7) and r.passed
    with pytest.raises(deploy.ExportParityError, match=r"at batch \(8,\)"):
        deploy.check_at_batch_sizes(lambda b: ref + (1e-7 if b == 1 else 1.0), ref, (1, 8),
                                    artefact="a", reference_name="b")
