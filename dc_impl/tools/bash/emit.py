"""Delivering output chunks to the ``on_output`` callback, in order, without blocking the pipes.

A plain function is called right where the bytes are read (inside the event loop's pipe callback),
so it sees each chunk within the same loop iteration. A coroutine function is awaited by one
consumer task, in order; while it lags, queued chunks of the same stream are merged, and past
``high_water`` queued characters the pipes are paused (the command then blocks on write, it does not
hang: it resumes as soon as the callback catches up). A failing callback is logged once per call and
never breaks the tool call.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from .output import OutputChunk

log = logging.getLogger(__name__)

OutputCallback = Callable[[OutputChunk], Any]

_MERGE_LIMIT = 256 * 1024


def is_async_callable(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or (callable(fn) and inspect.iscoroutinefunction(type(fn).__call__))


class Emitter:
    """Per-call delivery of ``OutputChunk`` objects to one callback."""

    def __init__(self, callback: OutputCallback | None, pause: Callable[[], None] = lambda: None,
                 resume: Callable[[], None] = lambda: None, high_water: int = 4 * 1024 * 1024) -> None:
        self._cb = callback
        self._async = callback is not None and is_async_callable(callback)
        self._pause = pause
        self._resume = resume
        self._high = high_water
        self._queue: deque[OutputChunk | Awaitable[Any]] = deque()
        self._pending = 0
        self._paused = False
        self._task: asyncio.Task[None] | None = None
        self._warned = False

    def bind(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        """Set how to pause and resume the pipes (the session does this when the call starts)."""
        self._pause, self._resume = pause, resume

    def emit(self, chunk: OutputChunk) -> None:
        cb = self._cb
        if cb is None:
            return
        if not self._async and not self._queue:
            try:
                result = cb(chunk)
            except Exception:
                self._warn()
                return
            if inspect.isawaitable(result):
                self._enqueue(result)
            return
        self._pending += len(chunk.text)
        self._enqueue(chunk)
        if not self._paused and self._pending > self._high:
            self._paused = True
            self._pause()

    def _enqueue(self, item: OutputChunk | Awaitable[Any]) -> None:
        self._queue.append(item)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._consume())

    async def _consume(self) -> None:
        try:
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, OutputChunk):
                    item = self._merge(item)
                    self._pending -= len(item.text)
                    try:
                        awaitable = self._cb(item) if self._cb is not None else None
                    except Exception:
                        self._warn()
                        awaitable = None
                else:
                    awaitable = item
                if awaitable is not None and inspect.isawaitable(awaitable):
                    try:
                        await awaitable
                    except Exception:
                        self._warn()
                if self._paused and self._pending <= self._high // 2:
                    self._paused = False
                    self._resume()
        finally:
            self._task = None

    def _merge(self, first: OutputChunk) -> OutputChunk:
        parts = [first.text]
        size = len(first.text)
        while (self._queue and isinstance(self._queue[0], OutputChunk) and self._queue[0].stream == first.stream
               and size < _MERGE_LIMIT):
            nxt = self._queue.popleft()
            assert isinstance(nxt, OutputChunk)
            parts.append(nxt.text)
            size += len(nxt.text)
        if len(parts) == 1:
            return first
        return OutputChunk("".join(parts), first.stream, first.t)

    async def drain(self, timeout: float | None) -> bool:
        """Wait until every queued chunk was delivered; give up (dropping the rest) after ``timeout``."""
        while self._task is not None:
            task = self._task
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                self.abort()
                return False
        return True

    def abort(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for item in self._queue:
            if inspect.iscoroutine(item):
                item.close()
        self._queue.clear()
        self._pending = 0
        if self._paused:
            self._paused = False
            self._resume()

    def _warn(self) -> None:
        if not self._warned:
            self._warned = True
            log.exception("on_output callback failed; further failures in this call are not logged")
