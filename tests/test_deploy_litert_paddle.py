"""LiteRT (TensorFlow) and Paddle Inference artefacts against the eager models and PyTorch.

One depth-18 attention ResNet (10 classes, 64 px) per attention type (SE, ECA, CBAM, BAM) gets
canonical weights (:func:`vision_attention.parity.random_weights`, random calibrated BatchNorm
statistics) loaded into the PyTorch model, exported from it with
:func:`vision_attention.parity.export_weights` and loaded into the Paddle and Keras models. Each is
exported once (LiteRT float32 at batch-1 shape, Paddle with a ``None`` batch) and run on 17 real
images (:func:`vision_attention.deploy.evaluation_images`; 17 = 8 + 8 + 1, so batch 8 ends with a
short chunk) at batch 8 and 1. Contract (:mod:`vision_attention.deploy.contract`): logits within
``FLOAT_RTOL`` (``max |a - b| / max |b| <= 1e-4``) of the eager model and of eager PyTorch, every
top-1 equal. Quantized LiteRT modes run on a small Keras CNN with a CBAM block (~190 k weights).
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from vision_attention.deploy import FLOAT_RTOL, ExportParityError, check_artefact, compare_logits
from vision_attention.deploy import calibration_images, evaluation_images, to_nhwc
from vision_attention.deploy.litert import (
    check_litert,
    export_litert,
    litert_interpreter,
    run_litert,
)
from vision_attention.deploy.paddle_inference import (
    check_paddle_inference,
    export_paddle_inference,
    paddle_predictor,
    run_paddle_inference,
)
from vision_attention.parity import build_module, export_weights, load_weights, random_weights

pytestmark = pytest.mark.usefixtures("torch_single_thread")

VARIANTS = ("eca", "cbam", "bam")  # SE's operators are a subset of CBAM's channel gate
SIZE, CLASSES, IMAGES = 64, 10, 17
SMALL = 32  # side of the small models' input


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """The first 17 evaluation images at 64 px, float32 NCHW."""
    return evaluation_images(SIZE)[0][:IMAGES]


@pytest.fixture(scope="module")
def small_images(images) -> np.ndarray:
    """The same images at 32 px (2 x 2 means of the 64 px ones: one evaluation_images call)."""
    n, c = images.shape[:2]
    return np.ascontiguousarray(images.reshape(n, c, SMALL, 2, SMALL, 2).mean(axis=(3, 5)))


def _torch_logits(model, x: np.ndarray) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="module", params=VARIANTS)
def exported(request, images, tmp_path_factory):
    """One variant: the three models with the same canonical weights, both artefacts, and eager
    PyTorch's logits on ``images``."""
    variant = request.param
    kwargs = {"depth": 18, "attention_type": variant, "num_classes": CLASSES}
    torch_model = build_module("torch", "attention_resnet", **kwargs)
    load_weights(torch_model, random_weights("attention_resnet", seed=18, **kwargs))
    weights = export_weights(torch_model)
    models = {}
    for fw in ("paddle", "tensorflow"):
        models[fw] = build_module(fw, "attention_resnet", **kwargs)
        load_weights(models[fw], weights)
    folder = tmp_path_factory.mktemp(f"deploy_{variant}")
    tflite = export_litert(models["tensorflow"], folder / "model.tflite", input_shape=(1, SIZE, SIZE, 3))
    files = export_paddle_inference(models["paddle"], folder / "model", input_shape=(None, 3, SIZE, SIZE))
    yield types.SimpleNamespace(variant=variant, models=models, tflite=tflite, paddle_files=files,
                                prefix=folder / "model", torch_logits=_torch_logits(torch_model, images))
    models.clear()


def test_litert_float32_has_dynamic_batch_and_meets_contract(exported, images):
    """Exported at batch-1 shape, the file's input is ``[-1, 64, 64, 3]`` and it gives the eager
    Keras logits at batch 8 and 1, and eager PyTorch's (same canonical weights, NHWC input)."""
    interpreter = litert_interpreter(exported.tflite)
    assert list(interpreter.get_input_details()[0]["shape_signature"]) == [-1, SIZE, SIZE, 3]
    x = to_nhwc(images)
    result = check_litert(exported.models["tensorflow"], interpreter, x, batch_sizes=(8, 1))
    assert result.passed and result.batch == (8, 1) and result.rel_diff <= FLOAT_RTOL, result
    logits = run_litert(interpreter, x, batch_size=8)
    assert logits.shape == (IMAGES, CLASSES) and logits.dtype == np.float32
    check_artefact(logits, exported.torch_logits, artefact="LiteRT", reference_name="eager PyTorch")


