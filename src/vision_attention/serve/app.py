"""The HTTP application (FastAPI) and the command line that serves it with uvicorn.

Endpoints (every error is JSON ``{"detail": "<message>"}``, and the server keeps serving):

* ``GET /health`` -> ``{"status": "ok", "model": <file name>, "input": [C, H, W],
  "max_batch_size": n}``.
* ``POST /v1/predict``: the body is an encoded image (PNG, JPEG, ...; ``Content-Type: image/*``
  or ``application/octet-stream``; without a Content-Type the body is taken as
  ``application/octet-stream``, which RFC 9110 section 8.3 allows) ->
  ``{"predictions": [{"index", "label", "probability"} x 5], "batch_size": n}``; ``label`` is
  null without ``--labels``; ``batch_size`` is the size of the model call the request ran in.
  Preprocessing: :func:`vision_attention.serve.model.preprocess`.
* ``POST /v1/predict/tensor``: JSON ``{"input": [[[...]]]}``, a ``(C, H, W)`` nested list of
  numbers, already normalised -> the same answer plus ``"logits"`` (all K, float).

Errors: 400 empty body, undecodable image, body not JSON, bad Content-Length; 413 body over
``max_body_bytes`` (from the Content-Length header before reading, and counted while reading a
chunked body); 415 wrong Content-Type; 422 image smaller than 16 px or over 40 MP, JSON without
``input`` or of the wrong shape or type or not finite; 500 the model failed (message given).
Unknown paths 404 and wrong methods 405 (FastAPI's defaults).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import numpy as np
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .batching import BatcherStopped, DynamicBatcher
from .model import ImageDecodeError, ImageRejected, OnnxModel, load_labels, preprocess, top_k

__all__ = ["create_app", "build_parser", "main"]

logger = logging.getLogger("vision_attention.serve")

TOP_K = 5
IMAGE_TYPES = ("application/octet-stream",)  # and every image/*
JSON_TYPES = ("application/json",)


def _media_type(request: Request) -> str | None:
    value = request.headers.get("content-type")
    return None if value is None else value.split(";", 1)[0].strip().lower()


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise HTTPException(400, f"Content-Length must be a non-negative integer, got {declared!r}")
        if int(declared) > limit:
            raise HTTPException(413, f"body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise HTTPException(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise HTTPException(400, "empty body: send the encoded image (or the JSON) as the request body")
    return body


def _parse_tensor(body: bytes, shape: tuple[int, ...]) -> np.ndarray:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise HTTPException(400, f"body is not JSON ({exc})") from None
    if not isinstance(payload, dict) or "input" not in payload:
        raise HTTPException(422, 'expected a JSON object {"input": <nested list of shape '
                                 f'{list(shape)}>}}, got {type(payload).__name__}'
                                 + (f" with keys {sorted(payload)[:5]}" if isinstance(payload, dict) else ""))
    try:
        array = np.asarray(payload["input"])
    except (ValueError, TypeError, RecursionError):  # ragged nesting
        raise HTTPException(422, f"'input' must be a rectangular nested list of shape {list(shape)}") \
            from None
    if array.dtype.kind not in "iuf":
        raise HTTPException(422, f"'input' must hold numbers only, got {array.dtype} values")
    if array.shape != shape:
        raise HTTPException(422, f"'input' must have shape {list(shape)} (C, H, W), got {list(array.shape)}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise HTTPException(422, "'input' must be finite (no NaN or Infinity)")
    return array


def create_app(model: OnnxModel, *, labels: list[str] | None = None, max_batch_size: int = 8,
               max_wait_ms: float = 5.0, max_body_bytes: int = 8 * 2**20) -> FastAPI:
    """The FastAPI application serving ``model`` (endpoints: see the module docstring).

    The dynamic batcher (:class:`vision_attention.serve.batching.DynamicBatcher`) starts and stops
    with the application's lifespan; model calls run in one dedicated thread, image decoding in
    Starlette's thread pool.

    Args:
        model: the loaded :class:`vision_attention.serve.model.OnnxModel`; its input must be
            square (``H == W``) for the image endpoint.
        labels: optional K class names (``model.num_classes`` of them).
        max_batch_size: most requests per model call (positive int; 1 disables batching; must be
            the file's batch size when the model's batch axis is fixed).
        max_wait_ms: longest wait for a batch to fill after its first request (>= 0 ms).
        max_body_bytes: largest accepted request body (positive int, bytes).

    Raises:
        ValueError: ``model`` not an OnnxModel, its input not square with 3 channels,
            ``labels`` of the wrong length, ``max_batch_size`` above a fixed batch size, or a
            limit out of range (the message names the argument).
    """
    if not isinstance(model, OnnxModel):
        raise ValueError(f"create_app: argument 'model' expected an OnnxModel, got {type(model).__name__}")
    owner = "create_app: argument"
    channels, height, width = model.input_shape
    if channels != 3 or height != width:
        raise ValueError(f"{owner} 'model' expected an input (B, 3, S, S), got {model.input_shape}")
    if labels is not None and len(labels) != model.num_classes:
        raise ValueError(f"{owner} 'labels' expected {model.num_classes} names, got {len(labels)}")
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
        raise ValueError(f"{owner} 'max_body_bytes' expected a positive int, got {max_body_bytes!r}")
    if model.fixed_batch is not None and max_batch_size not in (1, model.fixed_batch):
        raise ValueError(f"{owner} 'max_batch_size' expected 1 for {model.name}, whose batch axis is "
                         f"fixed at {model.fixed_batch} (export it with a dynamic batch), "
                         f"got {max_batch_size!r}")
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxruntime")
    if model.fixed_batch not in (None, 1):  # a fixed batch > 1: pad every call to that size
        def run_batch(x, _n=model.fixed_batch):
            return model.run(np.concatenate([x, np.zeros((_n - len(x), *x.shape[1:]), x.dtype)]))[: len(x)]
    else:
        run_batch = model.run
    batcher = DynamicBatcher(run_batch, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                             executor=executor)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()
        executor.shutdown(wait=True)
        logger.info("vision_attention.serve: stopped (batcher cancelled after %d batches, %d samples)",
                    batcher.batches_run, batcher.samples_run)

    app = FastAPI(title="vision_attention model server", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.batcher, app.state.model = batcher, model

    async def infer(sample: np.ndarray) -> tuple[np.ndarray, int]:
        try:
            return await batcher.submit(sample)
        except BatcherStopped as exc:
            raise HTTPException(503, str(exc)) from None
        except Exception as exc:  # ONNX Runtime failed on this batch
            logger.exception("inference failed")
            raise HTTPException(500, f"inference failed: {type(exc).__name__}: {exc}") from None

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": model.name, "input": list(model.input_shape),
                "max_batch_size": batcher.max_batch_size}

    @app.post("/v1/predict")
    async def predict(request: Request):
        media = _media_type(request)
        if media is not None and not (media.startswith("image/") or media in IMAGE_TYPES):
            raise HTTPException(415, "Content-Type must be image/* or application/octet-stream, "
                                     f"got {media!r}")
        body = await _read_body(request, max_body_bytes)
        try:
            sample = await run_in_threadpool(preprocess, body, height)
        except ImageDecodeError as exc:
            raise HTTPException(400, str(exc)) from None
        except ImageRejected as exc:
            raise HTTPException(422, str(exc)) from None
        logits, batch_size = await infer(sample)
        return JSONResponse({"predictions": top_k(logits, TOP_K, labels), "batch_size": batch_size})

    @app.post("/v1/predict/tensor")
    async def predict_tensor(request: Request):
        media = _media_type(request)
        if media is not None and media not in JSON_TYPES:
            raise HTTPException(415, f"Content-Type must be application/json, got {media!r}")
        body = await _read_body(request, max_body_bytes)
        sample = await run_in_threadpool(_parse_tensor, body, model.input_shape)
        logits, batch_size = await infer(sample)
        return JSONResponse({"predictions": top_k(logits, TOP_K, labels), "batch_size": batch_size,
                             "logits": [float(v) for v in logits]})

    return app


HELP = """Serve an exported ONNX image classifier over HTTP (FastAPI + uvicorn, ONNX Runtime on the CPU).

