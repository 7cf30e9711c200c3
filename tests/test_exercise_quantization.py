"""Exercise 11 (INT8 quantize-dequantize): the reference solutions are ONNX Runtime's quantization.

Independent checks, not copies of the code under test: the scale and zero point come from
``onnxruntime.quantization`` itself (its MinMax calibrator's range of the calibration tensor,
then ``quant_utils.compute_scale_zp`` for asymmetric uint8, as its static quantizer calls it),
and ``y`` from ONNX Runtime running a QuantizeLinear -> DequantizeLinear graph with them. The
three reference solutions (imported from the exercise's files) must equal both bit for bit on
every graded case: public ones and the hidden draws of several seeds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, create_calibrator
from onnxruntime.quantization.quant_utils import compute_scale_zp, get_qmin_qmax_for_qType

from vision_attention.grading import load_exercises
from vision_attention.grading.grader import build_cases, load_cases_module

ROOT = Path(__file__).resolve().parents[1] / "exercises"
SEEDS = (2026, 1, 77)  # hidden draws; 2026 is the grading proof's seed
FRAMEWORKS = ("torch", "paddle", "tensorflow")


@pytest.fixture(scope="module")
def exercise():
    (e,) = load_exercises(ROOT, ["11"])
    return e


@pytest.fixture(scope="module")
def graded(exercise):
    """Every graded case of the public group and of the hidden draws of ``SEEDS``: (case, arrays)."""
    out = {}
    for seed in SEEDS:
        for case, _init, arrays in build_cases(exercise, seed):
            out[(case.id if case.group == "public" else f"{case.id}@{seed}")] = (case, arrays)
    return out


@pytest.fixture(scope="module")
def solutions(exercise):
    """``fake_quantize`` of each framework's reference file, and a call on numpy arrays."""
    import paddle
    import tensorflow as tf
    import torch

    to_tensor = {"torch": torch.from_numpy, "paddle": paddle.to_tensor, "tensorflow": tf.constant}
    calls = {}
    for fw in FRAMEWORKS:
        spec = importlib.util.spec_from_file_location(f"_ex11_reference_{fw}", exercise.path / f"{fw}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

        def call(x, cal, fn=module.fake_quantize, t=to_tensor[fw]):
            y, scale, zero_point = fn(t(x), t(cal))
            return np.asarray(y.numpy()), scale, zero_point

        calls[fw] = call
    calls["divide"] = {fw: (lambda x, s, t=to_tensor[fw]: np.asarray((t(x) / s).numpy()))
                       for fw in FRAMEWORKS}
    return calls


class _Batches(CalibrationDataReader):
    def __init__(self, batches):
        self._it = iter(batches)

    def get_next(self):
        return next(self._it, None)


def _ort_scale_zero_point(calibration: np.ndarray, tmp: Path) -> tuple[float, int]:
    """ONNX Runtime's MinMax calibration of a tensor ``x`` (fed one sample at a time), then its
    asymmetric uint8 scale and zero point (``compute_scale_zp``, reduce_range off)."""
    dims = [f"d{i}" for i in range(calibration.ndim)]
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"])], "calibrate",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("r", TensorProto.FLOAT, dims)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, tmp / "model.onnx")
    calibrator = create_calibrator(tmp / "model.onnx", ["Relu"], augmented_model_path=tmp / "augmented.onnx",
                                   calibrate_method=CalibrationMethod.MinMax)
    calibrator.collect_data(_Batches([{"x": calibration[i : i + 1]} for i in range(len(calibration))]))
    rmin, rmax = calibrator.compute_data()["x"].range_value
    assert rmin.item() == calibration.min() and rmax.item() == calibration.max()
    qmin, qmax = get_qmin_qmax_for_qType(TensorProto.UINT8, reduce_range=False, symmetric=False)
    zero_point, scale = compute_scale_zp(rmin, rmax, qmin, qmax, symmetric=False)
    assert scale.dtype == np.float32 and zero_point.dtype == np.uint8
    return float(scale.item()), int(zero_point.item())


def _ort_qdq(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """ONNX Runtime's QuantizeLinear -> DequantizeLinear of ``x`` (per tensor, uint8 zero point)."""
    nodes = [helper.make_node("QuantizeLinear", ["x", "scale", "zero_point"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "scale", "zero_point"], ["y"])]
    inits = [helper.make_tensor("scale", TensorProto.FLOAT, [], [scale]),
             helper.make_tensor("zero_point", TensorProto.UINT8, [], [zero_point])]
    dims = [f"d{i}" for i in range(x.ndim)]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x})
    return y


