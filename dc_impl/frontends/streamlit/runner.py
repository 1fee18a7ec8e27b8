"""Run one agent turn on a private event loop in a background thread, for the Streamlit UI.

Streamlit re-executes the page script on every interaction and may abandon a script run at any
widget call, so the agent loop must not live inside a script run. A ``TurnRunner`` owns a daemon
thread with its own asyncio loop and runs the turn there as a task; the page polls it. ``cancel()``
is thread-safe: it cancels the task (the agent loop sees ``CancelledError`` at its next ``await`` and
heals the history it was given, per the loop's cancel semantics) and the page then reads the
outcome.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

COMPLETED = "completed"
CANCELLED = "cancelled"
FAILED = "failed"
RUNNING = "running"

TurnFactory = Callable[[], Coroutine[Any, Any, Any]]


class TurnRunner:
    """One turn: ``start()`` it, poll ``done``, ``cancel()`` it, read ``outcome``/``result``/``error``."""

    def __init__(self, factory: TurnFactory, *, name: str = "dc-ui-turn") -> None:
        self._factory = factory
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancel_requested = False
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        self.outcome = RUNNING
        self.result: Any = None
        self.error: BaseException | None = None
        self.started_at = 0.0
        self.finished_at = 0.0

    def start(self) -> TurnRunner:
        if self._thread is not None:
            raise RuntimeError("a TurnRunner runs once")
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            asyncio.set_event_loop(loop)
            task = loop.create_task(self._factory())
            with self._lock:
                self._loop, self._task = loop, task
                if self._cancel_requested:
                    task.cancel()
            try:
                self.result = loop.run_until_complete(task)
                self.outcome = COMPLETED
            except asyncio.CancelledError:
                self.outcome = CANCELLED
            except BaseException as exc:  # the page shows it; the thread must not die silently
                self.error = exc
                self.outcome = FAILED
            finally:
                _drain(loop)
        finally:
            with self._lock:
                self._loop = None
            asyncio.set_event_loop(None)
            loop.close()
            self.finished_at = time.monotonic()
            self._finished.set()

    def cancel(self) -> bool:
        """Ask the turn to stop; returns False when it had already finished."""
        with self._lock:
            if self._finished.is_set():
                return False
            self._cancel_requested = True
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
        return True

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the turn has finished (True) or ``timeout`` passed (False)."""
        return self._finished.wait(timeout)

    @property
    def elapsed_s(self) -> float:
        end = self.finished_at if self.done else time.monotonic()
        return max(0.0, end - self.started_at) if self.started_at else 0.0


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and await whatever the turn left behind (tool tasks, stream readers), then close gens."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