def test_paddle_inference_has_dynamic_batch_and_meets_contract(exported, images):
    """Both files exist; the predictor with oneDNN (the default of :func:`check_paddle_inference`)
    gives the eager Paddle logits at batch 8 and 1; with and without oneDNN it gives eager
    PyTorch's (same canonical weights) at batch 8."""
    assert [f.suffix for f in exported.paddle_files] == [".json", ".pdiparams"]
    assert all(f.is_file() for f in exported.paddle_files)
    result = check_paddle_inference(exported.models["paddle"], exported.prefix, images, batch_sizes=(8, 1))
    assert result.passed and result.batch == (8, 1), result
    for mkldnn in (True, False):
        predictor = paddle_predictor(exported.prefix, mkldnn=mkldnn)
        logits = run_paddle_inference(predictor, images, batch_size=8)
        assert logits.shape == (IMAGES, CLASSES) and logits.dtype == np.float32
        check_artefact(logits, exported.torch_logits, artefact=f"Paddle Inference (mkldnn={mkldnn})",
                       reference_name="eager PyTorch")


@pytest.mark.parametrize("exported", ["cbam"], indirect=True)
def test_checks_fail_when_weights_change_after_export(exported, images):
    """The classifier's weights scaled by 1 + 1e-3 after export: the logits move by ~1e-3 of their
    scale, ten times the tolerance, and both checks raise (weights restored afterwards). One
    variant (CBAM) is enough: the check does not depend on the architecture."""
    keras_fc, paddle_fc = exported.models["tensorflow"].fc, exported.models["paddle"].fc
    kernel, weight = keras_fc.kernel.numpy(), paddle_fc.weight.numpy()
    keras_fc.kernel.assign(kernel * 1.001)
    paddle_fc.weight.set_value(weight * 1.001)
    try:
        with pytest.raises(ExportParityError, match="does not match eager Keras"):
            check_litert(exported.models["tensorflow"], exported.tflite, to_nhwc(images), batch_sizes=(8,))
        with pytest.raises(ExportParityError, match="does not match eager Paddle"):
            check_paddle_inference(exported.models["paddle"], exported.prefix, images, batch_sizes=(8,))
    finally:
        keras_fc.kernel.assign(kernel)
        paddle_fc.weight.set_value(weight)


# --- quantized LiteRT on a small CNN ----------------------------------------------------------


@pytest.fixture(scope="module")
def small_cnn():
    """A built Keras CNN, NHWC 32 px: conv(3->32, stride 2) + BN + ReLU, CBAM(32), two 3x3 convs
    (32->128, 128->128) + BN + ReLU, global average pooling, dense(10): 190 k weights."""
    from vision_attention.tensorflow import CBAM
    from vision_attention._frameworks import import_tensorflow

    keras = import_tensorflow().keras
    keras.utils.set_random_seed(0)
    def conv_bn_relu(channels: int, stride: int = 1) -> list:
        return [keras.layers.Conv2D(channels, 3, strides=stride, padding="same"),
                keras.layers.BatchNormalization(), keras.layers.ReLU()]

    layers = [*conv_bn_relu(32, 2), CBAM(32, 8), *conv_bn_relu(128), *conv_bn_relu(128),
              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(CLASSES)]
    model = keras.Sequential([keras.Input((SMALL, SMALL, 3)), *layers])
    model(np.zeros((1, SMALL, SMALL, 3), np.float32), training=False)
    return model


@pytest.fixture(scope="module")
def small_files(small_cnn, tmp_path_factory):
    """The small CNN in the three modes (int8 calibrated on 16 calibration crops)."""
    folder = tmp_path_factory.mktemp("litert_small")
    shape = (None, SMALL, SMALL, 3)
    representative = to_nhwc(calibration_images(16, SMALL, seed=0))
    return {mode: export_litert(small_cnn, folder / f"{mode}.tflite", mode=mode, input_shape=shape,
                                representative=representative if mode == "int8" else None)
            for mode in ("float32", "dynamic", "int8")}


