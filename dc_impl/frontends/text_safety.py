"""Text from a tool or the model, made safe and bounded for a front end (terminal chat, Streamlit page).

Two pure pieces, shared by the front ends (``reducer``, ``terminal``, ``streamlit/render``):

* ``safe_text`` renders control characters visibly instead of passing them on: C0 controls (except
  newline and tab) and DEL become their Unicode control pictures (ESC -> ``␛``, BEL -> ``␇``, a lone CR
  -> ``␍``; CRLF becomes a plain newline), C1 controls (including the one-byte CSI U+009B), bidi
  overrides/isolates/marks, line/paragraph separators and lone surrogates become ``<U+XXXX>``. A
  terminal then never sees an escape sequence from a command (``\\033[2J`` clears nothing; an OSC title
  sequence retitles nothing), and a bidi override cannot reorder what the operator reads. The
  substitution is per character, so it is safe to apply to any piece of a stream. Linear time; text
  without such characters is returned unchanged (one regex scan).
* ``HeadTail`` accumulates streamed output in bounded memory: the first ``head_chars`` characters,
  the last ``tail_chars`` (a ring: older tail text is dropped as new text arrives), and the counts of
  everything seen. ``clip`` draws it as head, one ``[… N lines (M characters) omitted …]`` line, and
  tail, optionally limited to a number of lines at each end. ``clip_text`` does the same for one
  complete string. Neither ever holds or scans more than the caps, whatever the tool printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# C0 except \t (09) and \n (0a); DEL and C1 (7f-9f, incl. U+009B CSI and U+0085 NEL); ALM, LRM, RLM;
# line/paragraph separators; bidi embeddings/overrides (202a-202e) and isolates (2066-2069); surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # U+2400 CONTROL PICTURES: ␀ ... ␟ (ESC -> ␛)
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def safe_text(text: str) -> str:
    """``text`` with every control, bidi-override and lone-surrogate character shown visibly."""
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_picture, text)


def one_line(text: str, limit: int) -> str:
    """A short single-line label (a tool title): newlines shown as ``⏎``, at most ``limit`` characters."""
    text = text[: limit + 1]
    text = safe_text(text.replace("\r\n", "\n").replace("\n", "\u23ce"))
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def omitted_note(lines: int, chars: int) -> str:
    """The line that stands for what was left out."""
    if lines:
        return f"[… {lines:,} line{'s' if lines != 1 else ''} ({chars:,} characters) omitted …]"
    return f"[… {chars:,} characters of one line omitted …]"


@dataclass
class Clipped:
    """What a front end shows: ``text`` (safe), plus what was left out of the middle."""

    text: str
    omitted_lines: int
    omitted_chars: int
    total_chars: int
    total_lines: int


class HeadTail:
    """Streamed text kept as a bounded head and a bounded ring tail, with exact counts of the rest."""

    def __init__(self, head_chars: int, tail_chars: int) -> None:
        self.head_chars = max(0, head_chars)
        self.tail_chars = max(0, tail_chars)
        self.head = ""
        self.tail = ""
        self.total_chars = 0
        self.total_newlines = 0
        self.dropped = 0  # characters that fell out of the tail ring

    def add(self, text: str) -> None:
        if not text:
            return
        self.total_chars += len(text)
        self.total_newlines += text.count("\n")
        room = self.head_chars - len(self.head)
        if room > 0:
            self.head += text[:room]
            text = text[room:]
            if not text:
                return
        cap = self.tail_chars
        if len(text) >= cap:
            self.dropped += len(self.tail) + len(text) - cap
            self.tail = text[len(text) - cap:] if cap else ""
        else:
            keep = cap - len(text)
            if len(self.tail) > keep:
                self.dropped += len(self.tail) - keep
                self.tail = self.tail[len(self.tail) - keep:]
            self.tail += text

    @property
    def total_lines(self) -> int:
        """Lines seen: newlines, plus one for a last line without one."""
        if not self.total_chars:
            return 0
        last = self.tail or self.head
        return self.total_newlines + (0 if last.endswith("\n") else 1)

    def __len__(self) -> int:
        return self.total_chars

    def clip(self, head_lines: int | None = None, tail_lines: int | None = None) -> Clipped:
        """Head, an omitted-count line, tail; each end also limited to ``head_lines``/``tail_lines`` lines."""
        if self.dropped == 0:
            return _clip_whole(self.head + self.tail, head_lines, tail_lines, self.total_lines)
        shown_head = _first_lines(self.head, head_lines)
        shown_tail = _last_lines(self.tail, tail_lines)
        return _assemble(shown_head, shown_tail, self.total_chars, self.total_newlines, self.total_lines)


def _first_lines(text: str, n: int | None) -> str:
    if n is None:
        return text
    end = -1
    for _ in range(n):
        end = text.find("\n", end + 1)
        if end < 0:
            return text
    return text[: end + 1]


def _last_lines(text: str, n: int | None) -> str:
    if n is None:
        return text
    body = text[:-1] if text.endswith("\n") else text
    start = len(body)
    for _ in range(n):
        start = body.rfind("\n", 0, start)
        if start < 0:
            return text
    return text[start + 1:]


def _clip_whole(text: str, head_lines: int | None, tail_lines: int | None, total_lines: int) -> Clipped:
    newlines = text.count("\n")
    if head_lines is None or tail_lines is None or total_lines <= head_lines + tail_lines:
        return Clipped(safe_text(text), 0, 0, len(text), total_lines)
    head = _first_lines(text, head_lines)
    tail = _last_lines(text[len(head):], tail_lines)
    return _assemble(head, tail, len(text), newlines, total_lines)


def _assemble(head: str, tail: str, total_chars: int, total_newlines: int, total_lines: int) -> Clipped:
    chars = total_chars - len(head) - len(tail)
    if chars <= 0:
        return Clipped(safe_text(head + tail), 0, 0, total_chars, total_lines)
    lines = total_newlines - head.count("\n") - tail.count("\n")
    sep = "" if not head or head.endswith("\n") else "\n"
    text = f"{safe_text(head)}{sep}{omitted_note(lines, chars)}\n{safe_text(tail)}"
    return Clipped(text, lines, chars, total_chars, total_lines)


def clip_text(text: str, head_chars: int, tail_chars: int, head_lines: int | None = None,
              tail_lines: int | None = None) -> Clipped:
    """``HeadTail.clip`` for one complete string (a finished tool's result)."""
    buf = HeadTail(head_chars, tail_chars)
    buf.add(text)
    return buf.clip(head_lines, tail_lines)


__all__ = ["Clipped", "HeadTail", "clip_text", "omitted_note", "one_line", "safe_text"]
