"""Serve an exported ONNX classifier over HTTP: ``python -m vision_attention.serve --model m.onnx``.

Why FastAPI + uvicorn and not LitServe: we tried both on the same model (``/work/shared/NOTES.md``,
"Toolchain facts"). LitServe 0.2.19 binds ``0.0.0.0`` (every interface) unless told otherwise,
and answers every bad input with HTTP 500 unless each ``decode_request`` raises its own
``HTTPException`` (a body that is not JSON still gave 500). Plain FastAPI on uvicorn gave the
right 400/422 answers with a few lines of our own, binds where we tell it, and was not slower
here; it is also what LitServe runs on. The dynamic batching LitServe would have given us is
one small asyncio worker (:mod:`.batching`).

The server process imports numpy, Pillow, onnxruntime, FastAPI and uvicorn only -- no PyTorch,
Paddle or TensorFlow (``tests/test_serve.py`` checks the running server's imports). It has no
authentication and binds 127.0.0.1 by default: put a reverse proxy that terminates TLS,
authenticates and rate-limits (nginx, Caddy) in front of it before exposing it.

* :mod:`.model` -- :func:`preprocess` (image bytes -> ``(3, S, S)`` float32, ImageNet-normalised),
  :class:`OnnxModel` (the ONNX Runtime session), :func:`top_k`, :func:`load_labels`.
* :mod:`.batching` -- :class:`DynamicBatcher`.
* :mod:`.app` -- :func:`create_app` (the FastAPI application) and :func:`main` (the command line).
* :mod:`.loadtest` -- :func:`load_test`, a small closed-loop load generator for loopback servers.
* :mod:`.prepare` -- ``python -m vision_attention.serve.prepare --out DIR``: export the pretrained
  MobileNetV2 to ``DIR/model.onnx`` with ``DIR/labels.json`` (imports PyTorch; not the server).

Names are imported on first use, so ``import vision_attention.serve.loadtest`` does not load
FastAPI.
"""

from __future__ import annotations

import importlib

__all__ = ["preprocess", "OnnxModel", "top_k", "load_labels", "DynamicBatcher", "create_app", "main",
           "load_test"]

_HOMES = {"preprocess": "model", "OnnxModel": "model", "top_k": "model", "load_labels": "model",
          "DynamicBatcher": "batching", "create_app": "app", "main": "app", "load_test": "loadtest"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
