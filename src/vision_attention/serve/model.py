"""The served model without the web part: image preprocessing, the ONNX Runtime session, top-k.

Everything the server computes on a request lives here, so a test or a chapter can compute the
same numbers offline (``preprocess`` -> :meth:`OnnxModel.run` -> :func:`top_k`) and compare
them with what the server answers. Imports numpy, Pillow and onnxruntime only.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from .._checks import check_positive_int
from ..data import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["MIN_SIDE", "MAX_PIXELS", "ImageDecodeError", "ImageRejected", "preprocess", "softmax",
           "top_k", "OnnxModel", "load_labels"]

MIN_SIDE = 16
"""Smallest accepted image side in pixels: a smaller photograph carries too little to upscale."""

MAX_PIXELS = 40_000_000
"""Largest accepted image area in pixels (40 MP), checked from the header before decoding, so a
small compressed file cannot expand into gigabytes ("decompression bomb")."""


class ImageDecodeError(ValueError):
    """The bytes are not an image Pillow can decode (the server answers 400)."""


class ImageRejected(ValueError):
    """A decodable image the model cannot use: too small or too large (the server answers 422)."""


def preprocess(image_bytes: bytes, size: int) -> np.ndarray:
    """Decode an encoded image and turn it into one ImageNet-normalised network input.

    The pipeline of :func:`vision_attention.data.load_image` with Pillow instead of
    scikit-image: decode (any format Pillow reads: PNG, JPEG, WebP, ...), apply the EXIF
    orientation (``ImageOps.exif_transpose``; phone photographs store their rotation there),
    convert to RGB (an alpha channel is dropped, palette and greyscale images are expanded),
    crop the centred square of side ``min(H, W)`` (offsets ``(H - side) // 2``,
    ``(W - side) // 2`` as ``load_image``), resize it to ``size x size`` with Pillow's
    bilinear filter, which widens its support when downscaling (anti-aliased, like
    torchvision's ``Resize(antialias=True)``), scale to [0, 1] and apply
    ``(x - IMAGENET_MEAN) / IMAGENET_STD`` per channel
    (:data:`vision_attention.data.IMAGENET_MEAN`, :data:`~vision_attention.data.IMAGENET_STD`).

    Args:
        image_bytes: the encoded file (``bytes``, ``bytearray`` or ``memoryview``).
        size: side of the network input in pixels (positive int).

    Returns:
        float32 ``(3, size, size)`` array, CHW (one NCHW sample), C-contiguous.

    Raises:
        ValueError: ``size`` not a positive int, or ``image_bytes`` not bytes-like.
        ImageDecodeError: empty, or not an image Pillow can decode (also a truncated file).
        ImageRejected: shorter side below :data:`MIN_SIDE` or more than :data:`MAX_PIXELS`
            pixels (checked from the header, before decoding the pixels).
    """
    size = check_positive_int("preprocess", "size", size)
    if not isinstance(image_bytes, (bytes, bytearray, memoryview)):
        raise ValueError(f"preprocess: argument 'image_bytes' expected bytes, "
                         f"got {type(image_bytes).__name__}")
    if len(image_bytes) == 0:
        raise ImageDecodeError("preprocess: argument 'image_bytes' is empty; expected an encoded image")
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(image_bytes))
    except UnidentifiedImageError:
        raise ImageDecodeError("the body is not an image Pillow can decode (PNG, JPEG, WebP, ...)") from None
    except Image.DecompressionBombError as exc:  # Pillow's own limit (2 x 89.5 MP), above ours
        raise ImageRejected(f"image too large: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ImageDecodeError(f"the body is not an image Pillow can decode ({exc})") from None
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise ImageRejected(f"image is {width}x{height} pixels; both sides must be >= {MIN_SIDE}")
    if width * height > MAX_PIXELS:
        raise ImageRejected(f"image is {width}x{height} = {width * height} pixels; at most {MAX_PIXELS}")
    try:
        image = ImageOps.exif_transpose(image).convert("RGB")
        width, height = image.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"the image could not be decoded ({exc})") from None
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    normalised = (pixels - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)


def softmax(logits) -> np.ndarray:
    """Softmax over the last axis, in float64 (``exp(z - max z) / sum``).

    Args:
        logits: real array ``(..., K)``, K >= 1.

    Returns:
        float64 array of the same shape, each row summing to 1.

    Raises:
        ValueError: ``logits`` empty, 0-d or not real.
    """
    z = np.asarray(logits)
    real = np.issubdtype(z.dtype, np.floating) or np.issubdtype(z.dtype, np.integer)
    if z.ndim == 0 or z.shape[-1] == 0 or not real:
        raise ValueError(f"softmax: argument 'logits' expected a real (..., K) array with K >= 1, got shape "
                         f"{z.shape} and dtype {z.dtype}")
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def top_k(logits, k: int = 5, labels: list[str] | None = None) -> list[dict]:
    """The ``k`` most probable classes of one sample.

    Args:
        logits: real ``(K,)`` array (one sample's logits).
        k: how many classes (positive int; ``min(k, K)`` are returned).
        labels: optional list of K class names.

    Returns:
        ``min(k, K)`` dicts ``{"index": int, "label": str | None, "probability": float}``,
        most probable first (softmax of the logits, float64; ties keep the lower index first).

    Raises:
        ValueError: ``logits`` not 1-D real, ``k`` not a positive int, ``labels`` given with a
            length other than K.
    """
    k = check_positive_int("top_k", "k", k)
    z = np.asarray(logits)
    if z.ndim != 1:
        raise ValueError(f"top_k: argument 'logits' expected a 1-D (K,) array, got shape {z.shape}")
    if labels is not None and len(labels) != z.shape[0]:
        raise ValueError(f"top_k: argument 'labels' expected {z.shape[0]} names, got {len(labels)}")
    p = softmax(z)
    order = np.argsort(-p, kind="stable")[: min(k, z.shape[0])]
    return [{"index": int(i), "label": None if labels is None else labels[i], "probability": float(p[i])}
            for i in order]


class OnnxModel:
    """An ONNX Runtime CPU session for an image classifier with input ``(B, C, H, W)``.

    Reads the input and output names and shapes from the file, requires a float input of rank 4
    with static ``C, H, W`` and a rank-2 output ``(B, K)``, and runs one warm-up batch of zeros
    (which also gives K). ``dynamic_batch`` is False when the file fixes the batch at one value.

    Attributes:
        path, name: the file and its name; ``input_name``, ``output_name``;
        ``input_shape``: ``(C, H, W)`` ints; ``num_classes``: K; ``dynamic_batch``: bool;
        ``fixed_batch``: the file's batch size when not dynamic, else None.

    Args:
        path: an ``.onnx`` file (external data next to it is found by ONNX Runtime).
        threads: ONNX Runtime intra-op threads (positive int; inter-op is 1, sequential).

    Raises:
        ValueError: ``path`` missing or not a model ONNX Runtime loads, ``threads`` not a
            positive int, or the model's input/output not of the shapes above.

    Source: ONNX Runtime Python API, ``InferenceSession``, ``SessionOptions``
    (https://onnxruntime.ai/docs/api/python/api_summary.html).
    """

    def __init__(self, path, threads: int = 1):
        threads = check_positive_int("OnnxModel", "threads", threads)
        path = Path(os.fspath(path))
        if not path.is_file():
            raise ValueError(f"OnnxModel: argument 'path' expected an existing .onnx file, got {str(path)!r}")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
            raise ValueError(f"OnnxModel: argument 'path' could not be loaded by ONNX Runtime: {exc}") \
                from None
        self.path, self.name, self.threads = path, path.name, threads
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ValueError(f"OnnxModel: {path.name} expected one input and an output, got {len(inputs)} "
                             f"inputs and {len(outputs)} outputs")
        shape = list(inputs[0].shape)
        static = len(shape) == 4 and all(isinstance(d, int) for d in shape[1:])
        if inputs[0].type != "tensor(float)" or not static:
            raise ValueError(f"OnnxModel: {path.name} expected a float input (B, C, H, W) with static C, H, "
                             f"W, got {inputs[0].type} {shape}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.input_shape = tuple(int(d) for d in shape[1:])
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        self.dynamic_batch = self.fixed_batch is None
        warm = self.run(np.zeros((self.fixed_batch or 1, *self.input_shape), np.float32))
        if warm.ndim != 2:
            raise ValueError(f"OnnxModel: {path.name} expected an output (B, K), got shape {warm.shape}")
        self.num_classes = int(warm.shape[1])

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits of a batch: float32 ``(B, C, H, W)`` NCHW -> float32 ``(B, K)``, one session call.

        Raises:
            ValueError: ``x`` not a float32 array of shape ``(B, *input_shape)``, B >= 1, or of
                another B than a fixed-batch model's.
        """
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.shape[1:] != self.input_shape \
                or len(x) < 1:
            expected = ", ".join(map(str, self.input_shape))
            raise ValueError(f"OnnxModel.run: argument 'x' expected float32 (B, {expected}), "
                             f"got {getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
        if self.fixed_batch is not None and len(x) != self.fixed_batch:
            raise ValueError(f"OnnxModel.run: {self.name} has a fixed batch of {self.fixed_batch}, "
                             f"got {len(x)}")
        return self.session.run([self.output_name], {self.input_name: x})[0]


def load_labels(path, num_classes: int) -> list[str]:
    """Read class names from a JSON file holding a list of ``num_classes`` strings.

    Raises:
        ValueError: the file is missing, not JSON, not a list of strings, or of another length.
    """
    num_classes = check_positive_int("load_labels", "num_classes", num_classes)
    path = Path(os.fspath(path))
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"load_labels: argument 'path' expected a readable JSON file, "
                         f"got {str(path)!r} ({exc})") from None
    if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels) \
            or len(labels) != num_classes:
        got = f"a list of {len(labels)}" if isinstance(labels, list) else type(labels).__name__
        raise ValueError(f"load_labels: {path.name} expected a JSON list of {num_classes} strings "
                         f"(one per logit), got {got}")
    return labels
