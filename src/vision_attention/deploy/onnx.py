"""PyTorch to ONNX, run with ONNX Runtime, checked against the eager model on real images.

* :func:`export_onnx` -- one self-contained ``.onnx`` file, input ``"input"``, output ``"logits"``,
  the batch axis dynamic (named ``"batch"``); the dynamo exporter (opset 18, the default) or the
  legacy TorchScript exporter (opset 17, what ONNX Runtime's quantization pre-processing needs for
  CBAM, see :mod:`.quantize`).
* :func:`onnx_session`, :func:`run_onnx` -- an ONNX Runtime CPU session and batched inference.
* :func:`eager_logits`, :func:`check_onnx` -- the eager logits and the parity contract of
  :mod:`.contract` at several batch sizes.

Sources: ``torch.onnx.export`` (https://docs.pytorch.org/docs/stable/onnx_export.html), ONNX
Runtime's Python API (https://onnxruntime.ai/docs/api/python/api_summary.html).
"""

from __future__ import annotations

import os
import pathlib
import logging
import warnings

import numpy as np

from .._checks import check_bool, check_optional_positive_int, check_positive_int
from ._args import check_batch_sizes, check_file, check_nchw_images
from .contract import ArtefactCheck, check_at_batch_sizes

__all__ = ["export_onnx", "onnx_session", "run_onnx", "eager_logits", "check_onnx",
           "DYNAMO_OPSETS", "LEGACY_OPSETS"]

DYNAMO_OPSETS = range(18, 24)
"""Opsets of the dynamo exporter (``torch.onnx.export(..., dynamo=True)``): 18 to 23."""
LEGACY_OPSETS = range(9, 21)
"""Opsets of the legacy TorchScript exporter (``dynamo=False``): 9 to 20."""

_QUIET = (  # warnings about the exporters themselves, not about the model: silenced
    {"category": FutureWarning, "message": r".*isinstance\(treespec, LeafSpec\)"},
    {"category": DeprecationWarning, "message": r".*legacy TorchScript-based ONNX export"},
    {"category": DeprecationWarning, "module": r"torch\.onnx\._internal\.torchscript_exporter\."},
)


def _check_path(owner: str, path, must_exist: bool, name: str = "path") -> pathlib.Path:
    return check_file(owner, path, must_exist, ".onnx", name)


def _check_module(owner: str, model):
    import torch

    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"{owner}: argument 'model' expected a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_shape(owner: str, input_shape) -> tuple[int, ...]:
    ok = isinstance(input_shape, (tuple, list)) and len(input_shape) >= 2
    if ok:
        try:
            dims = tuple(check_positive_int(owner, "input_shape", d) for d in input_shape)
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(f"{owner}: argument 'input_shape' expected a tuple of >= 2 positive ints "
                         f"(batch first, e.g. (1, 3, 224, 224)), got {input_shape!r}")
    return dims


def _batch_dim(value_info) -> str | int:
    dims = value_info.type.tensor_type.shape.dim
    if not dims:
        return 0
    return dims[0].dim_param or dims[0].dim_value


