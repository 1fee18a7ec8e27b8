"""HTTP side of the scripted server: one handler that writes JSON answers and SSE streams with faults.

The stream is HTTP/1.1 chunked, so a *drop* (socket shut down without the final zero-length chunk) reaches
the client as an incomplete body (``httpx2.RemoteProtocolError``), as a real mid-stream drop does, while an
``error`` event or a malformed event ends the body cleanly the way the real API does.
"""

from __future__ import annotations

import json
import math
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from .exchange import Answer, Decider, RecordedRequest
from .scenario import ERROR_STATUS, Injection
from .sse import dumps, encode_event, encode_ping, new_id, resolve_point

MESSAGES_PATH = "/v1/messages"
MAX_BODY_BYTES = 32 * 1024 * 1024  # the real API's request size limit (413 request_too_large above it)
_DISCONNECT = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class ClientGone(Exception):
    """The client closed the connection while the server was writing."""


def error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    """The real API's error shape."""
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}


def retry_headers(retry_after_s: float | None) -> dict[str, str]:
    """``retry-after`` (whole seconds, as the API sends) plus ``retry-after-ms``, which the SDK reads first."""
    if retry_after_s is None:
        return {}
    return {"retry-after": str(math.ceil(retry_after_s)), "retry-after-ms": str(int(retry_after_s * 1000))}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dc-verify-scripted/1"
    sys_version = ""

    @property
    def owner(self) -> Decider:
        return cast("Decider", self.server.owner)  # type: ignore[attr-defined]  # set by the server that made us

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    # ------------------------------------------------------------------ dispatch
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        rec, _raw = self._read_and_record("GET")
        try:
            if not self._refuse_unread_body(rec):
                self._finish_error(rec, 404, "not_found_error", f"Not found: {self.path}")
        except ClientGone:
            self.close_connection = True

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        rec, raw = self._read_and_record("POST")
        try:
            if not self._refuse_unread_body(rec):
                self._post(rec, raw)
        except ClientGone:
            self.close_connection = True
            self.owner.finish(rec, "disconnected", rec.status)

    def _post(self, rec: RecordedRequest, raw: bytes) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in (MESSAGES_PATH, MESSAGES_PATH + "/count_tokens"):
            self._finish_error(rec, 404, "not_found_error", f"Not found: {self.path}")
            return
        if not isinstance(rec.body, dict):
            message = "request body must be a JSON object"
            self.owner.reject(rec, "params", message)
            self._finish_error(rec, 400, "invalid_request_error", message)
            return
        if path.endswith("/count_tokens"):
            self.owner.finish(rec, "count_tokens", 200)
            self._send_json(200, {"input_tokens": max(1, len(raw) // 4)})
            return
        answer = self.owner.answer_for(rec)
        if answer.error is not None:
            status, etype, message = answer.error
            self.owner.finish(rec, answer.outcome, status, answer.turn)
            self._send_error(status, etype, message, retry_after_s=answer.retry_after_s)
        elif answer.stream:
            self._serve_stream(answer)
        else:
            self._serve_json(answer)

    def _refuse_unread_body(self, rec: RecordedRequest) -> bool:
        """Answer a request whose body was not read (bad or oversized content-length) as the API does."""
        if self._body_problem is None:
            return False
        status, etype, message = self._body_problem
        self.close_connection = True  # the unread body must not be parsed as the next request
        self.owner.reject(rec, "params", message)
        self._finish_error(rec, status, etype, message)
        return True

    def _read_and_record(self, method: str) -> tuple[RecordedRequest, bytes]:
        self._rid = new_id("req_")  # one handler serves every request of a keep-alive connection
        self._body_problem: tuple[int, str, str] | None = None
        header = (self.headers.get("content-length") or "0").strip()
        length = int(header) if header.isdigit() else -1
        if length < 0:
            self._body_problem = (400, "invalid_request_error", f"invalid content-length header: {header!r}")
        elif length > MAX_BODY_BYTES:
            self._body_problem = (413, "request_too_large", "Request exceeds the maximum allowed number of bytes. "
                                  f"The maximum request size is {MAX_BODY_BYTES} bytes.")
        raw = self.rfile.read(length) if self._body_problem is None and length > 0 else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        return self.owner.record_request(method, self.path, headers, body, self._rid), raw

    # ------------------------------------------------------------------ low-level writes
    def _request_id(self) -> str:
        return self._rid

    def _send_json(self, status: int, payload: Any, extra: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", self._request_id())
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except _DISCONNECT as exc:
            raise ClientGone from exc

    def _send_error(self, status: int, etype: str, message: str, retry_after_s: float | None = None) -> None:
        self._send_json(status, error_body(etype, message, self._request_id()), retry_headers(retry_after_s))

    def _finish_error(self, rec: RecordedRequest, status: int, etype: str, message: str) -> None:
        self.owner.finish(rec, "invalid", status)
        self._send_error(status, etype, message)

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except _DISCONNECT as exc:
            raise ClientGone from exc

    def _end_chunks(self) -> None:
        self._chunk(b"")

    def _drop(self) -> None:
        """Cut the connection mid-body: no terminating chunk, socket shut down."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self.owner.stopping.wait(seconds):
            raise ClientGone("server stopping")

    # ------------------------------------------------------------------ answers
    def _serve_json(self, answer: Answer) -> None:
        rec = answer.request
        for inj in answer.injections:
            self.owner.record_injection(rec.index, inj.kind, inj.at)
            if inj.kind == "stall":
                self._sleep(float(inj.spec["seconds"]))
            elif inj.kind == "drop":
                self.owner.finish(rec, "drop", None)
                self._drop()
                return
            elif inj.kind == "error":
                status = ERROR_STATUS.get(inj.error_type, 500)
                self.owner.finish(rec, "error", status)
                self._send_error(status, inj.error_type, inj.error_message)
                return
            elif inj.kind == "malformed" and inj.is_failure:
                self.owner.finish(rec, "malformed", 200)
                self._send_json(200, None, raw=json.dumps(answer.message).encode()[:-7])
                return
        self.owner.finish(rec, "served", 200, answer.turn)
        self._send_json(200, answer.message)

    def _serve_stream(self, answer: Answer) -> None:
        rec, turn, plan = answer.request, answer.turn, answer.plan
        assert turn is not None
        by_slot: dict[int, list[Injection]] = {}
        for inj in answer.injections:
            if inj.at is not None:
                by_slot.setdefault(resolve_point(plan, inj.at), []).append(inj)
        try:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("request-id", self._request_id())
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
        except _DISCONNECT as exc:
            raise ClientGone from exc
        for slot in range(len(plan) + 1):
            for inj in by_slot.get(slot, []):
                if self._inject(rec, inj, plan, slot):
                    return
            if slot == len(plan):
                break
            ev = plan[slot]
            if ev.event == "message_stop":
                # Consumed before the client can see message_stop, so a caller never observes a stale count.
                self.owner.finish(rec, "served", 200, turn)
            self.owner.record_event(rec.index, ev.event)
            self._chunk(encode_event(ev.event, ev.data))
            if turn.ping_every and (slot + 1) % turn.ping_every == 0 and ev.event != "message_stop":
                self._ping(rec)
            self._sleep(ev.pause_after_s)
            if ev.event != "message_stop":
                self._sleep(turn.event_delay_s)
        self._end_chunks()

    def _ping(self, rec: RecordedRequest) -> None:
        self.owner.record_event(rec.index, "ping")
        self._chunk(encode_ping())

    def _inject(self, rec: RecordedRequest, inj: Injection, plan: list[Any], slot: int) -> bool:
        """Fire one injection inside a stream. True if it ended the response (outcome recorded first)."""
        self.owner.record_injection(rec.index, inj.kind, inj.at)
        if inj.kind == "ping":
            self._ping(rec)
            return False
        if inj.kind == "stall":
            seconds, every = float(inj.spec["seconds"]), inj.spec.get("keepalive_ping_s")
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                self._sleep(min(left, float(every)) if every else left)
                if every and deadline - time.monotonic() > 0:
                    self._ping(rec)
            return False
        if inj.kind == "drop":
            self.owner.finish(rec, "drop", 200)
            self._drop()
            return True
        if inj.kind == "error":
            payload = {"type": "error", "error": {"type": inj.error_type, "message": inj.error_message}}
            self.owner.finish(rec, "error", 200)
            self.owner.record_event(rec.index, "error")
            self._chunk(encode_event("error", payload))
            self._end_chunks()
            return True
        if inj.kind == "malformed":
            if inj.is_failure:
                self.owner.finish(rec, "malformed", 200)
            self._chunk(self._malformed_bytes(inj, plan, slot))
            if inj.is_failure:
                self._end_chunks()
                return True
        return False

    @staticmethod
    def _malformed_bytes(inj: Injection, plan: list[Any], slot: int) -> bytes:
        variant = inj.spec.get("variant", "bad_json")
        if variant == "raw":
            return str(inj.spec["raw"]).encode()
        if variant == "unknown_event":
            return encode_event("scripted_unknown", {"type": "scripted_unknown", "note": "injected"})
        nxt = plan[slot] if slot < len(plan) else plan[-1]
        if variant == "no_data":
            return f"event: {nxt.event}\n\n".encode()
        text = dumps(nxt.data)
        return f"event: {nxt.event}\ndata: {text[: max(1, len(text) // 2)]}\n\n".encode()