def test_quantized_litert_is_smaller_and_runs_at_batch_8(small_cnn, small_files, small_images):
    """int8 weights: both quantized files are below 0.35 of the float32 file (0.25 for the weights
    alone; quantization scales and the graph add the rest); both run at batch 8 and 3 with float32
    input and output, with and without XNNPACK, and ``check_litert`` refuses them (the float
    contract is not theirs)."""
    sizes = {mode: path.stat().st_size for mode, path in small_files.items()}
    x = to_nhwc(small_images[:8])
    reference = run_litert(litert_interpreter(small_files["float32"]), x)
    check_litert(small_cnn, small_files["float32"], x, batch_sizes=(8, 3))
    for mode in ("dynamic", "int8"):
        assert sizes[mode] < 0.35 * sizes["float32"], sizes
        interpreter = litert_interpreter(small_files[mode])
        spec, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        assert list(spec["shape_signature"]) == [-1, SMALL, SMALL, 3]
        assert spec["dtype"] == np.float32 and out["dtype"] == np.float32
        logits = run_litert(interpreter, x, batch_size=8)
        assert logits.shape == (8, CLASSES) and np.isfinite(logits).all()
        assert run_litert(interpreter, x, batch_size=3).shape == logits.shape
        builtin = run_litert(litert_interpreter(small_files[mode], xnnpack=False), x, batch_size=8)
        assert builtin.shape == logits.shape and np.isfinite(builtin).all()
        measured = compare_logits(logits, reference, artefact=mode, reference_name="LiteRT float32")
        assert measured.max_abs_diff > 0  # quantized: not the float graph
        with pytest.raises(ValueError, match="'path_or_interpreter'.*int8 tensors"):
            check_litert(small_cnn, interpreter, x)


def test_int8_needs_representative_images(small_cnn, tmp_path):
    with pytest.raises(ValueError, match="'representative'.*mode='int8'"):
        export_litert(small_cnn, tmp_path / "m.tflite", mode="int8", input_shape=(None, SMALL, SMALL, 3))
    calibration = to_nhwc(calibration_images(2, SMALL))
    with pytest.raises(ValueError, match="'representative' is used with mode='int8' only"):
        export_litert(small_cnn, tmp_path / "m.tflite", mode="dynamic", input_shape=(None, SMALL, SMALL, 3),
                      representative=calibration)
    with pytest.raises(ValueError, match="'representative'.*shape"):  # 64 px for a 32 px export
        export_litert(small_cnn, tmp_path / "m.tflite", mode="int8", input_shape=(None, SMALL, SMALL, 3),
                      representative=to_nhwc(calibration_images(2, 64)))
    assert not (tmp_path / "m.tflite").exists()


def test_static_batch_flatbuffer_is_rejected(small_cnn):
    """The verification :func:`export_litert` applies raises on a file converted with a fixed batch
    (a concrete function traced at batch 1)."""
    from vision_attention._frameworks import import_tensorflow
    from vision_attention.deploy.litert import _verify

    tf = import_tensorflow()
    function = tf.function(lambda x: small_cnn(x, training=False),
                           input_signature=[tf.TensorSpec([1, SMALL, SMALL, 3], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], small_cnn)
    with pytest.raises(RuntimeError, match=r"shape_signature \[1, 32, 32, 3\].*dynamic batch"):
        _verify("export_litert", converter.convert(), (SMALL, SMALL, 3))


# --- argument errors ----------------------------------------------------------------------------


def test_litert_argument_errors(small_cnn, small_files, tmp_path):
    import torch

    shape = (None, SMALL, SMALL, 3)
    target = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match="'mode'.*'float16'"):
        export_litert(small_cnn, target, mode="float16", input_shape=shape)
    for path in (tmp_path / "m.onnx", tmp_path / "missing" / "m.tflite", 3):
        with pytest.raises(ValueError, match="'path'"):
            export_litert(small_cnn, path, input_shape=shape)
    for model in (torch.nn.Linear(2, 2), object()):
        with pytest.raises(ValueError, match="'model'.*keras.Model"):
            export_litert(model, target, input_shape=shape)
    for bad in ((None, 32, 32), (None, 32, 32, 1), (0, 32, 32, 3), (None, 16, 32, 3), (None, 32.0, 32, 3),
                "32x32"):
        with pytest.raises(ValueError, match="'input_shape'"):
            export_litert(small_cnn, target, input_shape=bad)
    assert not target.exists()
    with pytest.raises(ValueError, match="'path'.*not found"):
        litert_interpreter(tmp_path / "absent.tflite")
    for threads in (0, 1.5, True):
        with pytest.raises(ValueError, match="'threads'"):
            litert_interpreter(small_files["float32"], threads=threads)
        with pytest.raises(ValueError, match="'threads'"):
            check_litert(small_cnn, small_files["float32"], np.zeros((1, SMALL, SMALL, 3)), threads=threads)
    with pytest.raises(ValueError, match="'xnnpack'"):
        litert_interpreter(small_files["float32"], xnnpack=1)
    interpreter = litert_interpreter(small_files["float32"])
    with pytest.raises(ValueError, match="'interpreter'"):
        run_litert(small_files["float32"], np.zeros((1, SMALL, SMALL, 3), np.float32))
    for x in (np.zeros((1, 3, SMALL, SMALL), np.float32), np.zeros((1, SMALL, SMALL, 3), np.int64),
              np.zeros((0, SMALL, SMALL, 3), np.float32), np.full((1, SMALL, SMALL, 3), np.nan, np.float32)):
        with pytest.raises(ValueError, match="'x_nhwc'"):
            run_litert(interpreter, x)
    with pytest.raises(ValueError, match="'batch_size'"):
        run_litert(interpreter, np.zeros((1, SMALL, SMALL, 3), np.float32), batch_size=0)
    with pytest.raises(ValueError, match="'batch_sizes'"):
        check_litert(small_cnn, interpreter, np.zeros((1, SMALL, SMALL, 3)), batch_sizes=())
    with pytest.raises(ValueError, match="'path_or_interpreter'"):
        check_litert(small_cnn, 7, np.zeros((1, SMALL, SMALL, 3)))


