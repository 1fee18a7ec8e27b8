"""What the scripted server and its HTTP handler exchange: the recorded request, the decided answer, and
the small protocol the handler needs from whoever decides (``Decider``).

The handler (``_http.py``) depends on this module only, never on ``scripted_server.py``; the server
implements ``Decider``. That keeps the import graph a tree: scripted_server -> _http -> exchange.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from .scenario import Injection, Turn


@dataclass
class RecordedRequest:
    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    t_received: float
    betas: tuple[str, ...] = ()
    request_id: str = ""  # the request-id header the server answered with
    turn_index: int | None = None  # scripted turn it was answered with (None: rejected / fallback)
    attempt: int = 0  # 1-based attempt number of that turn
    status: int | None = None  # HTTP status answered
    outcome: str = ""  # served | invalid | expect | no_turn | status | error | drop | malformed | disconnected | ...


@dataclass(frozen=True)
class FiredInjection:
    request_index: int
    kind: str
    at: str | None
    t: float


@dataclass
class Answer:
    """What the handler should do for one request; built under the server lock."""

    request: RecordedRequest
    outcome: str = "served"
    turn: Turn | None = None
    error: tuple[int, str, str] | None = None  # (status, error type, message)
    retry_after_s: float | None = None
    stream: bool = False
    plan: list[Any] = field(default_factory=list)
    message: dict[str, Any] = field(default_factory=dict)
    injections: list[Injection] = field(default_factory=list)


class Decider(Protocol):
    """The handler's view of the server: record what happens, decide what to answer."""

    stopping: threading.Event

    def record_request(self, method: str, path: str, headers: dict[str, str], body: Any,
                       request_id: str = "") -> RecordedRequest: ...

    def record_event(self, request_index: int, event: str) -> float: ...

    def record_injection(self, request_index: int, kind: str, at: str | None) -> None: ...

    def finish(self, rec: RecordedRequest, outcome: str, status: int | None, turn: Turn | None = None) -> None: ...

    def reject(self, rec: RecordedRequest, rule: str, message: str) -> None: ...

    def answer_for(self, rec: RecordedRequest) -> Answer: ...
