"""Output plumbing for the streaming bash tool: chunks, marker scanning, capped capture with spill.

Everything here is synchronous and loop-free; the session feeds raw pipe bytes in and gets decoded
text and a bounded, model-ready transcript out.

- ``MarkerScanner`` finds the per-call completion marker in a byte stream, even when the marker is
  split across reads, and hands back the bytes before it, the marker payload and the bytes after it.
- ``StreamCapture`` keeps a head buffer and a rolling tail of the decoded text (memory bounded by
  ``max_chars`` plus one read) and writes the raw bytes to a spill file once they outgrow memory, so
  the full output stays available byte-exact whatever the command prints.
"""

from __future__ import annotations

import codecs
import os
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MARKER_LEAD = b"\x1f\x1eDC:"   # unit separator + record separator: never in ordinary text output
MARKER_END = b"\x1e\n"


@dataclass(frozen=True, slots=True)
class OutputChunk:
    """One piece of command output as it was read: ``stream`` is ``"stdout"`` or ``"stderr"``."""

    text: str
    stream: str
    t: float = field(default_factory=time.monotonic)


def new_decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


class MarkerScanner:
    """Splits a byte stream at ``MARKER_LEAD + token + ":" + payload + MARKER_END``.

    While armed, bytes that might be the start of the marker are held back (at most the marker's
    length, and only when a read ends with ``\\x1f``), so nothing but the marker is ever withheld.
    """

    def __init__(self) -> None:
        self._marker: bytes | None = None
        self._held = b""
        self._in_payload = False

    @property
    def armed(self) -> bool:
        return self._marker is not None

    def arm(self, token: str) -> None:
        self._marker = MARKER_LEAD + token.encode("ascii") + b":"
        self._held = b""
        self._in_payload = False

    def disarm(self) -> None:
        self._marker = None
        self._held = b""
        self._in_payload = False

    def flush(self) -> bytes:
        """Disarm and return output bytes held back as a possible marker start (at end of stream)."""
        held = b"" if self._in_payload else self._held
        self.disarm()
        return held

    def feed(self, data: bytes) -> tuple[bytes, bytes | None, bytes]:
        """Return ``(before, payload, after)``; ``payload`` is None until the whole marker has arrived.

        When not armed everything is returned as ``after`` (output outside any call).
        """
        marker = self._marker
        if marker is None:
            return b"", None, data
        buf = self._held + data if self._held else data
        self._held = b""
        if self._in_payload:
            end = buf.find(MARKER_END)
            if end < 0:
                self._held = buf
                return b"", None, b""
            self.disarm()
            return b"", buf[:end], buf[end + len(MARKER_END):]
        start = buf.find(marker)
        if start < 0:
            cut = self._partial_start(buf, marker)
            self._held = buf[cut:]
            return buf[:cut], None, b""
        rest = buf[start + len(marker):]
        end = rest.find(MARKER_END)
        if end < 0:
            self._in_payload = True
            self._held = rest
            return buf[:start], None, b""
        self.disarm()
        return buf[:start], rest[:end], rest[end + len(MARKER_END):]

    @staticmethod
    def _partial_start(buf: bytes, marker: bytes) -> int:
        """Index from which ``buf``'s end could be the beginning of ``marker`` (``len(buf)`` if none)."""
        lo = max(0, len(buf) - len(marker) + 1)
        idx = buf.rfind(marker[:1], lo)
        while idx >= 0:
            if marker.startswith(buf[idx:]):
                return idx
            idx = buf.rfind(marker[:1], lo, idx)
        return len(buf)