@pytest.fixture(scope="module")
def small_paddle(tmp_path_factory):
    """A small Paddle CNN (conv, BN, ReLU, pooling, linear) saved for inference at 32 px."""
    from vision_attention._frameworks import import_paddle

    paddle = import_paddle()
    paddle.seed(0)
    nn = paddle.nn
    model = nn.Sequential(nn.Conv2D(3, 8, 3, stride=2), nn.BatchNorm2D(8), nn.ReLU(), nn.AdaptiveAvgPool2D(1),
                          nn.Flatten(), nn.Linear(8, CLASSES))
    prefix = tmp_path_factory.mktemp("paddle_small") / "small"
    export_paddle_inference(model, prefix, input_shape=(1, 3, SMALL, SMALL))
    return model, prefix


def test_paddle_export_keeps_mode_and_runs_any_batch(small_paddle, small_images):
    """The model's training mode survives the export; the artefact runs at batch 5 in one call."""
    model, prefix = small_paddle
    model.train()
    export_paddle_inference(model, prefix, input_shape=(None, 3, SMALL, SMALL))
    assert model.training
    x = small_images[:5]
    assert run_paddle_inference(paddle_predictor(prefix), x).shape == (5, CLASSES)
    check_paddle_inference(model, prefix, x, batch_sizes=(5, 2))
    assert model.training


def test_paddle_argument_errors(small_paddle, small_cnn, tmp_path):
    import torch

    model, prefix = small_paddle
    shape = (None, 3, SMALL, SMALL)
    for bad in (tmp_path / "m.json", tmp_path / "missing" / "m", None):
        with pytest.raises(ValueError, match="'path_prefix'"):
            export_paddle_inference(model, bad, input_shape=shape)
    for wrong in (small_cnn, torch.nn.Linear(2, 2), object()):
        with pytest.raises(ValueError, match="'model'.*paddle.nn.Layer"):
            export_paddle_inference(wrong, tmp_path / "m", input_shape=shape)
    for bad in ((None, 3, 32), (None, 1, 32, 32), (-1, 3, 32, 32), (None, 3, 31, 32), [None, 3, 32, True]):
        with pytest.raises(ValueError, match="'input_shape'"):
            export_paddle_inference(model, tmp_path / "m", input_shape=bad)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="'path_prefix'.*missing"):
        paddle_predictor(tmp_path / "absent")
    for threads in (0, 2.0, False):
        with pytest.raises(ValueError, match="'threads'"):
            paddle_predictor(prefix, threads=threads)
        with pytest.raises(ValueError, match="'threads'"):
            check_paddle_inference(model, prefix, np.zeros((1, 3, SMALL, SMALL)), threads=threads)
    with pytest.raises(ValueError, match="'mkldnn'"):
        paddle_predictor(prefix, mkldnn="yes")
    predictor = paddle_predictor(prefix)
    with pytest.raises(ValueError, match="'predictor'"):
        run_paddle_inference(prefix, np.zeros((1, 3, SMALL, SMALL), np.float32))
    for x in (np.zeros((3, SMALL, SMALL), np.float32), np.zeros((1, 3, SMALL, SMALL), np.int32),
              np.full((1, 3, SMALL, SMALL), np.inf, np.float32)):
        with pytest.raises(ValueError, match="'x'"):
            run_paddle_inference(predictor, x)
    with pytest.raises(ValueError, match="'batch_size'"):
        run_paddle_inference(predictor, np.zeros((1, 3, SMALL, SMALL), np.float32), batch_size=-2)
    with pytest.raises(ValueError, match="'batch_sizes'"):
        check_paddle_inference(model, predictor, np.zeros((1, 3, SMALL, SMALL)), batch_sizes=(1, 0))
    with pytest.raises(ValueError, match="'prefix_or_predictor'"):
        check_paddle_inference(model, 3.5, np.zeros((1, 3, SMALL, SMALL)))
    with pytest.raises(ValueError, match="'model'"):
        check_paddle_inference(small_cnn, predictor, np.zeros((1, 3, SMALL, SMALL)))
