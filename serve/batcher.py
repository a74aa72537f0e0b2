"""Micro-batching: the chunks waiting from every connection of one model, run together.

Every open stream of a model lives in one ``StreamBatch``, used from one worker thread only (a
StreamBatch is for one thread at a time), so the event loop never blocks on a graph call. A
cycle starts when the oldest waiting chunk has waited ``max_wait_s``, or at once when
``max_batch`` streams (or every open stream) have a chunk waiting; it takes the first waiting chunk of up to
``max_batch`` streams (a stream's later chunks wait for later cycles, so each stream's chunks run
in order) and pushes them in one ``StreamBatch.push`` call. While a cycle runs, the next one's
chunks gather. Each stream's outputs equal its solo run: StreamBatch never pads one stream for
another.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgernn.runtime.errors import EdgeRNNError
from edgernn.runtime.model import Model, background_run

RESET = object()  # a queued request to start a stream again from zero state, in its chunks' order


@dataclass
class Waiting:
    chunk: Any
    future: asyncio.Future
    since: float  # time.monotonic() when it arrived


@dataclass(frozen=True)
class Result:
    """One chunk's answer: float32 [steps, classes] and the stream's step count before it."""

    probs: np.ndarray
    start: int


class BatchWorker:
    """The streams of one model, advanced in micro-batches (see the module docstring).

    reset_after_background: for a model with a background class, zero a stream's recurrent state
    once per run of background answers, after the chunk in which the run reaches this many
    (``ResetPolicy.background_steps``, as ``edgernn stream --reset-after-background`` does); None
    or 0: never (the default). on_cycle(streams, steps, seconds): called after
    each cycle, for metrics.
    """

    def __init__(self, model: Model, max_batch: int = 256, max_wait_s: float = 0.002,
                 reset_after_background: int | None = None, on_cycle=None):
        self.model = model
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._batch = model.batch()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="edgernn-batch")
        self._queues: dict[int, deque[Waiting]] = {}
        self._ready: OrderedDict[int, None] = OrderedDict()  # streams with a chunk waiting, oldest first
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._background = model.labels.index(model.background) if model.background is not None and reset_after_background else -1
        self._reset_after = reset_after_background or 0
        self._background_run: dict[int, int] = {}
        self._on_cycle = on_cycle
        self._task: asyncio.Task | None = None

    @property
    def streams(self) -> int:
        return len(self._queues)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def open(self) -> int:
        sid = await asyncio.get_running_loop().run_in_executor(self._executor, self._batch.open)
        self._queues[sid] = deque()
        self._background_run[sid] = 0
        return sid

    async def close(self, sid: int) -> None:
        """End a stream; its chunks still waiting are cancelled."""
        for waiting in self._queues.pop(sid, ()):
            waiting.future.cancel()
        self._ready.pop(sid, None)
        self._background_run.pop(sid, None)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._batch.close, sid)

    def submit(self, sid: int, chunk: Any) -> asyncio.Future:
        """Queue a checked chunk (or RESET) for stream ``sid``; the future gives its Result (for
        RESET, a Result with no steps)."""
        future = asyncio.get_running_loop().create_future()
        self._queues[sid].append(Waiting(chunk, future, time.monotonic()))
        if sid not in self._ready:
            self._ready[sid] = None
            self._wake.set()
            if len(self._ready) >= min(self.max_batch, len(self._queues)):  # nobody else to wait for
                self._full.set()
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            if len(self._ready) < min(self.max_batch, len(self._queues)):
                oldest = min(self._queues[sid][0].since for sid in self._ready)
                delay = oldest + self.max_wait_s - time.monotonic()
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._full.wait(), delay)
                    except asyncio.TimeoutError:  # TimeoutError from 3.11 on
                        pass
            taken = []
            for sid in list(self._ready)[: self.max_batch]:
                queue = self._queues[sid]
                taken.append((sid, queue.popleft()))
                del self._ready[sid]
                if queue:
                    self._ready[sid] = None  # its next chunk waits for a later cycle, at the back
            self._full.clear()
            if not self._ready:
                self._wake.clear()
            elif len(self._ready) >= min(self.max_batch, len(self._queues)):
                self._full.set()
            if not taken:
                continue
            started = time.perf_counter()
            results = await loop.run_in_executor(self._executor, self._step, [(sid, w.chunk) for sid, w in taken])
            if self._on_cycle is not None:
                steps = sum(len(r.probs) for r in results if isinstance(r, Result))
                self._on_cycle(len(taken), steps, time.perf_counter() - started)
            for (_, waiting), result in zip(taken, results):
                if waiting.future.done():  # cancelled: the connection went away
                    continue
                if isinstance(result, Exception):
                    waiting.future.set_exception(result)
                else:
                    waiting.future.set_result(result)

    def _step(self, items: list[tuple[int, Any]]) -> list[Result | Exception]:
        """In the worker thread: resets, then one StreamBatch.push of every chunk. Should the push
        refuse a chunk that passed the connection's check, each stream is pushed alone so that
        only that stream gets the error."""
        batch = self._batch
        starts = {sid: batch.steps(sid) for sid, _ in items}
        results: dict[int, Result | Exception] = {}
        chunks = {}
        for sid, chunk in items:
            if chunk is RESET:
                batch.reset(sid)
                self._background_run[sid] = 0
                results[sid] = Result(np.empty((0, len(self.model.labels)), np.float32), 0)
            else:
                chunks[sid] = chunk
        try:
            answers: dict[int, Any] = batch.push(chunks) if chunks else {}
        except EdgeRNNError:
            answers = {}
            for sid, chunk in chunks.items():
                try:
                    answers[sid] = batch.push({sid: chunk})[sid]
                except EdgeRNNError as exc:
                    answers[sid] = exc
        for sid, probs in answers.items():
            if isinstance(probs, Exception):
                results[sid] = probs
                continue
            results[sid] = Result(probs, starts[sid])
            if self._background >= 0 and len(probs):
                run, due = background_run(probs.argmax(axis=1) == self._background, self._background_run[sid],
                                          self._reset_after)
                if due:
                    batch.reset_state(sid)
                self._background_run[sid] = run
        return [results[sid] for sid, _ in items]
