"""INT8 ONNX models with ONNX Runtime's quantization tool, and where their error comes from.

* :class:`ImageCalibrationReader` -- a ``CalibrationDataReader`` over real images
  (:func:`.images.calibration_images`).
* :func:`quantize_static_int8` -- static QDQ quantization, per-channel weights, activation ranges
  calibrated on the images; :func:`quantize_dynamic_int8` -- weights only, activations quantized
  at run time.
* :func:`tensor_errors` -- for every tensor produced by chosen float operators (convolutions,
  the attention gates' sigmoids and products), the quantized model's error at that tensor.
* :func:`file_size_mb` -- size of a file in MB.

Source: ONNX Runtime, "Quantize ONNX models"
(https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html) and the
``onnxruntime.quantization`` API (``quant_pre_process``, ``quantize_static``,
``quantize_dynamic``, ``CalibrationDataReader``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import pathlib
import tempfile

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from .._checks import check_bool, check_positive_int
from ._args import check_nchw_images
from .onnx import _check_path


@contextlib.contextmanager
def _root_logger_quiet():
    """ONNX Runtime's quantization tools log every tensor at INFO on the *root* logger; once a
    library (Paddle does) has given the root logger a handler, those lines reach the output.
    Raise the root logger to WARNING while they run."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)

__all__ = ["ImageCalibrationReader", "quantize_static_int8", "quantize_dynamic_int8", "tensor_errors",
           "file_size_mb", "TENSOR_OP_TYPES"]

TENSOR_OP_TYPES = ("Conv", "Gemm", "Sigmoid", "Mul")
"""Default operator types of :func:`tensor_errors`: convolutions, fully connected layers (SE's and
CBAM's channel MLP export as ``Gemm``), the gates' sigmoids and the products that apply them."""

_TYPES = {"uint8": "QUInt8", "int8": "QInt8"}
_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile",
            "distribution": "Distribution"}
_DQ_SUFFIX = "_DequantizeLinear_Output"  # ORT's name for a dequantized activation (quant_utils)
_Q_SUFFIX = "_QuantizeLinear_Input"  # ORT's name for a quantized graph output's float value
_REMOVABLE = ("Relu", "Clip")  # activations QDQ removes (QDQRemovableActivation in ORT's registry)


def _paths(owner: str, fp32_path, out_path):
    src = _check_path(owner, fp32_path, must_exist=True, name="fp32_path")
    dst = _check_path(owner, out_path, must_exist=False, name="out_path")
    if dst.resolve() == src.resolve():
        raise ValueError(f"{owner}: argument 'out_path' must differ from fp32_path, got '{dst}'")
    return src, dst


def _input_name(path: pathlib.Path) -> str:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers][0]


