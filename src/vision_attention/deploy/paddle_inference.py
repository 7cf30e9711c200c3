"""Paddle to a static inference model (``paddle.jit.save``), run with Paddle Inference.

* :func:`export_paddle_inference` -- the model in eval mode, traced to a static program with one
  input ``"input"`` of dynamic batch, saved as ``<prefix>.json`` (the program, PIR format) and
  ``<prefix>.pdiparams`` (the weights).
* :func:`paddle_predictor`, :func:`run_paddle_inference` -- a Paddle Inference CPU predictor
  (``paddle.inference.Config`` / ``create_predictor``, oneDNN (MKLDNN) on or off) and batched
  inference.
* :func:`check_paddle_inference` -- the parity contract of :mod:`.contract` at several batch sizes.

Paddle to ONNX: Paddle's converter, ``paddle2onnx`` (2.1), pins ``onnx<=1.17`` while the course's
lock has ``onnx`` 1.23 (for PyTorch's exporter and ONNX Runtime's quantization tools), so it cannot
be installed beside them and is not used here; its default optimiser also tries to ``pip install``
a package at conversion time. A Paddle model reaches ONNX Runtime through the canonical weights
instead: :func:`vision_attention.parity.export_weights` into the PyTorch model of the same
architecture, then :mod:`.onnx`. Paddle Inference itself is what this module deploys.

With oneDNN enabled, Paddle 3.3.1's C++ code prints one line ``ReduceMeanCheckIfOneDNNSupport`` to
standard output per mean-reduction operator on a predictor's first runs (below Python, so
``contextlib.redirect_stdout`` does not catch it); it is not an error, and
:func:`run_paddle_inference` sends file descriptor 1 to ``/dev/null`` while the predictor runs.

Sources: ``paddle.jit.save``
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/jit/save_en.html) and Paddle
Inference's Python API (https://www.paddlepaddle.org.cn/inference/api_reference/python_api_index.html:
``Config``, ``create_predictor``, ``Predictor``, ``Tensor``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import pathlib

import numpy as np

from .._checks import check_bool, check_optional_positive_int, check_positive_int
from ._args import check_batch_sizes, check_image_input_shape, check_nchw_images
from .contract import ArtefactCheck, check_at_batch_sizes

__all__ = ["export_paddle_inference", "paddle_predictor", "run_paddle_inference", "check_paddle_inference"]

_SUFFIXES = (".json", ".pdiparams")


def _check_prefix(owner: str, path_prefix, must_exist: bool) -> pathlib.Path:
    if not isinstance(path_prefix, (str, os.PathLike)) or not str(path_prefix):
        raise ValueError(f"{owner}: argument 'path_prefix' expected a str or os.PathLike (files "
                         f"<prefix>.json and <prefix>.pdiparams), got {path_prefix!r}")
    prefix = pathlib.Path(path_prefix)
    if prefix.suffix in (*_SUFFIXES, ".pdmodel") or not prefix.name:
        raise ValueError(f"{owner}: argument 'path_prefix' expected a prefix without the file suffix (e.g. "
                         f"'dir/model' for dir/model.json), got '{prefix}'")
    if not prefix.parent.is_dir():
        raise ValueError(f"{owner}: argument 'path_prefix' expected a prefix in an existing directory, got "
                         f"'{prefix}' (no directory '{prefix.parent}')")
    if must_exist:
        missing = [s for s in _SUFFIXES if not pathlib.Path(f"{prefix}{s}").is_file()]
        if missing:
            raise ValueError(f"{owner}: argument 'path_prefix' expected existing files '{prefix}.json' and "
                             f"'{prefix}.pdiparams', got '{prefix}' (missing {', '.join(missing)})")
    return prefix


def _files(prefix: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    return tuple(pathlib.Path(f"{prefix}{s}") for s in _SUFFIXES)


def _check_model(owner: str, model):
    from ..parity import framework_of

    try:
        framework = framework_of(model)
    except TypeError:
        framework = None
    if framework == "paddle":
        from .._frameworks import import_paddle

        if isinstance(model, import_paddle().nn.Layer):
            return model
    raise ValueError(f"{owner}: argument 'model' expected a paddle.nn.Layer (NCHW), got "
                     f"{type(model).__name__} ({framework or 'no known framework'})")


def export_paddle_inference(model, path_prefix, *,
                            input_shape=(None, 3, 224, 224)) -> tuple[pathlib.Path, pathlib.Path]:
    """Save a Paddle model as a static inference model with a dynamic batch axis.

    The model is put in eval mode (BatchNorm on its running statistics; the previous mode is
    restored afterwards) and saved with ``paddle.jit.save(model, path_prefix,
    input_spec=[InputSpec([None, 3, H, W], "float32", name="input")])``, which traces ``forward``
    to a static program (dynamic-to-static conversion) and, under PIR (Paddle 3's default), writes
    ``<prefix>.json`` and ``<prefix>.pdiparams``. The batch is ``None`` whatever
    ``input_shape[0]`` says. The result is then verified: a predictor (oneDNN off, one thread) must
    have the one input ``"input"`` and return a batch of 2 for an input of 2 zero images.

    Args:
        model: a ``paddle.nn.Layer`` taking ``(B, 3, H, W)`` float32 NCHW input (the course's
            ``vision_attention.paddle.models`` networks).
        path_prefix: the files' path without suffix, in an existing directory (files overwritten).
        input_shape: ``(batch, 3, H, W)``; ``batch`` ``None`` or a positive int (exported as dynamic
            either way), ``H, W`` ints >= 32.

    Returns:
        ``(json_path, pdiparams_path)`` as :class:`pathlib.Path`.

    Raises:
        ValueError: ``model`` not a ``paddle.nn.Layer``, ``path_prefix`` not a suffix-less prefix in
            an existing directory, ``input_shape`` invalid.
        RuntimeError: ``paddle.jit.save`` did not write the PIR files (``.json``), the predictor's
            inputs are not ``["input"]``, or the saved program does not run at batch 2.
    """
    owner = "export_paddle_inference"
    model = _check_model(owner, model)
    prefix = _check_prefix(owner, path_prefix, must_exist=False)
    chw = check_image_input_shape(owner, input_shape, "NCHW")
    from .._frameworks import import_paddle

    paddle = import_paddle()
    spec = paddle.static.InputSpec([None, *chw], "float32", name="input")
    was_training = model.training
    model.eval()
    try:
        paddle.jit.save(model, str(prefix), input_spec=[spec])
    finally:
        if was_training:
            model.train()
    files = _files(prefix)
    if not all(f.is_file() for f in files):
        raise RuntimeError(f"{owner}: paddle.jit.save did not write {files[0].name} and {files[1].name} "
                           f"(is PIR disabled, FLAGS_enable_pir_api=0?)")
    predictor = paddle_predictor(prefix, threads=1, mkldnn=False)
    if list(predictor.get_input_names()) != ["input"]:
        raise RuntimeError(f"{owner}: the saved program has inputs {list(predictor.get_input_names())}, "
                           f"expected ['input']")
    out = run_paddle_inference(predictor, np.zeros((2, *chw), np.float32))
    if out.shape[0] != 2:
        raise RuntimeError(f"{owner}: the saved program returned shape {out.shape} for 2 images: its batch "
                           f"axis is not dynamic")
    return files


def paddle_predictor(path_prefix, threads: int = 1, mkldnn: bool = True):
    """A Paddle Inference predictor on the CPU for a saved inference model.

    ``paddle.inference.Config(<prefix>.json, <prefix>.pdiparams)``, ``disable_gpu()``,
    ``set_cpu_math_library_num_threads(threads)``, ``enable_mkldnn()`` or ``disable_mkldnn()``
    (oneDNN kernels; Paddle 3 enables them by default on x86, so ``False`` switches them off),
    ``disable_glog_info()``, then ``paddle.inference.create_predictor``.

    Args:
        path_prefix: the prefix given to :func:`export_paddle_inference` (both files must exist).
        threads: CPU math-library threads (positive int).
        mkldnn: use oneDNN kernels (a bool).

    Returns:
        ``paddle.inference.Predictor``.

    Raises:
        ValueError: ``path_prefix`` not the prefix of existing ``.json`` and ``.pdiparams`` files,
            ``threads`` not a positive int, ``mkldnn`` not a bool.
    """
    owner = "paddle_predictor"
    prefix = _check_prefix(owner, path_prefix, must_exist=True)
    threads = check_positive_int(owner, "threads", threads)
    mkldnn = check_bool(owner, "mkldnn", mkldnn)
    from .._frameworks import import_paddle

    inference = import_paddle().inference
    program, params = _files(prefix)
    config = inference.Config(str(program), str(params))
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(threads)
    if mkldnn:
        config.enable_mkldnn()
    else:
        config.disable_mkldnn()
    config.disable_glog_info()
    return inference.create_predictor(config)


def run_paddle_inference(predictor, x, batch_size: int | None = None) -> np.ndarray:
    """Run a Paddle Inference predictor on a batch, in chunks of ``batch_size``.

    Each chunk is fed with ``reshape`` + ``copy_from_cpu`` on the input handle, ``run()``, and
    the first output's ``copy_to_cpu()``.

    Args:
        predictor: a ``paddle.inference.Predictor`` with one input (e.g. :func:`paddle_predictor`).
        x: float ``(N, C, H, W)`` NCHW array (cast to float32), N >= 1.
        batch_size: images per run (positive int; the last chunk may be smaller), or ``None`` for
            one run with all ``N``.

    Returns:
        float32 ``(N, K)`` logits (the first output of each chunk, concatenated on axis 0).

    Raises:
        ValueError: ``predictor`` not a Paddle Inference predictor with one input, ``x`` not a
            finite float 4-D array, ``batch_size`` not a positive int or ``None``.
    """
    from .._frameworks import import_paddle

    owner = "run_paddle_inference"
    if not isinstance(predictor, import_paddle().inference.Predictor):
        raise ValueError(f"{owner}: argument 'predictor' expected a paddle.inference.Predictor, got "
                         f"{type(predictor).__name__}")
    names = list(predictor.get_input_names())
    if len(names) != 1:
        raise ValueError(f"{owner}: argument 'predictor' expected a model with one input, got {names}")
    x = check_nchw_images(owner, "x", x)
    batch_size = check_optional_positive_int(owner, "batch_size", batch_size)
    step = x.shape[0] if batch_size is None else batch_size
    handle = predictor.get_input_handle(names[0])
    output = predictor.get_output_handle(predictor.get_output_names()[0])
    outputs = []
    for start in range(0, x.shape[0], step):
        chunk = x[start : start + step]
        handle.reshape(list(chunk.shape))
        handle.copy_from_cpu(chunk)
        with _c_stdout_silenced():
            predictor.run()
        outputs.append(output.copy_to_cpu())
    return np.concatenate(outputs, axis=0).astype(np.float32, copy=False)


@contextlib.contextmanager
def _c_stdout_silenced():
    """Point file descriptor 1 at /dev/null (C++ ``std::cout`` included), then restore it."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _eager_logits(paddle, model, x: np.ndarray, batch_size: int = 8) -> np.ndarray:
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            outs = [model(paddle.to_tensor(x[i : i + batch_size])).numpy().astype(np.float32)
                    for i in range(0, x.shape[0], batch_size)]
    finally:
        if was_training:
            model.train()
    return np.concatenate(outs, axis=0)


def check_paddle_inference(model, prefix_or_predictor, images, *, batch_sizes=(1, 8),
                           threads: int = 1) -> ArtefactCheck:
    """Check a Paddle inference model against the eager Paddle model at each batch size.

    Every image runs through the predictor at each batch size in ``batch_sizes`` (the last chunk
    may be smaller) and each run is held to :func:`.contract.check_artefact`: ``max |a - b| /
    max |b| <= FLOAT_RTOL`` on the logits and the same top-1 class for every image, ``b`` the eager
    model's logits (eval mode, ``paddle.no_grad()``, batches of 8; the model's mode is restored).

    Args:
        model: the ``paddle.nn.Layer`` that was exported.
        prefix_or_predictor: the prefix of the saved files (a predictor is made with
            :func:`paddle_predictor`, oneDNN on) or a ``paddle.inference.Predictor`` (then
            ``threads`` is not used).
        images: float ``(N, 3, H, W)`` NCHW array, e.g. :func:`.images.evaluation_images`.
        batch_sizes: a non-empty tuple/list of positive ints.
        threads: CPU math-library threads (positive int).

    Returns:
        An :class:`.contract.ArtefactCheck` with ``batch=batch_sizes`` and the worst figures over the
        batch sizes (largest differences, smallest top-1 agreement).

    Raises:
        ExportParityError: the contract fails at some batch size (the message names it).
        ValueError: bad ``model``, ``prefix_or_predictor``, ``images``, ``batch_sizes`` or ``threads``.
    """
    from .._frameworks import import_paddle

    owner = "check_paddle_inference"
    model = _check_model(owner, model)
    x = check_nchw_images(owner, "images", images)
    batch_sizes = check_batch_sizes(owner, batch_sizes)
    threads = check_positive_int(owner, "threads", threads)
    paddle = import_paddle()
    if isinstance(prefix_or_predictor, paddle.inference.Predictor):
        predictor, name = prefix_or_predictor, "Paddle Inference"
    elif isinstance(prefix_or_predictor, (str, os.PathLike)):
        predictor = paddle_predictor(prefix_or_predictor, threads)
        name = f"Paddle Inference ({pathlib.Path(prefix_or_predictor).name})"
    else:
        raise ValueError(f"{owner}: argument 'prefix_or_predictor' expected a path prefix or a "
                         f"paddle.inference.Predictor, got {type(prefix_or_predictor).__name__}")
    reference = _eager_logits(paddle, model, x)
    return check_at_batch_sizes(lambda b: run_paddle_inference(predictor, x, b), reference, batch_sizes, artefact=name,
                                reference_name="eager Paddle")
