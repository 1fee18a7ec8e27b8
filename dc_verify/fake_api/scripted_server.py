"""Scripted Messages API server: real HTTP on 127.0.0.1, real SSE, requests validated like the real API.

    with ScriptedServer(load_scenario("bash_tool")) as srv:
        client = AsyncAnthropic(base_url=srv.base_url, api_key="test")

Turns of the scenario are served in order, one per request. A request that breaks a history or parameter
rule (``validation.py``) or a turn's ``expect`` gets a 400 in the real error shape and is recorded in
``violations``; it does not consume the turn. A request that gets an injected failure (error event, drop,
status, malformed event) does not consume the turn either: the retry gets the same turn. A turn is
consumed when the server starts writing its ``message_stop`` (or its whole JSON message), or when a later
request answers one of its tool_use blocks (a continuation after a failure: the next turn is served).

CLI: ``python -m dc_verify.scripted_server --scenario NAME [--port N]`` prints the base URL first.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ._http import Handler, error_body, retry_headers
from .exchange import Answer, FiredInjection, RecordedRequest
from .scenario import ERROR_STATUS, Scenario, Turn, check_expect, load_scenario
from .sse import final_content, message_shell, new_id, plan_message
from .validation import IssuedRecord, Violation, parse_betas, validate_request

__all__ = [
    "Answer", "FiredInjection", "RecordedRequest", "Scenario", "ScriptedServer", "Violation", "error_body", "load_scenario",
    "main", "retry_headers",
]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: ScriptedServer


def _continues_past(turn: Turn, body: Mapping[str, Any]) -> bool:
    """True when the request's last message answers a tool_use of ``turn``: a client that continued after
    an attempt of the turn failed once its tools had run (a retry resends the same history instead)."""
    ids = {b["id"] for b in turn.blocks if b.get("type") == "tool_use"}
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    content = last.get("content") if isinstance(last, dict) and last.get("role") == "user" else None
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" and b.get("tool_use_id") in ids for b in content)


def _fallback_turn(scenario: Scenario) -> Turn:
    text = f"(scripted scenario {scenario.name!r} has no turns left)"
    return Turn(index=-1, blocks=[{"type": "text", "text": text}], stop_reason="end_turn")


class ScriptedServer:
    """Serve ``scenario`` on ``host:port`` (port 0: ephemeral) from a background thread."""

    def __init__(
        self,
        scenario: Scenario | str | Path | Mapping[str, Any],
        *,
        strict: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        validate: bool = True,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        self.scenario = load_scenario(scenario, variables)
        self.strict = strict
        self.validate = validate
        self._host, self._port = host, port
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.events_sent: list[tuple[int, str, float]] = []
        self.injections_fired: list[FiredInjection] = []
        self.disconnects: list[int] = []
        self.issued = IssuedRecord()
        self.stopping = threading.Event()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._next_turn = 0
        self._attempts = [0] * len(self.scenario.turns)
        self._message_stop: dict[int, float] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> ScriptedServer:
        if self._httpd is not None:
            raise RuntimeError("ScriptedServer already started")
        httpd = _HTTPServer((self._host, self._port), Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ScriptedServer not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # ----------------------------------------------------------------- state
    @property
    def turns_served(self) -> int:
        with self._lock:
            return self._next_turn

    @property
    def remaining_turns(self) -> int:
        with self._lock:
            return len(self.scenario.turns) - self._next_turn

    def t_message_stop(self, request_index: int) -> float | None:
        with self._lock:
            return self._message_stop.get(request_index)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Block until ``predicate(self)`` is true (re-checked on every server state change)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.1))
            return True

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def record_request(
        self, method: str, path: str, headers: dict[str, str], body: Any, request_id: str = ""
    ) -> RecordedRequest:
        with self._lock:
            rec = RecordedRequest(
                index=len(self.requests), method=method, path=path, headers=headers, body=body,
                t_received=time.monotonic(), betas=parse_betas(headers.get("anthropic-beta")), request_id=request_id,
            )
            self.requests.append(rec)
        self._notify()
        return rec

    def record_event(self, request_index: int, event: str) -> float:
        t = time.monotonic()
        with self._lock:
            self.events_sent.append((request_index, event, t))
            if event == "message_stop":
                self._message_stop[request_index] = t
        return t

    def record_injection(self, request_index: int, kind: str, at: str | None) -> None:
        with self._lock:
            self.injections_fired.append(FiredInjection(request_index, kind, at, time.monotonic()))
        self._notify()

    def finish(self, rec: RecordedRequest, outcome: str, status: int | None, turn: Turn | None = None) -> None:
        """Record how a request ended; a served scripted turn is consumed here."""
        with self._lock:
            rec.outcome, rec.status = outcome, status
            if outcome == "served" and turn is not None and turn.index >= 0:
                self._next_turn = max(self._next_turn, turn.index + 1)
            if outcome == "disconnected" and rec.index not in self.disconnects:
                self.disconnects.append(rec.index)
        self._notify()

    def reject(self, rec: RecordedRequest, rule: str, message: str) -> None:
        """Record a violation found outside the body rules (e.g. a body that is not JSON)."""
        with self._lock:
            self._violate(rec, [Violation(rule, message)])
        self._notify()

    def _violate(self, rec: RecordedRequest, found: list[Violation]) -> None:
        for v in found:
            v.request_index = rec.index
        self.violations.extend(found)

    # ----------------------------------------------------------------- decisions
    def answer_for(self, rec: RecordedRequest) -> Answer:
        """Decide the response to a POST /v1/messages whose JSON body is ``rec.body``."""
        body = rec.body
        with self._lock:
            found = validate_request(body, rec.betas, self.issued) if self.validate else []
            if found:
                self._violate(rec, found)
                return Answer(rec, "invalid", error=(400, "invalid_request_error", found[0].message))
            k = self._next_turn
            if k < len(self.scenario.turns) and self._attempts[k] and _continues_past(self.scenario.turns[k], body):
                k = self._next_turn = k + 1  # the model saw the results of turn k's tools: it carries on
            if k >= len(self.scenario.turns):
                if self.strict:
                    self._violate(rec, [Violation("scenario", "no scripted turn left")])
                    return Answer(rec, "no_turn", error=(400, "invalid_request_error", "no scripted turn left"))
                turn = _fallback_turn(self.scenario)
                attempt = 1
            else:
                turn = self.scenario.turns[k]
                problems = check_expect(turn.expect, body, rec.betas)
                if problems:
                    msgs = [f"turn {k}: {p}" for p in problems]
                    self._violate(rec, [Violation("scenario", m) for m in msgs])
                    return Answer(rec, "expect", error=(400, "invalid_request_error", "; ".join(msgs)))
                self._attempts[k] += 1
                attempt = self._attempts[k]
            rec.turn_index, rec.attempt = (turn.index if turn.index >= 0 else None), attempt
            firing = [inj for inj in turn.inject if inj.fires_on(attempt)]
            answer = Answer(rec, turn=turn, stream=body.get("stream") is True, injections=firing)
            status_inj = next((inj for inj in firing if inj.kind == "status"), None)
            if status_inj is not None:
                answer.outcome = "status"
                answer.error = (int(status_inj.spec["status"]), status_inj.error_type, status_inj.error_message)
                answer.retry_after_s = float(status_inj.spec.get("retry_after_s", 0.05))
                self.injections_fired.append(FiredInjection(rec.index, "status", None, time.monotonic()))
                return answer
            if turn.status != 200:
                etype = turn.error_type or next((t for t, s in ERROR_STATUS.items() if s == turn.status), "api_error")
                answer.error = (turn.status, etype, turn.error_message or etype.replace("_", " "))
                return answer
            model = turn.model or str(body.get("model") or "claude-sonnet-4-5")
            input_tokens = int(turn.usage.get("input_tokens", max(1, len(json.dumps(body.get("messages", []))) // 4)))
            message_id = new_id("msg_")
            answer.plan = plan_message(
                turn.blocks, message_id=message_id, model=model, stop_reason=turn.stop_reason,
                input_tokens=input_tokens, output_tokens=turn.output_tokens(),
                usage_extra=turn.usage_extra(), stop_details=turn.stop_details,
            )
            usage = {"input_tokens": input_tokens, **turn.usage_extra(), "output_tokens": turn.output_tokens()}
            message = message_shell(message_id, model, usage)
            message.update(content=final_content(turn.blocks), stop_reason=turn.stop_reason)
            answer.message = message
            self.issued.record(message["content"])
            return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dc_verify.scripted_server", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", required=True, help="shipped scenario name or path to a scenario JSON file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): an ephemeral port")
    parser.add_argument("--strict", action="store_true", help="a request after the last turn is a violation")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="set the scenario variable ${NAME}")
    args = parser.parse_args(argv)
    try:
        pairs = [v.split("=", 1) for v in args.var]
        if any(len(p) != 2 for p in pairs):
            raise ValueError("--var takes NAME=VALUE")
        srv = ScriptedServer(args.scenario, strict=args.strict, host=args.host, port=args.port, variables=dict(pairs))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with srv:
        print(srv.base_url, flush=True)
        print(f"serving scenario {srv.scenario.name!r} ({len(srv.scenario.turns)} turns); Ctrl-C to stop", file=sys.stderr)
        seen = 0
        try:
            while True:
                srv.wait_for(lambda s, n=seen: len(s.violations) > n, timeout=1.0)
                for v in srv.violations[seen:]:
                    print(f"violation [{v.rule}] request {v.request_index}: {v.message}", file=sys.stderr, flush=True)
                seen = len(srv.violations)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
