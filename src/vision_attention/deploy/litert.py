"""TensorFlow/Keras 3 to LiteRT (``.tflite``), run with the ``ai-edge-litert`` interpreter.

* :func:`export_litert` -- one ``.tflite`` file with a dynamic batch axis, in three modes:
  ``"float32"`` (no optimisation), ``"dynamic"`` (dynamic-range quantization: int8 weights, float
  activations quantized on the fly inside the int8 kernels) and ``"int8"`` (full-integer
  quantization calibrated on real images; float32 input and output, quantized and dequantized at
  the graph's edges, so its logits compare directly with the float model's).
* :func:`litert_interpreter`, :func:`run_litert` -- the interpreter and batched inference (the
  input is resized whenever the batch changes).
* :func:`check_litert` -- the parity contract of :mod:`.contract` for a float32 file at several
  batch sizes. A quantized file cannot meet it; measure it against the float32 file with
  :func:`.contract.compare_logits`.

The course's models are subclassed Keras models without an input layer, so the converter is given
a functional wrapper (``keras.Input(shape=(H, W, 3))`` -> the model in inference mode) through
``tf.lite.TFLiteConverter.from_keras_model``: the batch stays ``None``. (Giving the subclassed
model itself as ``trackable_obj`` of ``from_concrete_functions`` produced, with TensorFlow 2.21, a
138 kB file without the weights whose outputs were NaN.) ``tf.lite.Interpreter`` is deprecated;
the interpreter is ``ai_edge_litert.interpreter.Interpreter``.

Sources: LiteRT conversion and post-training quantization guides
(https://ai.google.dev/edge/litert/models/convert_tf,
https://ai.google.dev/edge/litert/models/post_training_quantization) and the interpreter's API
(``ai_edge_litert/interpreter.py`` of ``ai-edge-litert`` 2.3, the API of the deprecated
``tf.lite.Interpreter``: https://www.tensorflow.org/api_docs/python/tf/lite/Interpreter).
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import warnings

import numpy as np

from .._checks import check_bool, check_optional_positive_int, check_positive_int
from ._args import check_batch_sizes, check_file, check_image_input_shape
from .contract import ArtefactCheck, check_at_batch_sizes

__all__ = ["MODES", "export_litert", "litert_interpreter", "run_litert", "check_litert"]

MODES = ("float32", "dynamic", "int8")
"""The conversion modes of :func:`export_litert`."""

_QUIET = (  # warnings about the converter itself, not about the model: silenced
    (UserWarning, r".*Statistics for quantized inputs were expected.*"),  # float32 I/O is deliberate
)


def _check_path(owner: str, path, must_exist: bool) -> pathlib.Path:
    return check_file(owner, path, must_exist, ".tflite")


def _check_model(owner: str, model):
    from ..parity import framework_of

    try:
        framework = framework_of(model)
    except TypeError:
        framework = None
    if framework != "tensorflow":
        raise ValueError(f"{owner}: argument 'model' expected a built keras.Model (TensorFlow, NHWC), got "
                         f"{type(model).__name__} ({framework or 'no known framework'})")
    from .._frameworks import import_tensorflow

    keras = import_tensorflow().keras
    if not isinstance(model, keras.Model) or not model.built or not model.weights:
        raise ValueError(f"{owner}: argument 'model' expected a built keras.Model with weights (call it once "
                         f"or build it), got {type(model).__name__} (built={getattr(model, 'built', None)})")
    return model


def _check_nhwc(owner: str, name: str, x, hwc: tuple | None = None) -> np.ndarray:
    a = np.asarray(x)
    ok = a.ndim == 4 and a.shape[0] >= 1 and np.issubdtype(a.dtype, np.floating)
    if ok and hwc is not None:
        ok = all(e is None or e == s for e, s in zip(hwc, a.shape[1:]))
    if not ok:
        dims = ("H", "W", "C") if hwc is None else tuple("any" if d is None else str(d) for d in hwc)
        raise ValueError(f"{owner}: argument '{name}' expected a float NHWC array of shape "
                         f"(N, {', '.join(dims)}) with N >= 1, got shape {a.shape} and dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{owner}: argument '{name}' expected finite values, got NaN or infinity")
    return np.ascontiguousarray(a, dtype=np.float32)


def _signature(owner: str, interpreter) -> tuple[dict, dict]:
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"{owner}: argument 'interpreter' expected a model with one input and one output, "
                         f"got {len(inputs)} and {len(outputs)}")
    return inputs[0], outputs[0]


def export_litert(model, path, *, mode: str = "float32", input_shape=(None, 224, 224, 3),
                  representative=None) -> pathlib.Path:
    """Convert a built Keras model to a LiteRT flatbuffer with a dynamic batch axis.

    The converter (``tf.lite.TFLiteConverter.from_keras_model``) is given a functional wrapper
    ``keras.Input(shape=(H, W, 3), name="input")`` -> ``model(x, training=False)``, so the file
    holds the inference graph (BatchNorm on its moving statistics) and its input's batch is
    dynamic whatever ``input_shape[0]`` says. Modes (LiteRT's post-training quantization):

    * ``"float32"``: no optimisation; float32 weights and arithmetic.
    * ``"dynamic"``: ``optimizations=[tf.lite.Optimize.DEFAULT]`` and nothing else (what the
      course's source note's snippet does): weights stored int8 (per channel for convolutions),
      activations float32 between operators and quantized on the fly inside the int8 kernels. No
      calibration data.
    * ``"int8"``: full-integer quantization: ``Optimize.DEFAULT``, ``representative_dataset``
      (``representative``, one image per step) and ``supported_ops=[TFLITE_BUILTINS_INT8]`` (the
      conversion fails rather than leave an operator in float). The input and the output are kept
      float32 (``inference_input_type = inference_output_type = tf.float32``): a QUANTIZE node
      follows the input and a DEQUANTIZE node precedes the output, so the file takes the same
      arrays and returns logits comparable with the float model's.

    After conversion the file is verified: one input and one output, the input's
    ``shape_signature`` ``[-1, H, W, 3]`` (a dynamic batch), both float32. The converter's own
    console listing (Keras' "Saved artifact" endpoint table) is swallowed.

    Args:
        model: a built ``keras.Model`` taking ``(B, H, W, 3)`` float32 NHWC input (the course's
            ``vision_attention.tensorflow.models`` networks).
        path: the ``.tflite`` file to write, in an existing directory (overwritten).
        mode: one of :data:`MODES`.
        input_shape: ``(batch, H, W, 3)``; ``batch`` ``None`` or a positive int (exported as dynamic
            either way), ``H, W`` ints >= 32.
        representative: for ``mode="int8"`` only, required: float ``(N, H, W, 3)`` NHWC real images
            normalised as the model expects, N >= 1 (e.g. ``to_nhwc(calibration_images())``).

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        ValueError: ``model`` not a built Keras model, ``path`` not a ``.tflite`` path in an existing
            directory, ``mode`` not in :data:`MODES`, ``input_shape`` invalid, ``representative``
            missing or malformed for ``"int8"`` or given for another mode.
        RuntimeError: the converted file's input does not have a dynamic batch, or its input or
            output is not float32.
    """
    owner = "export_litert"
    model = _check_model(owner, model)
    path = _check_path(owner, path, must_exist=False)
    if mode not in MODES:
        raise ValueError(f"{owner}: argument 'mode' expected one of {MODES}, got {mode!r}")
    hwc = check_image_input_shape(owner, input_shape, "NHWC")
    if mode == "int8":
        if representative is None:
            raise ValueError(f"{owner}: argument 'representative' expected float NHWC calibration images for "
                             f"mode='int8' (full-integer quantization needs activation ranges), got None")
        representative = _check_nhwc(owner, "representative", representative, hwc)
    elif representative is not None:
        raise ValueError(f"{owner}: argument 'representative' is used with mode='int8' only, got an argument "
                         f"with mode={mode!r}")
    from .._frameworks import import_tensorflow

    tf = import_tensorflow()
    keras = tf.keras
    inputs = keras.Input(shape=hwc, name="input", dtype="float32")
    wrapper = keras.Model(inputs, model(inputs, training=False), name=f"{model.name}_inference")
    converter = tf.lite.TFLiteConverter.from_keras_model(wrapper)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "int8":
        calibration = representative

        def dataset():
            for i in range(calibration.shape[0]):
                yield [calibration[i : i + 1]]

        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _c_stderr_captured():
        for category, message in _QUIET:
            warnings.filterwarnings("ignore", message=message, category=category)
        flatbuffer = converter.convert()
    _verify(owner, flatbuffer, hwc)
    path.write_bytes(flatbuffer)
    return path


@contextlib.contextmanager
def _c_stderr_captured():
    """Capture file descriptor 2 (the converter's C++ log, e.g. its "fully_quantize: 0, ..."
    line) into a temporary file; write it back to stderr only if the conversion fails."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _verify(owner: str, flatbuffer: bytes, hwc: tuple) -> None:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise RuntimeError(f"{owner}: the converted model has {len(inputs)} inputs and {len(outputs)} "
                           f"outputs, expected one of each")
    spec, out = inputs[0], outputs[0]
    signature = tuple(int(d) for d in spec["shape_signature"])
    if signature != (-1, *hwc):
        raise RuntimeError(f"{owner}: the converted model's input has shape_signature {list(signature)}, "
                           f"expected [-1, {', '.join(map(str, hwc))}] (a dynamic batch)")
    if spec["dtype"] != np.float32 or out["dtype"] != np.float32:
        raise RuntimeError(f"{owner}: the converted model's input/output dtypes are "
                           f"{np.dtype(spec['dtype'])}/{np.dtype(out['dtype'])}, expected float32/float32")


def litert_interpreter(path, threads: int = 1, *, xnnpack: bool = True):
    """A LiteRT interpreter for a ``.tflite`` file (``ai_edge_litert.interpreter.Interpreter``).

    With ``xnnpack=True`` the default op resolver, which hands what it can to the XNNPACK delegate
    (LiteRT's optimised CPU kernels); with ``False`` the built-in kernels only
    (``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``). XNNPACK refused some full-int8 files
    here: the pretrained MobileNetV2 with CBAM fails in ``allocate_tensors`` ("failed to create
    XNNPACK runtime ... TfLiteXNNPackDelegate failed to prepare", at batch 1 and 8), while the
    built-in kernels run it. Tensors are allocated by :func:`run_litert` for the batch it runs.

    Args:
        path: an existing ``.tflite`` file.
        threads: ``num_threads`` of the interpreter (positive int).
        xnnpack: use the XNNPACK delegate (a bool).

    Returns:
        ``ai_edge_litert.interpreter.Interpreter``.

    Raises:
        ValueError: ``path`` not an existing ``.tflite`` file, ``threads`` not a positive int,
            ``xnnpack`` not a bool.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = _check_path("litert_interpreter", path, must_exist=True)
    threads = check_positive_int("litert_interpreter", "threads", threads)
    xnnpack = check_bool("litert_interpreter", "xnnpack", xnnpack)
    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return Interpreter(model_path=str(path), num_threads=threads, experimental_op_resolver_type=resolver)


def run_litert(interpreter, x_nhwc, batch_size: int | None = None) -> np.ndarray:
    """Run a LiteRT interpreter on a batch, in chunks of ``batch_size``.

    Before a chunk whose shape differs from the input tensor's current shape the input is
    resized (``resize_tensor_input``) and the tensors re-allocated (``allocate_tensors``).

    Args:
        interpreter: an ``ai_edge_litert.interpreter.Interpreter`` with one input and one output
            (e.g. :func:`litert_interpreter`).
        x_nhwc: float ``(N, H, W, C)`` NHWC array (cast to float32), N >= 1, H, W, C as the model's.
        batch_size: images per invocation (positive int; the last chunk may be smaller), or ``None``
            for one invocation with all ``N``.

    Returns:
        float32 ``(N, K)`` logits (the output of each chunk, concatenated on axis 0).

    Raises:
        ValueError: ``interpreter`` not a LiteRT ``Interpreter`` with one input and one output,
            ``x_nhwc`` not a finite float array matching the input, ``batch_size`` not a positive
            int or ``None``.
        RuntimeError: the interpreter cannot allocate its tensors; when the XNNPACK delegate is
            the cause the message says to use ``litert_interpreter(path, xnnpack=False)``.
    """
    from ai_edge_litert.interpreter import Interpreter

    if not isinstance(interpreter, Interpreter):
        raise ValueError(f"run_litert: argument 'interpreter' expected an "
                         f"ai_edge_litert.interpreter.Interpreter, got {type(interpreter).__name__}")
    spec, out = _signature("run_litert", interpreter)
    hwc = tuple(None if d < 0 else int(d) for d in spec["shape_signature"][1:])
    x = _check_nhwc("run_litert", "x_nhwc", x_nhwc, hwc)
    batch_size = check_optional_positive_int("run_litert", "batch_size", batch_size)
    step = x.shape[0] if batch_size is None else batch_size
    _allocate(interpreter)
    outputs = []
    for start in range(0, x.shape[0], step):
        chunk = x[start : start + step]
        if tuple(interpreter.get_input_details()[0]["shape"]) != chunk.shape:
            interpreter.resize_tensor_input(spec["index"], list(chunk.shape))
            _allocate(interpreter)
        interpreter.set_tensor(spec["index"], chunk)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"]))
    return np.concatenate(outputs, axis=0).astype(np.float32, copy=False)


def _allocate(interpreter) -> None:
    try:
        interpreter.allocate_tensors()
    except RuntimeError as error:
        if "XNNPACK" not in str(error):
            raise
        raise RuntimeError(f"run_litert: the XNNPACK delegate cannot run this model ({error}); make the "
                           f"interpreter with litert_interpreter(path, xnnpack=False)") from error


def _eager_logits(model, x: np.ndarray, batch_size: int = 8) -> np.ndarray:
    return np.concatenate([np.asarray(model(x[i : i + batch_size], training=False), dtype=np.float32)
                           for i in range(0, x.shape[0], batch_size)], axis=0)


def check_litert(model, path_or_interpreter, images_nhwc, *, batch_sizes=(1, 8),
                 threads: int = 1) -> ArtefactCheck:
    """Check a float32 LiteRT file against the eager Keras model at each batch size (the contract).

    Every image runs through the interpreter at each batch size in ``batch_sizes`` (the last chunk
    may be smaller) and each run is held to :func:`.contract.check_artefact`: ``max |a - b| /
    max |b| <= FLOAT_RTOL`` on the logits and the same top-1 class for every image, ``b`` the eager
    model's logits (``model(x, training=False)``, batches of 8). Only float32 files are checked: a
    file holding int8 tensors (``"dynamic"`` or ``"int8"`` mode) is refused, since quantization
    cannot meet the float tolerance; measure those with :func:`.contract.compare_logits` against
    the float32 file's logits.

    Args:
        model: the built ``keras.Model`` that was exported.
        path_or_interpreter: the ``.tflite`` file (an interpreter is made with
            :func:`litert_interpreter`) or an ``ai_edge_litert.interpreter.Interpreter`` (then
            ``threads`` is not used).
        images_nhwc: float ``(N, H, W, 3)`` NHWC array, e.g. ``to_nhwc(evaluation_images())``.
        batch_sizes: a non-empty tuple/list of positive ints.
        threads: interpreter threads (positive int).

    Returns:
        An :class:`.contract.ArtefactCheck` with ``batch=batch_sizes`` and the worst figures over the
        batch sizes (largest differences, smallest top-1 agreement).

    Raises:
        ExportParityError: the contract fails at some batch size (the message names it).
        ValueError: bad ``model``, ``path_or_interpreter`` (or a quantized file), ``images_nhwc``,
            ``batch_sizes`` or ``threads``.
    """
    from ai_edge_litert.interpreter import Interpreter

    owner = "check_litert"
    model = _check_model(owner, model)
    x = _check_nhwc(owner, "images_nhwc", images_nhwc)
    batch_sizes = check_batch_sizes(owner, batch_sizes)
    threads = check_positive_int(owner, "threads", threads)
    if isinstance(path_or_interpreter, Interpreter):
        interpreter, name = path_or_interpreter, "LiteRT"
    elif isinstance(path_or_interpreter, (str, os.PathLike)):
        interpreter = litert_interpreter(path_or_interpreter, threads)
        name = f"LiteRT ({pathlib.Path(path_or_interpreter).name})"
    else:
        raise ValueError(f"{owner}: argument 'path_or_interpreter' expected a .tflite path or an "
                         f"ai_edge_litert Interpreter, got {type(path_or_interpreter).__name__}")
    quantized = sorted({t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.int8})
    if quantized:
        raise ValueError(f"{owner}: argument 'path_or_interpreter' expected a float32 model, got one with "
                         f"{len(quantized)} int8 tensors (e.g. '{quantized[0]}'): a quantized file cannot "
                         f"meet the float contract; measure it with compare_logits")
    reference = _eager_logits(model, x)
    return check_at_batch_sizes(lambda b: run_litert(interpreter, x, b), reference, batch_sizes, artefact=name,
                                reference_name="eager Keras")