The server has no authentication, no TLS and no rate limits, and binds 127.0.0.1 (this machine
only) unless --host says otherwise. Before exposing it to a network, put a reverse proxy in front
(nginx or Caddy, for example) that terminates TLS, authenticates clients and limits request rates
and sizes, and keep this server on 127.0.0.1 behind it.

Endpoints: GET /health; POST /v1/predict (raw PNG/JPEG body); POST /v1/predict/tensor (JSON
{"input": (C, H, W) nested list, already normalised}). One line is logged when it is ready.
Stop it with Ctrl-C or SIGTERM (in-flight requests finish, the batcher is cancelled)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _number(minimum: float, strict: bool):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            relation = ">" if strict else ">="
            raise argparse.ArgumentTypeError(f"expected a number {relation} {minimum:g}, got {text!r}")
        return value
    return parse


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0..65535 (0: any free port), got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m vision_attention.serve`` (options: ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m vision_attention.serve", description=HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="the .onnx file (input (B, 3, S, S), output (B, K) logits)")
    parser.add_argument("--labels", help="JSON list of K class names (default: labels are null)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: local only; see above before changing it)")
    parser.add_argument("--port", type=_port, default=8000,
                        help="TCP port (default 8000; 0 picks a free one)")
    parser.add_argument("--max-batch-size", type=_positive_int, default=8,
                        help="most requests per model call (default 8; 1 disables dynamic batching)")
    parser.add_argument("--max-wait-ms", type=_number(0.0, False), default=5.0,
                        help="longest wait for a batch to fill after its first request (default 5 ms)")
    parser.add_argument("--max-body-mb", type=_number(0.0, True), default=8.0,
                        help="largest request body in MiB (default 8); larger bodies get 413")
    parser.add_argument("--threads", type=_positive_int, default=1,
                        help="ONNX Runtime intra-op threads (default 1)")
    parser.add_argument("--access-log", action="store_true", help="log every request (default: off)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGINT/SIGTERM. Returns the exit status (2: bad arguments or model).

    After a signal, uvicorn shuts down gracefully and then re-raises the signal, so the process
    ends with that signal's status (for example -15 seen from a parent after SIGTERM).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        model = OnnxModel(args.model, threads=args.threads)
        labels = None if args.labels is None else load_labels(args.labels, model.num_classes)
        app = create_app(model, labels=labels, max_batch_size=args.max_batch_size,
                         max_wait_ms=args.max_wait_ms, max_body_bytes=int(args.max_body_mb * 2**20))
    except ValueError as exc:
        print(f"python -m vision_attention.serve: error: {exc}", flush=True, file=sys.stderr)
        return 2
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                            access_log=args.access_log, timeout_graceful_shutdown=10, lifespan="on")
    summary = (f"{model.name}, input {list(model.input_shape)}, {model.num_classes} classes, max batch "
               f"{args.max_batch_size}, wait {args.max_wait_ms:g} ms, {args.threads} ORT thread(s), "
               f"body limit {args.max_body_mb:g} MiB")
    try:
        _Server(config, summary).run()
    except KeyboardInterrupt:  # SIGINT re-raised by uvicorn after its graceful shutdown
        return 130
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, logging one line once its sockets listen (the bound address, so port 0 works)."""

    def __init__(self, config: uvicorn.Config, summary: str):
        super().__init__(config)
        self.summary = summary

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            logger.info("vision_attention.serve: ready on http://%s:%d (%s); no authentication: keep it "
                        "behind a TLS reverse proxy before exposing it", shown, port, self.summary)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
