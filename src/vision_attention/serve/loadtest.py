"""A small closed-loop load generator for a server on this machine (standard library only).

``concurrency`` client threads, each with its own keep-alive ``http.client`` connection, send
POST requests back to back until ``requests`` have been sent in all; each request's latency is
measured from sending to the last byte of the answer (``time.perf_counter``). Closed loop: a
client sends its next request only after the previous answer, so the offered load adapts to the
server (the throughput measured is the server's at that concurrency, not an arrival rate).
Only loopback addresses are accepted: this is for measuring your own server, not anyone else's.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import math
import numbers
import threading
import time
from urllib.parse import urlsplit

import numpy as np

__all__ = ["load_test"]


def _check_url(url) -> tuple[str, int, str]:
    if not isinstance(url, str):
        raise ValueError(f"load_test: argument 'url' expected an http:// URL string, "
                         f"got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"load_test: argument 'url' expected an http://host:port/path URL, got {url!r}")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError("load_test: argument 'url' expected a loopback host (127.0.0.0/8, ::1 or "
                         f"localhost), got {host!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, parts.port or 80, path


def _check_count(name: str, value, low: float) -> None:
    real = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if not real or not math.isfinite(value) or value < low:
        raise ValueError(f"load_test: argument '{name}' expected a number >= {low:g}, got {value!r}")


def load_test(url: str, bodies: list[bytes], *, requests: int = 200, concurrency: int = 8,
              timeout: float = 30, content_type: str = "application/octet-stream") -> dict:
    """POST ``requests`` bodies to ``url`` from ``concurrency`` threads; latency and throughput.

    Request ``i`` sends ``bodies[i % len(bodies)]``. A request counts as an error when it raises
    (connection refused or reset, timeout) or its status is not 2xx; after an error the client
    opens a new connection.

    Args:
        url: ``http://<loopback host>:<port>/<path>``, e.g. ``http://127.0.0.1:8000/v1/predict``.
        bodies: non-empty list of request bodies (``bytes``).
        requests: total number of requests (int >= 1).
        concurrency: client threads (int >= 1; at most ``requests`` are started).
        timeout: socket timeout per request in seconds (> 0).
        content_type: the Content-Type header sent (``application/json`` for the tensor endpoint).

    Returns:
        ``{"p50_ms", "p95_ms", "mean_ms"}``: latency percentiles (numpy's linear interpolation) and
        mean of the successful requests in milliseconds (NaN if none succeeded);
        ``"throughput_rps"``: successful requests per second of wall time; ``"errors"``: count;
        ``"wall_s"``: seconds from the first send to the last answer; ``"requests"``,
        ``"concurrency"``; ``"mean_batch_size"``: mean of the answers' ``batch_size`` field where
        they are JSON with one (else NaN).

    Raises:
        ValueError: ``url`` not an http URL on a loopback host, ``bodies`` empty or not bytes, or
            ``requests``, ``concurrency``, ``timeout`` out of range -- before anything is sent.
    """
    host, port, path = _check_url(url)
    if not isinstance(bodies, (list, tuple)) or not bodies \
            or not all(isinstance(b, (bytes, bytearray)) for b in bodies):
        raise ValueError("load_test: argument 'bodies' expected a non-empty list of bytes, "
                         f"got {type(bodies).__name__}")
    for name, value, low in (("requests", requests, 1), ("concurrency", concurrency, 1)):
        _check_count(name, value, low)
        if not isinstance(value, numbers.Integral):
            raise ValueError(f"load_test: argument '{name}' expected an int >= 1, got {value!r}")
    _check_count("timeout", timeout, 0)
    if timeout == 0:
        raise ValueError("load_test: argument 'timeout' expected a number > 0, got 0")
    if not isinstance(content_type, str) or not content_type:
        raise ValueError(f"load_test: argument 'content_type' expected a media type string, "
                         f"got {content_type!r}")

    counter, lock = iter(range(int(requests))), threading.Lock()
    latencies, batch_sizes, errors = [], [], [0]

    def client() -> None:
        conn = None
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = bytes(bodies[i % len(bodies)])
            start = time.perf_counter()
            try:
                conn = conn or http.client.HTTPConnection(host, port, timeout=timeout)
                conn.request("POST", path, body=body, headers={"Content-Type": content_type})
                response = conn.getresponse()
                payload = response.read()
                ok = 200 <= response.status < 300
            except (OSError, http.client.HTTPException):
                ok, payload = False, b""
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = time.perf_counter() - start
            with lock:
                if not ok:
                    errors[0] += 1
                    continue
                latencies.append(elapsed)
                try:
                    batch_sizes.append(int(json.loads(payload)["batch_size"]))
                except (ValueError, KeyError, TypeError):
                    pass
        if conn is not None:
            conn.close()

    clients = min(int(concurrency), int(requests))
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000.0
    nan = float("nan")
    return {
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else nan,
        "p95_ms": float(np.percentile(ms, 95)) if len(ms) else nan,
        "mean_ms": float(ms.mean()) if len(ms) else nan,
        "throughput_rps": len(ms) / wall,
        "errors": errors[0],
        "wall_s": wall,
        "requests": int(requests),
        "concurrency": int(concurrency),
        "mean_batch_size": float(np.mean(batch_sizes)) if batch_sizes else nan,
    }