class StreamCapture:
    """Head + rolling tail of one stream's text, raw bytes spilled to a file past ``spill_after`` bytes."""

    def __init__(self, name: str, max_chars: int, spill_dir: str | os.PathLike[str] | None,
                 spill_after: int | None = None, max_spill_bytes: int = 512 * 1024 * 1024) -> None:
        self.name = name
        self.max_chars = max(0, max_chars)
        self.head_chars = self.max_chars // 2
        self.tail_chars = self.max_chars - self.head_chars
        self._spill_dir = spill_dir
        self._spill_after = self.max_chars if spill_after is None else spill_after
        self._max_spill = max_spill_bytes
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self.total_chars = 0
        self.total_bytes = 0
        self._raw = bytearray()       # raw bytes kept in memory until they exceed spill_after
        self._spill: BinaryIO | None = None
        self.spill_path: Path | None = None
        self.spill_truncated = False
        self.spill_error: str | None = None

    # -- input ---------------------------------------------------------------------------------

    def add_bytes(self, data: bytes) -> None:
        if not data:
            return
        self.total_bytes += len(data)
        if self._spill is not None:
            self._write_spill(data)
        elif self.spill_error is None:
            self._raw += data
            if len(self._raw) > self._spill_after:
                self._open_spill()

    def add_text(self, text: str) -> None:
        if not text:
            return
        self.total_chars += len(text)
        room = self.head_chars - self._head_len
        if room > 0:
            part = text[:room]
            self._head.append(part)
            self._head_len += len(part)
            text = text[room:]
            if not text:
                return
        self._tail.append(text)
        self._tail_len += len(text)
        while self._tail and self._tail_len - len(self._tail[0]) >= self.tail_chars:
            self._tail_len -= len(self._tail.popleft())

    def _open_spill(self) -> None:
        try:
            fd, path = tempfile.mkstemp(prefix="dc_bash_", suffix=f".{self.name}.log", dir=self._spill_dir)
        except OSError as exc:
            self.spill_error = str(exc)
            self._raw = bytearray()
            return
        self._spill = os.fdopen(fd, "wb")
        self.spill_path = Path(path)
        data, self._raw = bytes(self._raw), bytearray()
        self._write_spill(data)

    def _write_spill(self, data: bytes) -> None:
        assert self._spill is not None
        room = self._max_spill - self._spill.tell()
        if room <= 0:
            self.spill_truncated = True
            return
        if len(data) > room:
            data = data[:room]
            self.spill_truncated = True
        try:
            self._spill.write(data)
        except OSError as exc:
            self.spill_error = str(exc)
            self._close_spill()

    def _close_spill(self) -> None:
        if self._spill is not None:
            try:
                self._spill.close()
            except OSError:
                pass
            self._spill = None

    # -- output --------------------------------------------------------------------------------

    @property
    def truncated(self) -> bool:
        return self.total_chars > self.max_chars

    def finish(self) -> str:
        """Close the spill file and return the model-facing text (with an elision note if capped).

        A spill file is kept only when the text was actually capped; otherwise it is deleted.
        """
        self._close_spill()
        head = "".join(self._head)
        tail = "".join(self._tail)
        if not self.truncated:
            self._drop_spill()
            return head + tail
        tail = tail[-self.tail_chars:] if self.tail_chars else ""
        omitted = self.total_chars - len(head) - len(tail)
        return f"{head}{self._note(omitted)}{tail}"

    def _note(self, omitted: int) -> str:
        if self.spill_path is not None:
            where = f"the full {self.name} ({self.total_bytes} bytes) is saved in {self.spill_path}"
            if self.spill_truncated:
                where += f" (only its first {self._max_spill} bytes were kept)"
            hint = "; search it with grep -n, or view parts of it with head/tail/sed -n"
        else:
            where = f"the full {self.name} could not be saved ({self.spill_error or 'no spill file'})"
            hint = ""
        return (f"\n[... {omitted} of {self.total_chars} characters of {self.name} omitted here; "
                f"{where}{hint} ...]\n")

    def _drop_spill(self) -> None:
        if self.spill_path is not None:
            try:
                self.spill_path.unlink()
            except OSError:
                pass
            self.spill_path = None

    def abandon(self) -> None:
        """Release resources without producing text (call aborted); keeps a spill file if one exists."""
        self._close_spill()


class BoundedText:
    """The last ``limit`` characters appended (for output that arrives between calls)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: deque[str] = deque()
        self._len = 0
        self.dropped = 0

    def add(self, text: str) -> None:
        self._parts.append(text)
        self._len += len(text)
        while self._parts and self._len - len(self._parts[0]) >= self.limit:
            n = len(self._parts.popleft())
            self._len -= n
            self.dropped += n

    def take(self) -> tuple[str, int]:
        text = "".join(self._parts)
        if len(text) > self.limit:
            self.dropped += len(text) - self.limit
            text = text[-self.limit:]
        dropped = self.dropped
        self._parts.clear()
        self._len = 0
        self.dropped = 0
        return text, dropped
