"""Pure text operations of the streaming file tool: rendering, matching, splicing.

Everything here works on the file's *raw* text (BOM removed, line endings untouched), so an edit
changes only the span it replaces. Rendering follows upstream ``edit.py`` exactly: clip the content
first (``<response clipped>`` note), expand tabs in the *displayed* text, number lines ``cat -n``
style (``%6d\\t``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRUNCATED_MESSAGE = (
    "<response clipped><NOTE>To save on context only part of this file has been shown to you. "
    "You should retry this tool after you have searched inside the file with `grep -n` in order to "
    "find the line numbers of what you are looking for.</NOTE>"
)
MAX_RESPONSE_LEN = 16000
SNIPPET_LINES = 4
TAB_SIZE = 8
BLOCK = 1 << 20


def maybe_truncate(content: str, truncate_after: int | None = MAX_RESPONSE_LEN) -> str:
    """Upstream's head-only clip: the first ``truncate_after`` characters plus the note."""
    if not truncate_after or len(content) <= truncate_after:
        return content
    return content[:truncate_after] + TRUNCATED_MESSAGE


def make_output(
    content: str, descriptor: str, init_line: int = 1, truncate_after: int | None = MAX_RESPONSE_LEN
) -> str:
    """``cat -n`` rendering, word for word upstream's ``_make_output``."""
    content = maybe_truncate(content, truncate_after).expandtabs()
    numbered = "\n".join(f"{i + init_line:6}\t{line}" for i, line in enumerate(content.split("\n")))
    return f"Here's the result of running `cat -n` on {descriptor}:\n" + numbered + "\n"


def nth_newline_end(text: str, k: int) -> int:
    """Offset just after the ``k``-th ``\n`` of ``text`` (0 for k == 0); len(text) if there are fewer.

    Counts newlines block by block (``str.count`` runs at C speed), then bisects inside the block
    holding the wanted one: linear in the offset, with no Python loop over lines.
    """
    if k <= 0:
        return 0
    pos, size = 0, len(text)
    while pos < size:
        end = min(pos + BLOCK, size)
        count = text.count("\n", pos, end)
        if count >= k:
            lo, hi = pos + 1, end
            while lo < hi:
                mid = (lo + hi) // 2
                if text.count("\n", pos, mid) >= k:
                    hi = mid
                else:
                    lo = mid + 1
            return lo
        k -= count
        pos = end
    return size


def lines_around(text: str, offset: int, before: int, after: int) -> tuple[int, str]:
    """The line holding ``offset`` with ``before`` lines above and ``after`` lines below it.

    Returns the 0-based number of the first line and the lines joined with ``\n`` -- the same as
    slicing ``text.split('\n')`` -- without splitting the whole text.
    """
    line_no = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    back = 0
    while back < before and start > 0:
        start = text.rfind("\n", 0, start - 1) + 1
        back += 1
    end = start
    for _ in range(back + after + 1):
        nl = text.find("\n", end)
        if nl == -1:
            end = len(text)
            break
        end = nl + 1
    else:
        end -= 1
        if end > start and text[end - 1] == "\r":
            end -= 1
    return line_no - back, to_display(text[start:end])


def to_display(text: str) -> str:
    """What the model sees of raw text: CRLF shown as LF (upstream reads with universal newlines)."""
    return text.replace("\r\n", "\n") if "\r" in text else text


def eol_of(raw: str) -> str:
    """The file's own line ending: CRLF when most of its line breaks are CRLF, else LF."""
    crlf = raw.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= raw.count("\n") else "\n"


def with_eol(text: str, eol: str) -> str:
    """``text`` (written by the model with LF or CRLF) using the file's line ending."""
    text = text.replace("\r\n", "\n")
    return text.replace("\n", eol) if eol != "\n" else text


@dataclass(frozen=True)
class Match:
    """A unique occurrence: replace raw[start:end] with prefix + new text + suffix."""

    start: int
    end: int
    prefix: str = ""
    suffix: str = ""


class MatchError(Exception):
    """No unique occurrence; ``lines`` lists the starting lines when there are several."""

    def __init__(self, count: int, lines: list[int]) -> None:
        super().__init__(count)
        self.count = count
        self.lines = lines


def _pattern(needle: str, haystack: str) -> re.Pattern[str] | None:
    """A regex letting each LF of ``needle`` match LF or CRLF, or None when a plain search will do."""
    if "\n" not in needle or "\r\n" not in haystack:
        return None
    return re.compile("\r?\n".join(re.escape(part) for part in needle.split("\n")))


def _spans(needle: str, haystack: str) -> list[tuple[int, int]]:
    """Non-overlapping occurrences, leftmost first (``str.count`` semantics); at most a few kept exact."""
    pattern = _pattern(needle, haystack)
    if pattern is not None:
        return [m.span() for m in pattern.finditer(haystack)]
    spans: list[tuple[int, int]] = []
    pos = haystack.find(needle)
    while pos != -1:
        spans.append((pos, pos + len(needle)))
        pos = haystack.find(needle, pos + len(needle))
    return spans