@pytest.fixture(scope="module")
def onnxruntime_results(graded, tmp_path_factory):
    out = {}
    for key, (_case, arrays) in graded.items():
        scale, zero_point = _ort_scale_zero_point(arrays["calibration"], tmp_path_factory.mktemp("calibrate"))
        out[key] = (_ort_qdq(arrays["x"], scale, zero_point), scale, zero_point)
    return out


def test_the_cases_hold_every_kind_ties_and_values_beyond_the_range(graded, onnxruntime_results):
    """Per kind the calibration's signs (gate all positive, logprob all negative, conv both), and in
    every x: exact ties of both parities (and both signs for conv) and values that clip, all
    measured with ONNX Runtime's scale and zero point."""
    kinds = set()
    for key, (case, arrays) in graded.items():
        x, cal = arrays["x"], arrays["calibration"]
        assert x.dtype == cal.dtype == np.float32, key
        _y, scale, zero_point = onnxruntime_results[key]
        kind = case.params["kind"]
        kinds.add((case.group, kind))
        if kind == "gate":
            assert cal.min() > 0 and cal.max() < 1 and zero_point == 0, key
        elif kind == "logprob":
            assert cal.max() < 0 and zero_point == 255 and x.ndim == 2, key
        else:
            assert cal.min() < 0 < cal.max() and 0 < zero_point < 255, key
            raw = -float(cal.min()) / scale
            assert raw % 1 == case.params["zero_frac"] and (zero_point > raw) == (raw % 1 > 0.5), key
            assert (x == 0).any(), key
        v = x.astype(np.float64) / scale  # exact: the cases' scales have 12 significant bits
        tie = (v % 1 == 0.5) & (np.floor(v) + zero_point >= 0) & (np.ceil(v) + zero_point <= 255)
        below = np.floor(v[tie])
        for sign in ((below >= 0), (below < 0)) if kind == "conv" else ((below == below),):
            assert (below[sign] % 2 == 0).sum() >= 3 and (below[sign] % 2 == 1).sum() >= 3, key
        q = np.rint(v) + zero_point
        assert (q > 255.5).any() or kind == "logprob", key
        assert (q < -0.5).any() or kind == "gate", key
    assert {k for _g, k in kinds} == {"gate", "conv", "logprob"}
    assert {g for g, _k in kinds} == {"public", "hidden_gate", "hidden_conv", "hidden_logprob"}


def test_each_framework_divides_to_exact_ties(graded, onnxruntime_results, solutions):
    """``x / scale`` in each framework's float32 gives exactly k + 0.5 where it should (so the
    rounding, not the division, decides the ties)."""
    for key, (_case, arrays) in graded.items():
        x = arrays["x"]
        scale = onnxruntime_results[key][1]
        exact = x.astype(np.float64) / scale
        for fw, divide in solutions["divide"].items():
            v = divide(x, scale)
            assert v.dtype == np.float32, (key, fw)
            ties = exact % 1 == 0.5
            assert ties.sum() >= 8 and np.array_equal(v[ties], exact[ties]), (key, fw)