def export_onnx(model, path, *, input_shape=(1, 3, 224, 224), opset: int = 18,
                dynamo: bool = True) -> pathlib.Path:
    """Export a PyTorch model to one self-contained ONNX file with a dynamic batch axis.

    The model is put in eval mode (its previous mode is restored afterwards) and traced under
    ``torch.no_grad()`` on a seeded ``torch.randn(input_shape)`` example. The graph has one input
    ``"input"`` and one output ``"logits"``; their first axis is the symbolic dimension ``"batch"``,
    so a model exported at batch 1 runs at any batch size. The weights are stored inside the file
    (``external_data=False``; no ``.onnx.data`` beside it).

    Exporters (``torch.onnx.export``, PyTorch 2.13):

    * ``dynamo=True`` (default, opset 18-23): ``torch.export`` with
      ``dynamic_shapes=({0: torch.export.Dim("batch")},)`` (the tuple form: the first positional
      argument of ``forward``, whatever its name), then onnxscript's optimiser.
    * ``dynamo=False`` (opset 9-20): the legacy TorchScript exporter with
      ``dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}``. Opset 17 is what ONNX
      Runtime's ``quant_pre_process`` accepts for CBAM (:mod:`.quantize`); PyTorch warns that
      this exporter is deprecated, a warning silenced here because the choice is deliberate.

    After export the file is checked with ``onnx.checker``, the batch axis of the input and the
    output is verified to be symbolic (the dynamo exporter silently fixes it when ``forward`` calls
    ``int()`` on it, as the models' shape checks once did), and ONNX Runtime runs the file once at
    another batch size (the legacy exporter keeps the axis symbolic but may fix a reshape to the
    example's batch, with a ``TracerWarning``, which is left visible). A file that fails these
    checks is deleted.

    Args:
        model: a ``torch.nn.Module`` taking one float32 tensor of ``input_shape`` (NCHW for the
            course's networks) and returning one tensor (``(B, K)`` logits for a classifier).
        path: the ``.onnx`` file to write, in an existing directory (overwritten).
        input_shape: the example's shape, batch first (positive ints, >= 2 of them).
        opset: ONNX opset (see above).
        dynamo: which exporter (a bool).

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        ValueError: ``model`` not a ``torch.nn.Module``, ``path`` not an ``.onnx`` path in an
            existing directory, ``input_shape`` not positive ints, ``opset`` outside the
            exporter's range, ``dynamo`` not a bool.
        RuntimeError: the exported graph's batch axis is not symbolic, the model fails at another
            batch size in ONNX Runtime, or its input/output names are not ``"input"``/``"logits"``.
    """
    import torch

    owner = "export_onnx"
    model = _check_module(owner, model)
    path = _check_path(owner, path, must_exist=False)
    dims = _check_shape(owner, input_shape)
    dynamo = check_bool(owner, "dynamo", dynamo)
    opsets = DYNAMO_OPSETS if dynamo else LEGACY_OPSETS
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in opsets:
        raise ValueError(f"{owner}: argument 'opset' expected an int in [{opsets.start}, {opsets.stop - 1}] "
                         f"for dynamo={dynamo}, got {opset!r}")
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    example = torch.randn(dims, generator=torch.Generator().manual_seed(0)).to(device)
    if dynamo:
        options = {"dynamic_shapes": ({0: torch.export.Dim("batch")},), "report": False}
    else:
        options = {"dynamic_axes": {"input": {0: "batch"}, "logits": {0: "batch"}}}
    was_training = model.training
    model.eval()
    # The dynamo exporter's optimiser (onnxscript, onnx_ir) logs every rewrite at INFO; once another
    # library (Paddle does) has configured the root logger, hundreds of lines reach the output.
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            for quiet in _QUIET:
                warnings.filterwarnings("ignore", **quiet)
            torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["logits"],
                              opset_version=opset, dynamo=dynamo, external_data=False, verbose=False,
                              **options)
    finally:
        model.train(was_training)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    try:
        _verify_export(path, example.cpu().numpy())
    except RuntimeError:
        path.unlink()  # never leave a file that looks like a good artefact
        raise
    return path


def _verify_export(path: pathlib.Path, example: np.ndarray) -> None:
    import onnx
    import onnxruntime as ort

    owner = "export_onnx"
    graph = onnx.load(str(path)).graph
    onnx.checker.check_model(str(path))
    names = ([i.name for i in graph.input], [o.name for o in graph.output])
    if names != (["input"], ["logits"]):
        raise RuntimeError(f"{owner}: the exported graph has inputs {names[0]} and outputs {names[1]}, "
                           f"expected ['input'] and ['logits'] (does forward take several tensors or "
                           f"return several?)")
    for kind, value_info in (("input", graph.input[0]), ("output", graph.output[0])):
        batch = _batch_dim(value_info)
        if not isinstance(batch, str) or not batch:
            raise RuntimeError(f"{owner}: the exported {kind}'s batch axis is fixed at {batch!r}, not "
                               f"symbolic: the exporter specialised it (an int() on a traced dimension?)")
    probe = np.repeat(example[:1], example.shape[0] + 1, axis=0)
    options = ort.SessionOptions()
    options.log_severity_level = 4  # ORT's own error line would repeat the message raised below
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        out = session.run(None, {"input": probe})[0]
    except Exception as error:  # ORT's errors have no common class
        raise RuntimeError(f"{owner}: the exported model declares a symbolic batch axis but fails at batch "
                           f"{probe.shape[0]} in ONNX Runtime (a batch size fixed inside the graph?): "
                           f"{error}") from error
    if out.shape[:1] != probe.shape[:1]:
        raise RuntimeError(f"{owner}: at batch {probe.shape[0]} the exported model returns shape {out.shape}")


