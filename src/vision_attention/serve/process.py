"""Run the model server in a subprocess: start it, wait until it is ready, talk to it, stop it.

Used by the deployment chapter and the tests. ``python -m vision_attention.serve`` is started
with ``--port 0`` (a free port) unless ``--port`` is given; the server's single "ready on
http://HOST:PORT" line on stderr gives the address. Stopping sends SIGTERM (uvicorn's graceful
shutdown) and waits for the process to exit, so no server outlives its ``with`` block.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

__all__ = ["ServerProcess"]

_READY = re.compile(r"ready on http://([\d.]+):(\d+) ")


class ServerProcess:
    """``python [python_args] -m vision_attention.serve --model MODEL [args]`` in a subprocess.

    Args:
        model: path of the ``.onnx`` file to serve.
        *args: further command-line arguments of the server (e.g. ``"--labels", "labels.json"``,
            ``"--max-batch-size", "1"``); ``--port 0`` is added unless ``--port`` is among them.
        python_args: interpreter options placed before ``-m`` (e.g. ``("-X", "importtime")``).
        log_path: file for the server's stderr (default: a temporary file, removed on stop).
        startup_timeout: seconds to wait for the ready line.

    Attributes (once started): ``host``, ``port``, ``url`` (``http://host:port``), ``pid``, ``proc``.

    Raises:
        ValueError: ``model`` is not an existing file.
        RuntimeError: the server exited or did not become ready in ``startup_timeout`` s (its
            stderr in the message).
    """

    def __init__(self, model, *args: str, python_args=(), log_path=None, startup_timeout: float = 60):
        model = os.fspath(model)
        if not os.path.isfile(model):
            raise ValueError(f"ServerProcess: argument 'model' expected an existing .onnx file, got {model!r}")
        args = [str(a) for a in args]
        if "--port" not in args:
            args += ["--port", "0"]
        self.log_path = os.fspath(log_path) if log_path is not None else tempfile.mkstemp(suffix=".log")[1]
        self._log = open(self.log_path, "w")
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
        command = [sys.executable, *python_args, "-m", "vision_attention.serve", "--model", model, *args]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self._log, env=env)
        self.pid = self.proc.pid
        deadline = time.monotonic() + startup_timeout
        while (match := _READY.search(self.log())) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                self._log.close()
                raise RuntimeError(f"ServerProcess: the server did not start (exit {self.proc.returncode}); "
                                   f"stderr:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        self.host, self.port = match.group(1), int(match.group(2))
        self.url = f"http://{self.host}:{self.port}"

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        """Everything the server wrote to stderr so far."""
        with open(self.log_path) as f:
            return f.read()

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30):
        """Send one request; return ``(status, JSON answer)`` (the raw bytes if not JSON)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(payload)
        except ValueError:
            return response.status, payload

    def predict(self, image: bytes, content_type: str = "image/png"):
        """``POST /v1/predict`` with an encoded image; ``(status, answer)``."""
        return self.request("POST", "/v1/predict", image, {"Content-Type": content_type})

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then wait for the exit; return the exit status (0, or -SIGTERM: uvicorn
        re-raises the signal after its graceful shutdown). Idempotent.

        Raises:
            RuntimeError: the server ignored SIGTERM for ``timeout`` s (it is then killed).
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"ServerProcess: the server ignored SIGTERM for {timeout} s; killed") from None
        finally:
            self._log.close()
        return returncode