def test_reference_solutions_equal_onnxruntime_bit_for_bit(graded, onnxruntime_results, solutions):
    for key, (_case, arrays) in graded.items():
        want_y, want_scale, want_zp = onnxruntime_results[key]
        assert want_y.dtype == np.float32 and want_y.shape == arrays["x"].shape
        for fw in FRAMEWORKS:
            y, scale, zero_point = solutions[fw](arrays["x"], arrays["calibration"])
            assert type(scale) is float and type(zero_point) is int, (key, fw)
            assert (scale, zero_point) == (want_scale, want_zp), (key, fw, scale, zero_point)
            assert y.dtype == np.float32 and np.array_equal(y, want_y), (key, fw, np.abs(y - want_y).max())


def test_a_calibration_of_zeros_gives_scale_one(solutions, tmp_path):
    """rmax == rmin (a dead ReLU: every calibration value 0): ONNX Runtime uses scale 1.0 and zero
    point 0, and so does every reference; ties round half to even and 300 saturates at 255."""
    cal = np.zeros((4, 3, 2, 2), np.float32)
    x = np.array([[-3.0, -0.5, 0.0, 0.5, 1.5], [2.5, 3.5, 254.5, 255.5, 300.0]], np.float32)
    assert _ort_scale_zero_point(cal, tmp_path) == (1.0, 0)
    want = _ort_qdq(x, 1.0, 0)
    np.testing.assert_array_equal(want, [[0, 0, 0, 0, 2], [2, 4, 254, 255, 255]])
    for fw in FRAMEWORKS:
        y, scale, zero_point = solutions[fw](x, cal)
        assert (scale, zero_point) == (1.0, 0) and np.array_equal(y, want), fw


def test_the_hints_model_is_onnxruntime_and_names_each_mistake(exercise, graded, onnxruntime_results):
    """The numpy model behind the hints (cases._variant) equals ONNX Runtime on every case, and each
    modelled mistake, fed to diagnose, gets the hint that names it (the mutants' mistakes,
    checked here without child processes)."""
    cases = load_cases_module(exercise)
    hints = {
        "zero_in_range": ({"zero_in_range": False}, "must contain 0"),
        "levels": ({"levels": 256}, "divides the range by 256"),
        "symmetric": ({"symmetric": True}, "symmetric"),
        "trunc": ({"zp_rule": "trunc"}, "truncated or rounded up"),
        "ceil": ({"zp_rule": "ceil"}, "truncated or rounded up"),
        "clip": ({"clip": False}, "not clipped"),
        "half_up": ({"round_mode": "half_up"}, "half to even"),
        "half_away": ({"round_mode": "half_away"}, "half to even"),
    }
    named = set()
    for key, (case, arrays) in graded.items():
        x, cal = arrays["x"], arrays["calibration"]
        want_y, want_scale, want_zp = onnxruntime_results[key]
        y, scale, zero_point = cases._variant(x, cal)
        assert (scale, zero_point) == (want_scale, want_zp) and np.array_equal(y, want_y), key
        expected = {"y": want_y, "scale": np.asarray(want_scale), "zero_point": np.asarray(want_zp)}
        assert cases.diagnose(case.params, arrays, expected, expected) is None  # a hint only on a mismatch
        for name, (change, words) in hints.items():
            y2, s2, z2 = cases._variant(x, cal, **change)
            if np.array_equal(y2, want_y) and (s2, z2) == (want_scale, want_zp):
                continue  # this case does not show that mistake (e.g. no zero point to round)
            got = {"y": y2, "scale": np.asarray(s2), "zero_point": np.asarray(z2)}
            assert words in cases.diagnose(case.params, arrays, expected, got), (key, name)
            named.add(name)
    assert named == set(hints)


@pytest.mark.parametrize("params, message", [
    ({"kind": "relu", "batch": 1, "channels": 4}, "kind must be one of"),
    ({"kind": "conv", "batch": 1, "channels": 4, "size": 5, "zero_frac": 0.5}, "zero_frac"),
])
def test_make_case_rejects_unknown_kinds_and_tied_zero_points(exercise, params, message):
    cases = load_cases_module(exercise)
    with pytest.raises(ValueError, match=message):
        cases.make_case(np.random.default_rng(0), **params)