def _start_lines(haystack: str, spans: list[tuple[int, int]]) -> list[int]:
    lines: list[int] = []
    line, last = 1, 0
    for start, _ in spans:
        line += haystack.count("\n", last, start)
        last = start
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def find_unique(raw: str, old: str) -> Match:
    """Locate ``old`` (written with LF or CRLF) exactly once in ``raw``.

    An LF in ``old`` also matches a CRLF in the file. Without tabs this is a plain exact search.
    With tabs in the file or in ``old`` the uniqueness decision is upstream's -- both sides
    compared tab-expanded, which is also what ``view`` showed the model -- and the hit is mapped
    back onto the raw text, so tabs outside the replaced span stay tabs. When that one expanded hit
    starts where a unique literal (tabs as tabs) hit starts, the literal span is used: ``old``
    expanded from column 0 can end inside a tab that sits at another column in the file, and
    mapping it back would leave the rest of that tab behind as spaces. Only when the expanded
    comparison finds nothing is a literal unique hit accepted on its own.
    ``MatchError`` carries the count and the starting lines otherwise.
    """
    old = old.replace("\r\n", "\n")
    if old == "":
        if raw == "":
            return Match(0, 0)
        raise MatchError(len(raw) + 1, list(range(1, raw.count("\n") + 2)))
    if "\t" not in raw and "\t" not in old:
        spans = _spans(old, raw)
        if len(spans) == 1:
            return Match(*spans[0])
        raise MatchError(len(spans), _start_lines(raw, spans))
    expanded = raw.expandtabs(TAB_SIZE)
    spans = _spans(old.expandtabs(TAB_SIZE), expanded)
    literal = _spans(old, raw) if "\t" in old else []
    if len(spans) == 1:
        if len(literal) == 1 and len(raw[: literal[0][0]].expandtabs(TAB_SIZE)) == spans[0][0]:
            return Match(*literal[0])
        return _map_expanded(raw, expanded, *spans[0])
    if spans:
        raise MatchError(len(spans), _start_lines(expanded, spans))
    literal = literal or _spans(old, raw)
    if len(literal) == 1:
        return Match(*literal[0])
    raise MatchError(len(literal), _start_lines(raw, literal))


def _map_expanded(raw: str, expanded: str, start: int, end: int) -> Match:
    """Map a span of ``raw.expandtabs()`` back onto ``raw``; a span edge inside a tab takes the whole
    tab and keeps the spaces of its outside part, which is exactly what upstream would have written."""
    line_no = expanded.count("\n", 0, start)
    raw_line = nth_newline_end(raw, line_no)
    exp_line = expanded.rfind("\n", 0, start) + 1
    raw_start, head = _column_to_raw(raw, raw_line, start - exp_line, True)
    more_lines = expanded.count("\n", start, end)
    if more_lines:
        raw_line = nth_newline_end(raw, line_no + more_lines)
        exp_line = expanded.rfind("\n", 0, end) + 1
    raw_end, tail = _column_to_raw(raw, raw_line, end - exp_line, False)
    return Match(raw_start, raw_end, prefix=head, suffix=tail)


def _column_to_raw(raw: str, line_start: int, column: int, is_start: bool) -> tuple[int, str]:
    """Raw offset of expanded ``column`` in the line at ``line_start``, plus the spaces to keep when
    the column falls inside a tab (before it for a start edge, after it for an end edge)."""
    col, i = 0, line_start
    while col < column and i < len(raw):
        ch = raw[i]
        width = TAB_SIZE - col % TAB_SIZE if ch == "\t" else 1
        if ch == "\r":
            col, width = 0, 0
        if col + width > column:  # the column is inside this tab
            if is_start:
                return i, " " * (column - col)
            return i + 1, " " * (col + width - column)
        col += width
        i += 1
    return i, ""


def splice(raw: str, match: Match, new: str, eol: str) -> str:
    return raw[: match.start] + match.prefix + with_eol(new, eol) + match.suffix + raw[match.end :]


@dataclass(frozen=True)
class Insertion:
    text: str          # the new raw text
    line_offset: int   # where the first inserted line starts in ``text``
    line: int          # the (clamped) insert_line actually used
    n_new_lines: int   # lines the inserted text occupies


def upstream_line_count(raw: str) -> int:
    """Upstream's ``len(content.split('\\n'))``: a trailing newline counts one extra empty line."""
    return raw.count("\n") + 1


def insert_after(raw: str, insert_line: int, new: str, eol: str) -> Insertion:
    """Insert ``new`` after line ``insert_line`` keeping the file's trailing-newline state.

    ``insert_line`` is in ``[0, upstream_line_count]``. Upstream's extra "line" after a final newline
    is the end of the file, so inserting there appends (upstream would leave ``...\\n\\nNEW`` without
    a final newline). Text ending in a newline is inserted as is; otherwise one line ending is added
    before following content (or, at the end of a file without a final newline, before the new text).
    """
    body = with_eol(new.replace("\r\n", "\n"), eol)
    real_lines = raw.count("\n") + (0 if raw == "" or raw.endswith("\n") else 1)
    line = min(insert_line, real_lines)
    n_new = new.replace("\r\n", "\n").count("\n") + (0 if new.endswith("\n") else 1)
    lead = ""
    if line == 0:
        offset = 0
    elif line > raw.count("\n"):  # after the last line, which has no line ending
        offset = len(raw)
        lead = eol
    else:
        offset = nth_newline_end(raw, line)
    if not lead and not body.endswith("\n"):
        body += eol
    return Insertion(raw[:offset] + lead + body + raw[offset:], offset + len(lead), line, n_new)