def onnx_session(path, threads: int = 1):
    """An ONNX Runtime session on the CPU for an ``.onnx`` file.

    ``CPUExecutionProvider``, ``intra_op_num_threads=threads``, ``inter_op_num_threads=1``,
    sequential execution, all graph optimisations (``ORT_ENABLE_ALL``).

    Args:
        path: an existing ``.onnx`` file.
        threads: threads inside one operator (positive int).

    Returns:
        ``onnxruntime.InferenceSession``.

    Raises:
        ValueError: ``path`` not an existing ``.onnx`` file, ``threads`` not a positive int.
    """
    import onnxruntime as ort

    path = _check_path("onnx_session", path, must_exist=True)
    threads = check_positive_int("onnx_session", "threads", threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def run_onnx(session, x, batch_size: int | None = None) -> np.ndarray:
    """Run an ONNX Runtime session on a batch, in chunks of ``batch_size``.

    Args:
        session: an ``onnxruntime.InferenceSession`` with one input (its first output is returned).
        x: float ``(N, C, H, W)`` array (cast to float32), N >= 1; the dimensions after the batch
            must match the model's input where the model fixes them.
        batch_size: images per call (positive int; the last chunk may be smaller), or ``None`` for
            one call with all ``N``.

    Returns:
        float32 ``(N, K)`` logits for a classifier (in general the first output, chunks
        concatenated on axis 0).

    Raises:
        ValueError: ``session`` not an ``InferenceSession``, ``x`` not a float array matching the
            model's input, ``batch_size`` not a positive int or ``None``.
    """
    import onnxruntime as ort

    if not isinstance(session, ort.InferenceSession):
        raise ValueError(f"run_onnx: argument 'session' expected an onnxruntime.InferenceSession, got "
                         f"{type(session).__name__}")
    x = np.asarray(x)
    spec = session.get_inputs()[0]
    expected = tuple(d if isinstance(d, int) else None for d in spec.shape)
    ok = (np.issubdtype(x.dtype, np.floating) and x.ndim == len(expected) and x.shape[0] >= 1
          and all(e is None or e == s for e, s in zip(expected[1:], x.shape[1:])))
    if not ok:
        raise ValueError(f"run_onnx: argument 'x' expected a float array of shape {expected} (None: any, "
                         f"N >= 1) for input '{spec.name}', got shape {x.shape} and dtype {x.dtype}")
    batch_size = check_optional_positive_int("run_onnx", "batch_size", batch_size)
    x = np.ascontiguousarray(x, dtype=np.float32)
    step = x.shape[0] if batch_size is None else batch_size
    outs = [session.run(None, {spec.name: x[i : i + step]})[0] for i in range(0, x.shape[0], step)]
    return np.concatenate(outs, axis=0).astype(np.float32, copy=False)


def eager_logits(model, images, batch_size: int = 8) -> np.ndarray:
    """The eager PyTorch model's outputs on ``images``, in eval mode under ``torch.no_grad()``.

    The model's previous train/eval mode is restored afterwards.

    Args:
        model: a ``torch.nn.Module``.
        images: float ``(N, C, H, W)`` array (cast to float32), N >= 1.
        batch_size: images per forward pass (positive int).

    Returns:
        float32 ``(N, K)`` numpy logits (the model's output, chunks concatenated on axis 0).

    Raises:
        ValueError: ``model`` not a ``torch.nn.Module``, ``images`` not a float array with N >= 1,
            ``batch_size`` not a positive int.
    """
    import torch

    model = _check_module("eager_logits", model)
    x = check_nchw_images("eager_logits", "images", images)
    batch_size = check_positive_int("eager_logits", "batch_size", batch_size)
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outs = [model(torch.from_numpy(x[i : i + batch_size]).to(device)).float().cpu().numpy()
                    for i in range(0, x.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outs, axis=0)


def check_onnx(model, path_or_session, images, *, batch_sizes=(1, 8), threads: int = 1) -> ArtefactCheck:
    """Check an ONNX model against the eager PyTorch model at each batch size (the contract).

    Every image runs through ONNX Runtime at each batch size in ``batch_sizes`` (the last chunk
    may be smaller) and each run is held to :func:`.contract.check_artefact`: ``max |a - b| /
    max |b| <= FLOAT_RTOL`` on the logits and the same top-1 class for every image, ``b`` the eager
    model's logits (:func:`eager_logits`, batch 8).

    Args:
        model: the ``torch.nn.Module`` that was exported.
        path_or_session: the ``.onnx`` file (a session is made with :func:`onnx_session`) or an
            ``onnxruntime.InferenceSession`` (then ``threads`` is not used).
        images: float ``(N, C, H, W)`` array, e.g. :func:`.images.evaluation_images`.
        batch_sizes: a non-empty tuple/list of positive ints.
        threads: ONNX Runtime intra-op threads (positive int).

    Returns:
        An :class:`.contract.ArtefactCheck` with ``batch=batch_sizes`` and the worst figures over
        the batch sizes (largest differences, smallest top-1 agreement).

    Raises:
        ExportParityError: the contract fails at some batch size (the message names it).
        ValueError: bad ``model``, ``path_or_session``, ``images``, ``batch_sizes`` or ``threads``.
    """
    import onnxruntime as ort

    owner = "check_onnx"
    model = _check_module(owner, model)
    x = check_nchw_images(owner, "images", images)
    batch_sizes = check_batch_sizes(owner, batch_sizes)
    threads = check_positive_int(owner, "threads", threads)
    if isinstance(path_or_session, ort.InferenceSession):
        session, name = path_or_session, "ONNX Runtime"
    elif isinstance(path_or_session, (str, os.PathLike)):
        _check_path(owner, path_or_session, must_exist=True, name="path_or_session")
        session = onnx_session(path_or_session, threads)
        name = f"ONNX Runtime ({pathlib.Path(path_or_session).name})"
    else:
        raise ValueError(f"{owner}: argument 'path_or_session' expected an .onnx path or an "
                         f"onnxruntime.InferenceSession, got {type(path_or_session).__name__}")
    reference = eager_logits(model, x)
    return check_at_batch_sizes(lambda b: run_onnx(session, x, b), reference, batch_sizes, artefact=name,
                                reference_name="eager PyTorch")
