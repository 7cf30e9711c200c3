"""Dynamic batching: concurrent requests share one model call.

Requests put ``(sample, future)`` on an :class:`asyncio.Queue`. One worker task takes the first
waiting request, then keeps collecting until it holds ``max_batch_size`` requests or
``max_wait_ms`` have passed since it took the first one, stacks the samples, runs the model once
in a worker thread (:meth:`asyncio.loop.run_in_executor`, so the event loop keeps accepting and
decoding requests meanwhile) and resolves every future with its row and the batch size. Requests
that arrive while a batch runs are waiting in the queue when it ends, so under load the next
batch fills without waiting. ``max_batch_size=1`` turns batching off (each request runs alone,
still one at a time).

The same design as the dynamic batchers of NVIDIA Triton (``max_queue_delay_microseconds``) and
TorchServe (``batch_size``, ``max_batch_delay``); here in plain asyncio (Python docs,
"Queues" and "Coroutines and Tasks").
"""

from __future__ import annotations

import asyncio
import math
import numbers
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np

__all__ = ["DynamicBatcher", "BatcherStopped"]


class BatcherStopped(RuntimeError):
    """The batcher is not running, or stopped before the request ran (the server answers 503)."""


class DynamicBatcher:
    """Collect concurrent single-sample requests into batches for one model call each.

    Args:
        run_batch: function ``(B, ...) array -> (B, ...) array`` (here
            :meth:`vision_attention.serve.model.OnnxModel.run`), called from a worker thread, one
            batch at a time.
        max_batch_size: most samples in one call (positive int; 1 disables batching).
        max_wait_ms: longest wait in milliseconds after the first sample of a batch for more
            to arrive (finite real >= 0; 0 takes only what is already queued).
        executor: where ``run_batch`` runs (``None``: the event loop's default thread pool).

    Raises:
        ValueError: ``run_batch`` not callable, ``max_batch_size`` not a positive int,
            ``max_wait_ms`` negative or not a finite real.

    Use inside a running event loop: ``await start()``, ``await submit(x)`` from any number of
    tasks, ``await stop()``.
    """

    def __init__(self, run_batch: Callable[[np.ndarray], np.ndarray], *, max_batch_size: int = 8,
                 max_wait_ms: float = 5.0, executor: Executor | None = None):
        if not callable(run_batch):
            raise ValueError(f"DynamicBatcher: argument 'run_batch' expected a callable, got {run_batch!r}")
        owner = "DynamicBatcher: argument"
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, numbers.Integral) \
                or max_batch_size < 1:
            raise ValueError(f"{owner} 'max_batch_size' expected a positive int, got {max_batch_size!r}")
        if (isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, numbers.Real)
                or not math.isfinite(max_wait_ms) or max_wait_ms < 0):
            raise ValueError(f"{owner} 'max_wait_ms' expected a finite number >= 0, got {max_wait_ms!r}")
        self.run_batch, self.executor = run_batch, executor
        self.max_batch_size, self.max_wait_ms = int(max_batch_size), float(max_wait_ms)
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self.batches_run = 0
        self.samples_run = 0

    @property
    def running(self) -> bool:
        """Whether the worker task is alive."""
        return self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        """Create the queue and the worker task on the running loop (idempotent)."""
        if self.running:
            return
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="dynamic-batcher")

    async def stop(self) -> None:
        """Cancel the worker and fail every request still queued with :class:`BatcherStopped`."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        while self._queue is not None and not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(BatcherStopped("the server is shutting down"))

    async def submit(self, sample: np.ndarray) -> tuple[np.ndarray, int]:
        """Queue one sample and wait for its output.

        Args:
            sample: one input without the batch axis (here float32 ``(C, H, W)``).

        Returns:
            ``(output_row, batch_size)``: this sample's row of ``run_batch``'s output and the
            number of samples in the call it ran in.

        Raises:
            BatcherStopped: the batcher is not running, or stopped before the sample ran.
            Exception: whatever ``run_batch`` raised for the batch (every sample of it gets it).
        """
        if not self.running:
            raise BatcherStopped("DynamicBatcher.submit: the batcher is not running (call start() first)")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((sample, future))
        return await future

    async def _collect(self) -> list:
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_ms / 1000.0
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return [(x, f) for x, f in batch if not f.done()]  # a client that went away cancelled its future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            if not batch:
                continue
            try:
                x = np.stack([sample for sample, _ in batch])
                outputs = await loop.run_in_executor(self.executor, self.run_batch, x)
                if len(outputs) != len(batch):
                    raise RuntimeError(f"run_batch returned {len(outputs)} rows for a batch of {len(batch)}")
            except asyncio.CancelledError:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(BatcherStopped("the server is shutting down"))
                raise
            except Exception as exc:  # the model failed: every request of this batch gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches_run += 1
            self.samples_run += len(batch)
            for row, (_, future) in zip(outputs, batch):
                if not future.done():
                    future.set_result((row, len(batch)))
