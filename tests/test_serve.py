"""The HTTP model server (vision_attention.serve), run as a real server process.

A module fixture exports the ImageNet-pretrained MobileNetV2 with
:func:`vision_attention.serve.prepare.prepare` (legacy exporter: several times faster to export
than dynamo) and starts ``python -m vision_attention.serve`` on a free loopback port (``--port
0``; the port is read from the server's one "ready" line). Requests carry real photographs
(the bundled images of :mod:`vision_attention.data`) re-encoded as PNG and JPEG with Pillow;
the server's answers are compared with ONNX Runtime run offline on the same preprocessing and
with eager PyTorch. The servers run under ``python -X importtime``, whose log lists every module
the process imported during its whole life: the test asserts no deep-learning framework is
among them. Timings of the load tests are printed (``pytest -s``), never asserted.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import signal
import socket
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image


from vision_attention.data import IMAGES, imagenet_normalise, load_image
from vision_attention.serve.batching import BatcherStopped, DynamicBatcher
from vision_attention.serve.loadtest import load_test
from vision_attention.serve.process import ServerProcess
from vision_attention.serve.model import (ImageDecodeError, ImageRejected, OnnxModel, load_labels, preprocess,
                                          top_k)

FRAMEWORKS = ("torch", "torchvision", "paddle", "tensorflow", "keras", "jax")
PHOTOS = {"chelsea": "PNG", "coffee": "JPEG", "astronaut": "PNG", "rocket": "JPEG", "grace_hopper": "JPEG",
          "flower": "PNG", "brick": "PNG", "china": "JPEG"}  # brick is greyscale ("L")
SIZE = 224
STARTUP_TIMEOUT_S = 60


def encode(name: str, fmt: str) -> bytes:
    """A bundled photograph re-encoded with Pillow (JPEG quality 90)."""
    image = Image.open(IMAGES[name].path)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def tensor_body(x: np.ndarray) -> bytes:
    """The JSON body of the tensor endpoint."""
    return json.dumps({"input": x.tolist()}).encode()


class Server(ServerProcess):
    """The server under ``python -X importtime`` (its log lists every module it imports)."""

    def __init__(self, log_path, model, *args: str):
        try:
            super().__init__(model, *args, python_args=("-X", "importtime"), log_path=log_path,
                             startup_timeout=STARTUP_TIMEOUT_S)
        except RuntimeError as err:
            pytest.fail(str(err))
        status, health = self.request("GET", "/health")
        assert status == 200, f"/health answered {status}: {health}; stderr:\n{self.messages()}"

    def messages(self) -> str:
        """The log without the import-time lines."""
        return "\n".join(line for line in self.log().splitlines() if not line.startswith("import time:"))

    def imported(self) -> set[str]:
        """Top-level packages the process imported (from ``-X importtime``)."""
        names = set()
        for line in self.log().splitlines():
            if line.startswith("import time:") and "|" in line and "imported package" not in line:
                names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
        return names

    def predict(self, body: bytes, fmt: str = "PNG"):
        return super().predict(body, f"image/{fmt.lower()}")

    def stop(self) -> int:
        """Stop, and check the process is gone (no orphan). Returns its exit status."""
        try:
            returncode = super().stop()
        except RuntimeError as err:
            raise AssertionError(f"{err}; stderr:\n{self.messages()}") from None
        with pytest.raises(ProcessLookupError):
            os.kill(self.pid, 0)
        return returncode


def assert_stopped_cleanly(server: Server, returncode: int) -> None:
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the status is -SIGTERM (or 0).
    assert returncode in (0, -signal.SIGTERM), f"exit {returncode}; stderr:\n{server.messages()}"
    assert "stopped (batcher cancelled" in server.log(), server.messages()
    assert "Traceback" not in server.log(), server.messages()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    from vision_attention._frameworks import import_torch
    from vision_attention.serve.prepare import prepare
    from vision_attention.torch.models import attention_mobilenet_v2

    torch = import_torch()
    paths = prepare(tmp_path_factory.mktemp("serve"), "none", dynamo=False)
    bodies = {name: encode(name, fmt) for name, fmt in PHOTOS.items()}
    x = np.stack([preprocess(bodies[name], SIZE) for name in PHOTOS])
    offline = OnnxModel(paths["model"], threads=1)
    with torch.no_grad():
        eager = attention_mobilenet_v2("none", pretrained=True).eval()(torch.from_numpy(x)).numpy()
    labels = load_labels(paths["labels"], 1000)
    return {**paths, "bodies": bodies, "x": x, "offline": offline, "names": labels, "eager": eager,
            "expected": {name: top_k(offline.run(x[i : i + 1])[0], 5, labels)
                         for i, name in enumerate(PHOTOS)}}


@pytest.fixture(scope="module")
def server(artefacts, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "stderr.txt"
    srv = Server(log, artefacts["model"], "--labels", str(artefacts["labels"]), "--port", "0")
    yield srv
    assert_stopped_cleanly(srv, srv.stop())


def assert_same_predictions(got: list[dict], expected: list[dict]) -> None:
    assert [p["index"] for p in got] == [p["index"] for p in expected]
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    np.testing.assert_allclose([p["probability"] for p in got], [p["probability"] for p in expected],
                               rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------------- the server


def test_prepare_writes_model_and_labels(artefacts):
    assert artefacts["offline"].input_shape == (3, SIZE, SIZE) and artefacts["offline"].dynamic_batch
    assert artefacts["offline"].num_classes == 1000
    assert artefacts["names"][285] == "Egyptian cat" and artefacts["names"][967] == "espresso"


def test_health(server, artefacts):
    status, body = server.request("GET", "/health")
    assert status == 200
    assert body == {"status": "ok", "model": "model.onnx", "input": [3, SIZE, SIZE], "max_batch_size": 8}


def test_default_host_is_loopback(server):
    assert server.host == "127.0.0.1"  # the ready line: no --host was given
    # The kernel's table of listening TCP sockets: our port is bound to 127.0.0.1 only.
    bound = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            for row in open(table).read().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                address, port = local.rsplit(":", 1)
                if state == "0A" and int(port, 16) == server.port:
                    bound.add(address)
    if not bound:
        pytest.skip("no /proc/net/tcp (not Linux): cannot read the bound address")
    assert bound == {"0100007F"}, f"listening on {bound} (hex, little-endian); expected 127.0.0.1 only"
    with pytest.raises(ConnectionRefusedError):  # another loopback address: refused when not 0.0.0.0
        socket.create_connection(("127.0.0.2", server.port), timeout=5).close()


def test_predictions_equal_offline_onnx_and_eager_torch(server, artefacts):
    for i, (name, fmt) in enumerate(PHOTOS.items()):
        status, body = server.predict(artefacts["bodies"][name], fmt)
        assert status == 200, (name, body)
        assert body["batch_size"] == 1  # one request at a time
        assert len(body["predictions"]) == 5
        assert_same_predictions(body["predictions"], artefacts["expected"][name])
        assert body["predictions"][0]["index"] == int(np.argmax(artefacts["eager"][i])), name
    # the photographs are recognised (the classes NOTES.md records for these two)
    top1 = {name: artefacts["expected"][name][0]["label"] for name in ("chelsea", "coffee")}
    assert top1 == {"chelsea": "Egyptian cat", "coffee": "espresso"}


def test_tensor_endpoint_returns_all_logits(server, artefacts):
    x = artefacts["x"][0]
    status, body = server.request("POST", "/v1/predict/tensor", tensor_body(x),
                                  {"Content-Type": "application/json"})
    assert status == 200, body
    reference = artefacts["offline"].run(x[None])[0]
    assert len(body["logits"]) == 1000
    np.testing.assert_allclose(body["logits"], reference, rtol=0, atol=1e-4 * np.abs(reference).max())
    assert_same_predictions(body["predictions"], artefacts["expected"]["chelsea"])


def test_concurrent_requests_are_batched_and_still_correct(server, artefacts):
    names = list(PHOTOS) * 2  # 16 requests released together
    sizes = []
    for _ in range(3):  # rounds until one request reports a batch > 1
        results = [None] * len(names)
        barrier = threading.Barrier(len(names))

        def send(k):
            barrier.wait()
            results[k] = server.predict(artefacts["bodies"][names[k]], PHOTOS[names[k]])

        threads = [threading.Thread(target=send, args=(k,)) for k in range(len(names))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, (status, body) in zip(names, results):
            assert status == 200, body
            assert 1 <= body["batch_size"] <= 8
            assert_same_predictions(body["predictions"], artefacts["expected"][name])
            sizes.append(body["batch_size"])
        if max(sizes) > 1:
            break
    print(f"\nbatch sizes seen by 16 concurrent requests: {sorted(sizes)}")
    assert max(sizes) > 1


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` RGB pixels, with no pixel data (a few bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 40), (120, 60, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


MALFORMED = {  # name: (path, body, content type, expected status)
    "empty body": ("/v1/predict", b"", "image/png", 400),
    "not an image": ("/v1/predict", b"this is not a PNG" * 10, "image/png", 400),
    "truncated PNG": ("/v1/predict", None, "image/png", 400),
    "image smaller than 16 px": ("/v1/predict", None, "image/png", 422),
    "header claims 400 MP": ("/v1/predict", None, "image/png", 422),
    "wrong content type": ("/v1/predict", b"{}", "text/plain", 415),
    "tensor: not JSON": ("/v1/predict/tensor", b"{\"input\": [1, 2", "application/json", 400),
    "tensor: empty": ("/v1/predict/tensor", b"", "application/json", 400),
    "tensor: no input key": ("/v1/predict/tensor", b'{"x": 1}', "application/json", 422),
    "tensor: a list, not an object": ("/v1/predict/tensor", b"[1, 2, 3]", "application/json", 422),
    "tensor: wrong shape": ("/v1/predict/tensor", tensor_body(np.zeros((3, 32, 32))),
                            "application/json", 422),
    "tensor: ragged": ("/v1/predict/tensor", b'{"input": [[1, 2], [3]]}', "application/json", 422),
    "tensor: strings": ("/v1/predict/tensor", json.dumps({"input": [[["a"] * SIZE] * SIZE] * 3}).encode(),
                        "application/json", 422),
    "tensor: NaN": ("/v1/predict/tensor", tensor_body(np.full((3, SIZE, SIZE), np.nan)), "application/json",
                    422),
    "unknown path": ("/v1/nothing", b"x", "image/png", 404),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_request_gets_4xx_and_server_keeps_serving(server, artefacts, case):
    path, body, content_type, expected = MALFORMED[case]
    if case == "truncated PNG":
        body = artefacts["bodies"]["chelsea"][:2000]
    elif case == "image smaller than 16 px":
        body = _tiny_png()
    elif case == "header claims 400 MP":
        body = _png_header(20000, 20000)
    status, answer = server.request("POST", path, body, {"Content-Type": content_type})
    assert status == expected, answer
    assert isinstance(answer, dict) and isinstance(answer["detail"], str) and answer["detail"], answer
    assert server.request("GET", "/health")[0] == 200


def test_body_over_the_limit_is_refused_before_and_while_reading(server):
    limit = 8 * 2**20
    # Content-Length over the limit: answered from the headers, no body is sent at all.
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.putrequest("POST", "/v1/predict")
    conn.putheader("Content-Type", "image/png")
    conn.putheader("Content-Length", str(limit + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and "exceeds" in json.loads(response.read())["detail"]
    conn.close()
    # Chunked upload without Content-Length: counted while it streams, refused past the limit.
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.putrequest("POST", "/v1/predict/tensor")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b" " * 2**16
    for _ in range(limit // len(chunk) + 2):
        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    assert response.status == 413 and "exceeds" in json.loads(response.read())["detail"]
    conn.close()
    assert server.request("GET", "/health")[0] == 200


def test_load_with_and_without_batching_then_clean_exit(server, artefacts, tmp_path):
    bodies = list(artefacts["bodies"].values())
    batched = load_test(f"{server.url}/v1/predict", bodies, requests=200, concurrency=8)
    single = Server(tmp_path / "stderr.txt", artefacts["model"], "--port", "0",
                    "--max-batch-size", "1")
    try:
        unbatched = load_test(f"{single.url}/v1/predict", bodies, requests=200, concurrency=8)
        status, body = single.request("POST", "/v1/predict/tensor",
                                      tensor_body(artefacts["x"][1]),
                                      {"Content-Type": "application/json"})
        assert status == 200 and body["predictions"][0]["label"] is None  # no --labels
    finally:
        returncode = single.stop()
    for label, r in (("batching on (max 8, 5 ms)", batched), ("--max-batch-size 1", unbatched)):
        print(f"\n{label}: 200 requests, 8 clients, 1 ORT thread: p50 {r['p50_ms']:.1f} ms, "
              f"p95 {r['p95_ms']:.1f} ms, mean {r['mean_ms']:.1f} ms, {r['throughput_rps']:.1f} req/s, "
              f"mean batch {r['mean_batch_size']:.2f}, errors {r['errors']}, wall {r['wall_s']:.2f} s")
    assert batched["errors"] == 0 and unbatched["errors"] == 0
    assert unbatched["mean_batch_size"] == 1.0
    assert_stopped_cleanly(single, returncode)
    imported = single.imported()
    assert {"onnxruntime", "fastapi", "uvicorn", "PIL", "numpy"} <= imported  # the log is read correctly
    assert not imported & set(FRAMEWORKS), f"the server imported {sorted(imported & set(FRAMEWORKS))}"


def test_the_fixture_server_imported_no_framework(server, artefacts):
    server.predict(artefacts["bodies"]["coffee"], "JPEG")
    imported = server.imported()
    assert "onnxruntime" in imported and not imported & set(FRAMEWORKS), sorted(imported & set(FRAMEWORKS))


# ---------------------------------------------------------------------------- the parts, offline


def test_preprocess_is_load_images_pipeline_with_pillow():
    body = encode("chelsea", "PNG")
    x = preprocess(body, SIZE)
    assert x.shape == (3, SIZE, SIZE) and x.dtype == np.float32 and x.flags.c_contiguous
    # by hand: centre square crop, bilinear resize, ImageNet normalisation
    image = Image.open(io.BytesIO(body)).convert("RGB")
    w, h = image.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    pixels = np.asarray(image.crop(box).resize((SIZE, SIZE), Image.Resampling.BILINEAR), np.float32) / 255
    np.testing.assert_allclose(x, imagenet_normalise(pixels).transpose(2, 0, 1), rtol=0, atol=1e-6)
    # the course's scikit-image pipeline (load_image): same crop, a different resampler
    reference = imagenet_normalise(load_image("chelsea", SIZE)).transpose(2, 0, 1)
    assert np.abs(x - reference).mean() * 0.226 < 0.01  # mean difference < 1 % of the pixel range
    # greyscale and RGBA inputs become 3 channels
    for mode in ("L", "RGBA", "P"):
        buffer = io.BytesIO()
        image.convert(mode).save(buffer, format="PNG")
        assert preprocess(buffer.getvalue(), 32).shape == (3, 32, 32)


def test_preprocess_rejects_bad_input():
    with pytest.raises(ImageDecodeError, match="empty"):
        preprocess(b"", SIZE)
    with pytest.raises(ImageDecodeError, match="not an image"):
        preprocess(b"GIF89a not really", SIZE)
    with pytest.raises(ImageRejected, match=">= 16"):
        preprocess(_tiny_png(), SIZE)
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(ImageRejected, match="at most"):
        preprocess(_png_header(10000, 10000), SIZE)  # 100 MP: over our 40 MP, under Pillow's error
    with pytest.raises(ImageRejected, match="too large"):
        preprocess(_png_header(20000, 20000), SIZE)  # 400 MP: Pillow refuses it itself
    with pytest.raises(ValueError, match="'size'"):
        preprocess(encode("chelsea", "PNG"), 0)
    with pytest.raises(ValueError, match="'image_bytes'"):
        preprocess("chelsea.png", SIZE)


def test_onnx_model_and_labels_reject_bad_files(tmp_path, artefacts):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    for path in (tmp_path / "missing.onnx", bad):
        with pytest.raises(ValueError, match="'path'"):
            OnnxModel(path)
    with pytest.raises(ValueError, match="'threads'"):
        OnnxModel(artefacts["model"], threads=0)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(["a", "b"]))
    with pytest.raises(ValueError, match="1000 strings"):
        load_labels(labels, 1000)
    labels.write_text("{not json")
    with pytest.raises(ValueError, match="JSON"):
        load_labels(labels, 2)


def test_dynamic_batcher_groups_requests():
    calls = []

    def run(x):
        calls.append(len(x))
        return x * 2

    async def scenario(max_batch_size, n):
        batcher = DynamicBatcher(run, max_batch_size=max_batch_size, max_wait_ms=50)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(np.full(3, i, np.float32)) for i in range(n)))
        await batcher.stop()
        with pytest.raises(BatcherStopped):
            await batcher.submit(np.zeros(3, np.float32))
        return results

    results = asyncio.run(scenario(4, 6))
    assert calls == [4, 2]
    assert [int(row[0]) for row, _ in results] == [0, 2, 4, 6, 8, 10]
    assert [size for _, size in results] == [4, 4, 4, 4, 2, 2]
    calls.clear()
    assert [size for _, size in asyncio.run(scenario(1, 3))] == [1, 1, 1] and calls == [1, 1, 1]


def test_dynamic_batcher_passes_model_errors_and_checks_arguments():
    def fail(x):
        raise RuntimeError("boom")

    async def scenario():
        batcher = DynamicBatcher(fail, max_batch_size=2, max_wait_ms=1)
        await batcher.start()
        outcome = await asyncio.gather(batcher.submit(np.zeros(1)), batcher.submit(np.zeros(1)),
                                       return_exceptions=True)
        await batcher.stop()
        return outcome

    assert [str(e) for e in asyncio.run(scenario())] == ["boom", "boom"]
    for kwargs, name in (({"max_batch_size": 0}, "max_batch_size"), ({"max_wait_ms": -1}, "max_wait_ms"),
                         ({"max_wait_ms": float("inf")}, "max_wait_ms")):
        with pytest.raises(ValueError, match=name):
            DynamicBatcher(lambda x: x, **kwargs)
    with pytest.raises(ValueError, match="run_batch"):
        DynamicBatcher(None)


def test_load_test_refuses_other_hosts_and_bad_arguments():
    for url in ("http://example.com/v1/predict", "http://10.0.0.1:8000/", "https://127.0.0.1/",
                "127.0.0.1:8000"):
        with pytest.raises(ValueError, match="'url'"):
            load_test(url, [b"x"])
    for kwargs, name in (({"requests": 0}, "requests"), ({"concurrency": 1.5}, "concurrency"),
                         ({"timeout": 0}, "timeout")):
        with pytest.raises(ValueError, match=name):
            load_test("http://127.0.0.1:9/", [b"x"], **kwargs)
    with pytest.raises(ValueError, match="'bodies'"):
        load_test("http://127.0.0.1:9/", [])


def test_command_line_rejects_bad_arguments(tmp_path, capsys):
    from vision_attention.serve.app import build_parser, main

    parser = build_parser()
    assert parser.parse_args(["--model", "m.onnx"]).host == "127.0.0.1"
    for bad in (["--port", "70000"], ["--max-batch-size", "0"], ["--max-wait-ms", "-1"],
                ["--max-body-mb", "0"], ["--threads", "x"], []):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args((["--model", "m.onnx"] if bad else []) + bad)
        assert exit_info.value.code == 2
    assert main(["--model", str(tmp_path / "missing.onnx")]) == 2
    assert "expected an existing .onnx file" in capsys.readouterr().err
    assert "no authentication" in parser.format_help().lower() and "reverse proxy" in parser.format_help()