class ImageCalibrationReader(CalibrationDataReader):
    """Feeds a float32 NCHW image array to ONNX Runtime's calibrator, ``batch_size`` at a time.

    ``get_next()`` returns ``{input_name: images[i : i + batch_size]}`` (the last batch may be
    smaller) and ``None`` once every image has been given; ``rewind()`` starts a new pass.

    Args:
        images: float ``(N, C, H, W)`` array (cast to float32), N >= 1, e.g.
            :func:`.images.calibration_images`.
        input_name: the model's input name (non-empty str; :func:`.onnx.export_onnx` writes
            ``"input"``).
        batch_size: images per batch (positive int).

    Raises:
        ValueError: ``images`` not a 4-D float array with N >= 1, ``input_name`` not a non-empty
            str, ``batch_size`` not a positive int.
    """

    def __init__(self, images, input_name: str = "input", batch_size: int = 1):
        owner = "ImageCalibrationReader"
        self.images = check_nchw_images(owner, "images", images)
        if not isinstance(input_name, str) or not input_name:
            raise ValueError(f"{owner}: argument 'input_name' expected a non-empty str, got {input_name!r}")
        self.input_name = input_name
        self.batch_size = check_positive_int(owner, "batch_size", batch_size)
        self._next = 0

    def get_next(self) -> dict | None:
        """The next batch as ``{input_name: float32 (b, C, H, W)}``, or ``None`` at the end of a pass."""
        if self._next >= self.images.shape[0]:
            return None
        batch = self.images[self._next : self._next + self.batch_size]
        self._next += self.batch_size
        return {self.input_name: batch}

    def rewind(self) -> None:
        """Start again from the first image."""
        self._next = 0

    def __len__(self) -> int:
        """Number of batches in one pass."""
        return -(-self.images.shape[0] // self.batch_size)


def _pre_process(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    # skip_symbolic_shape: ORT's symbolic shape inference stops with "Incomplete symbolic shape
    # inference" on CBAM's ReduceMax at opset >= 18 (axes an input) and then leaves its temporary
    # files in the working directory. ONNX's own shape inference (still run) types these CNNs.
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with _root_logger_quiet():
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    return dst


def quantize_static_int8(fp32_path, out_path, calibration, *, per_channel: bool = True,
                         activation_type: str = "uint8", weight_type: str = "int8",
                         method: str = "minmax", reduce_range: bool = False) -> pathlib.Path:
    """Static INT8 quantization (QDQ format) of a float32 ONNX model, calibrated on real images.

    1. ``quant_pre_process`` (ONNX Runtime's basic graph optimisations and ONNX shape inference)
       into a temporary directory, with ``skip_symbolic_shape=True``: ORT's symbolic shape
       inference fails on CBAM at opset 18 (the dynamo export; ``ReduceMax`` takes its axes as an
       input there) and works at opset 17 (legacy export). Skipping it, both opsets quantize:
       checked for pretrained MobileNetV2 with SE, ECA and CBAM and for a CBAM-ResNet-50, each
       at opset 18 and 17, with the same top-1 classes as the float model on 16 evaluation
       images. So the default dynamo export (opset 18) is quantized as it is.
    2. ``quantize_static`` with ``QuantFormat.QDQ`` (QuantizeLinear/DequantizeLinear pairs around
       the float operators; ONNX Runtime fuses them into integer kernels when it loads the model),
       per-channel symmetric weights, activation ranges from ``method`` over the images.

    Measured on the pretrained MobileNetV2 (65 evaluation images, 32 calibration crops): top-1
    agreement with the float model 0.82 with min-max ranges, 0.88 with ``"percentile"``, 0.74 with
    128 calibration crops (min-max widens with more data), 0.60 with per-tensor weights.

    Args:
        fp32_path: float32 ``.onnx`` file (e.g. from :func:`.onnx.export_onnx`).
        out_path: the ``.onnx`` file to write (in an existing directory, not ``fp32_path``).
        calibration: float ``(N, C, H, W)`` images (wrapped in an :class:`ImageCalibrationReader`
            with batch 1) or a ``CalibrationDataReader`` (rewound first when it has ``rewind``).
        per_channel: one weight scale per output channel (bool).
        activation_type, weight_type: ``"uint8"`` or ``"int8"``. U8 activations with S8 weights
            (the default here; ORT's own defaults are S8/S8) is what ``quantize_static``'s
            docstring ("Choosing parameters for CPU inference") advises for x86-64 CPUs.
        method: calibration: ``"minmax"``, ``"entropy"``, ``"percentile"`` or ``"distribution"``.
        reduce_range: 7-bit weights (bool), which that docstring advises for x86-64 CPUs without
            VNNI (integer saturation otherwise); ``False`` on CPUs with VNNI (this machine's).

    Returns:
        ``out_path`` as a :class:`pathlib.Path`.

    Raises:
        ValueError: a path that is not an ``.onnx`` file (``fp32_path`` must exist), a bad
            ``calibration`` (wrong array, or a reader for another input name), or an option not
            among those listed.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    owner = "quantize_static_int8"
    src, dst = _paths(owner, fp32_path, out_path)
    per_channel = check_bool(owner, "per_channel", per_channel)
    reduce_range = check_bool(owner, "reduce_range", reduce_range)
    for name, value, choices in (("activation_type", activation_type, _TYPES),
                                 ("weight_type", weight_type, _TYPES), ("method", method, _METHODS)):
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{owner}: argument '{name}' expected one of {tuple(choices)}, got {value!r}")
    input_name = _input_name(src)
    if isinstance(calibration, CalibrationDataReader):
        reader = calibration
        if getattr(reader, "input_name", input_name) != input_name:
            raise ValueError(f"{owner}: argument 'calibration' reads input '{reader.input_name}', "
                             f"the model's input is '{input_name}'")
        if hasattr(reader, "rewind"):
            reader.rewind()
    else:
        reader = ImageCalibrationReader(check_nchw_images(owner, "calibration", calibration), input_name)
    with tempfile.TemporaryDirectory(prefix="va-quant-") as tmp:
        pre = _pre_process(src, pathlib.Path(tmp) / "preprocessed.onnx")
        with _root_logger_quiet():
            quantize_static(str(pre), str(dst), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            reduce_range=reduce_range,
                            activation_type=getattr(QuantType, _TYPES[activation_type]),
                            weight_type=getattr(QuantType, _TYPES[weight_type]),
                            calibrate_method=getattr(CalibrationMethod, _METHODS[method]))
    return dst


def quantize_dynamic_int8(fp32_path, out_path) -> pathlib.Path:
    """Dynamic INT8 quantization: int8 weights, activations quantized at run time per tensor.

    ``quant_pre_process`` (as :func:`quantize_static_int8`) then ``quantize_dynamic`` with
    ``weight_type=QuantType.QInt8``: convolutions become ``ConvInteger`` and fully connected
    layers ``MatMulInteger``, each preceded by ``DynamicQuantizeLinear``. No calibration data.

    Args:
        fp32_path: float32 ``.onnx`` file.
        out_path: the ``.onnx`` file to write (in an existing directory, not ``fp32_path``).

    Returns:
        ``out_path`` as a :class:`pathlib.Path`.

    Raises:
        ValueError: ``fp32_path`` not an existing ``.onnx`` file, ``out_path`` not an ``.onnx``
            path in an existing directory.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = _paths("quantize_dynamic_int8", fp32_path, out_path)
    with tempfile.TemporaryDirectory(prefix="va-quant-") as tmp:
        pre = _pre_process(src, pathlib.Path(tmp) / "preprocessed.onnx")
        with _root_logger_quiet():
            quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8)
    return dst


def file_size_mb(path) -> float:
    """Size of a file in megabytes, 1 MB = 10**6 bytes (not MiB).

    Raises:
        ValueError: ``path`` not an existing file.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise ValueError(f"file_size_mb: argument 'path' expected an existing file, got {path!r}")
    return os.path.getsize(path) / 1e6


def _with_outputs(model, names: list[str], path: pathlib.Path) -> None:
    import onnx

    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    onnx.save(model, str(path))


def _session(path: pathlib.Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def tensor_errors(fp32_path, int8_path, images, op_types=TENSOR_OP_TYPES, *,
                  batch_size: int = 8) -> list[dict]:
    """The quantized model's error at every tensor produced by the float operators ``op_types``.

    The float model is pre-processed as :func:`quantize_static_int8` does, so its tensor names are
    those the quantized model was built from. For each tensor ``T`` an operator of ``op_types``
    produces there, the quantized model's value ``q`` is the one its consumers see:
    ``T_DequantizeLinear_Output`` when ORT quantized ``T``, else ``T``. When QDQ removed a
    ``Relu``/``Clip`` after the operator (the clipping is then the quantized range), the tensor
    compared is that activation's output, in both models (``fused``). Both models get these
    tensors as extra graph outputs and run on ``images`` in batches without graph optimisations
    (as ``onnxruntime.quantization.qdq_loss_debug.collect_activations`` runs them): the QDQ graph
    then computes in float what ORT's integer kernels compute, quantization simulated by its
    QuantizeLinear/DequantizeLinear pairs. Statistics accumulate batch by batch (the tensors of 65
    MobileNetV2 images would take gigabytes, which is why ``collect_activations``, keeping them
    all, is not used; its matching also needs QDQ names, so a float model would match nothing).

    Two errors per tensor: the error of the whole quantized network up to ``T`` (``f`` the float
    model's tensor), and ``own_rel_rmse``, the rounding of ``T`` alone inside the quantized model
    (``rms(dq(q(t)) - t) / rms(t)``, ``t`` its value before its QuantizeLinear, passed through the
    removed Relu/Clip for a fused tensor; 0 when ``T`` is not quantized; ``nan`` for a Clip whose
    bounds are not constants), the ``qdq_err`` of ``qdq_loss_debug``.

    Args:
        fp32_path: the float32 ``.onnx`` model that ``int8_path`` was quantized from.
        int8_path: the quantized (QDQ) ``.onnx`` model; or any model with the same tensor names
            (the float model itself gives zero errors).
        images: float ``(N, C, H, W)`` inputs, e.g. :func:`.images.evaluation_images`.
        op_types: non-empty tuple of ONNX operator types (str), default :data:`TENSOR_OP_TYPES`.
        batch_size: images per run (positive int).

    Returns:
        One dict per tensor, in graph order: ``index`` (position of the producing node in the
        float graph), ``tensor``, ``op_type``, ``node`` (node name), ``fused`` (``"Relu"``,
        ``"Clip"`` or ``""``), ``quantized`` (bool), ``elements`` (values per image), and, over
        all images, ``rms_float`` and ``std_float`` (RMS and standard deviation of ``f``),
        ``rmse`` (``rms(q - f)``), ``rel_rmse`` (``rmse / rms_float``), ``rmse_over_std``
        (``rmse / std_float``: the error against the tensor's variation, which matters for a
        gate that stays near one value), ``max_abs`` (``max |q - f|``), ``sqnr_db``
        (``20 log10(rms_float / rmse)``, ``inf`` when equal) and ``own_rel_rmse``. ``rmse``,
        ``max_abs`` and the RMS are in the tensor's units, the ratios unitless.

    Raises:
        ValueError: a path that is not an existing ``.onnx`` file, ``images`` not a 4-D float
            array, ``op_types`` not a non-empty tuple of str, ``batch_size`` not a positive int, or
            no tensor of ``op_types`` found in both models (not quantized from ``fp32_path``?).
    """
    import onnx

    owner = "tensor_errors"
    src = _check_path(owner, fp32_path, must_exist=True, name="fp32_path")
    qpath = _check_path(owner, int8_path, must_exist=True, name="int8_path")
    x = check_nchw_images(owner, "images", images)
    if (not isinstance(op_types, (tuple, list)) or not op_types
            or not all(isinstance(t, str) and t for t in op_types)):
        raise ValueError(f"{owner}: argument 'op_types' expected a non-empty tuple of ONNX operator types "
                         f"(str), got {op_types!r}")
    batch_size = check_positive_int(owner, "batch_size", batch_size)
    with tempfile.TemporaryDirectory(prefix="va-tensor-errors-") as tmp:
        tmp = pathlib.Path(tmp)
        fmodel = onnx.load(str(_pre_process(src, tmp / "float.onnx")))
        qmodel = onnx.load(str(qpath))
        rows = _match_tensors(fmodel, qmodel, tuple(op_types))
        if not rows:
            raise ValueError(f"{owner}: no tensor produced by {tuple(op_types)} in '{src.name}' is in "
                             f"'{qpath.name}': argument 'int8_path' expected a model quantized from "
                             f"fp32_path")
        qnames = [r["_q"] for r in rows] + [r["_pre"] for r in rows if r["quantized"]]
        _with_outputs(fmodel, [r["tensor"] for r in rows], tmp / "float_outputs.onnx")
        _with_outputs(qmodel, qnames, tmp / "int8_outputs.onnx")
        fsession, qsession = _session(tmp / "float_outputs.onnx"), _session(tmp / "int8_outputs.onnx")
        finput, qinput = fsession.get_inputs()[0].name, qsession.get_inputs()[0].name
        # per row: values, sum f, sum f^2, sum (q - f)^2, sum t^2, sum (q - t)^2, max |q - f|
        sums = np.zeros((len(rows), 7))
        for start in range(0, x.shape[0], batch_size):
            batch = x[start : start + batch_size]
            fvalues = fsession.run([r["tensor"] for r in rows], {finput: batch})
            qvalues = dict(zip(qnames, qsession.run(qnames, {qinput: batch})))
            for i, (row, f) in enumerate(zip(rows, fvalues)):
                f, q = f.astype(np.float64), qvalues[row["_q"]].astype(np.float64)
                t = qvalues[row["_pre"]].astype(np.float64) if row["quantized"] else q
                if row["fused"]:  # the float value the removed activation would have given
                    t = row["_act"](t) if row["_act"] is not None else np.full_like(t, np.nan)
                d = q - f
                sums[i, :6] += (f.size, f.sum(), np.sum(f * f), np.sum(d * d), np.sum(t * t),
                                np.sum((q - t) ** 2))
                sums[i, 6] = max(sums[i, 6], float(np.max(np.abs(d))) if d.size else 0.0)
        del fsession, qsession
    for row, (count, sf, ssf, sse, sst, ssr, max_abs) in zip(rows, sums):
        del row["_q"], row["_pre"], row["_act"]
        count = max(count, 1.0)
        rmse, rms = math.sqrt(sse / count), math.sqrt(ssf / count)
        std = math.sqrt(max(ssf / count - (sf / count) ** 2, 0.0))
        row.update(elements=int(count) // x.shape[0], rms_float=rms, std_float=std, rmse=rmse,
                   rel_rmse=_ratio(rmse, rms), rmse_over_std=_ratio(rmse, std), max_abs=float(max_abs),
                   sqnr_db=20 * math.log10(rms / rmse) if rmse > 0 and rms > 0 else math.inf,
                   own_rel_rmse=_ratio(math.sqrt(ssr), math.sqrt(sst)))
    return rows


def _ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return a / b if b > 0 else (0.0 if a == 0 else math.inf)


def _match_tensors(fmodel, qmodel, op_types: tuple) -> list[dict]:
    qtensors = {o for n in qmodel.graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for node in fmodel.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    rows = []
    for index, node in enumerate(fmodel.graph.node):
        if node.op_type not in op_types:
            continue
        for name in node.output:
            fused, act, after = "", None, consumers.get(name, [])
            if name not in qtensors and len(after) == 1 and after[0].op_type in _REMOVABLE:
                # QDQ drops a Relu/Clip after a quantized output (the clipping is in the output's
                # range): the operator then writes the activation's tensor.
                fused, name, act = after[0].op_type, after[0].output[0], _activation(after[0], fmodel)
            post = name + _DQ_SUFFIX if name + _DQ_SUFFIX in qtensors else name
            pre = name + _Q_SUFFIX if name + _Q_SUFFIX in qtensors else name  # a graph output
            if post in qtensors and pre in qtensors:
                rows.append({"index": index, "tensor": name, "op_type": node.op_type, "node": node.name,
                             "fused": fused, "quantized": pre != post, "_q": post, "_pre": pre, "_act": act})
    return rows


def _activation(node, model):
    """The removed Relu/Clip as a numpy function (the rounding of a fused tensor is measured after
    it), or ``None`` when a Clip's bounds are not constants."""
    from onnx import numpy_helper

    if node.op_type == "Relu":
        return lambda t: np.maximum(t, 0.0)
    constants = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    bounds = [None, None]
    for k, name in enumerate(node.input[1:3]):
        if name and name not in constants:
            return None
        bounds[k] = float(constants[name]) if name else None
    return lambda t: np.clip(t, bounds[0], bounds[1])
