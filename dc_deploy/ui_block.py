"""The one managed block in upstream's ``<target>/streamlit.py``: the UI hook (``--update-ui``).

Upstream's image starts the UI with ``python -m streamlit run computer_use_demo/streamlit.py``; the
block makes that same command serve ``dc_impl``'s streaming page while ``use_unified_streaming`` is
on (``dc_impl/ui_hook.py`` decides, per page run). It must run before upstream's page is drawn, so it
is inserted near the top: after the module docstring and any ``from __future__`` imports (which
Python requires first), after a shebang / encoding line when there is neither, and never before a
UTF-8 byte-order mark. Nothing else in the file changes.

``add_block(original)`` inserts ``<newline> + BLOCK`` at that point (just ``BLOCK`` at the very start
of the file), written with the file's own line ending (LF, CRLF or CR); ``remove_block`` takes
exactly those bytes out again, so the original comes back byte for byte. Re-adding is idempotent: a
present, identical block is left alone wherever it is; a present but altered block is replaced in
place. See docs/ui.md.
"""

from __future__ import annotations

import ast
import re

from dc_impl import contract

from .manifest import UI_FILE

BEGIN_TEXT = contract.UI_BLOCK_BEGIN.encode()
END_TEXT = contract.UI_BLOCK_END.encode()
BODY = tuple(line.encode() for line in contract.UI_BLOCK_BODY)
NEWLINES = (b"\r\n", b"\n", b"\r")
BOM = b"\xef\xbb\xbf"
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")


def render(newline: bytes = b"\n") -> bytes:
    """The block, each line ended by ``newline``."""
    return b"".join(line + newline for line in (BEGIN_TEXT, *BODY, END_TEXT))


BLOCK = render()


class BlockError(ValueError):
    """The managed block's markers are damaged, or the file cannot be parsed to place the block."""


def _line_end(content: bytes, pos: int) -> tuple[int, bytes]:
    """Offset of the end of the line starting at ``pos`` (before its terminator) and that terminator."""
    nl = content.find(b"\n", pos)
    cr = content.find(b"\r", pos)
    ends = [i for i in (nl, cr) if i != -1]
    if not ends:
        return len(content), b""
    end = min(ends)
    if content[end:end + 2] == b"\r\n":
        return end, b"\r\n"
    return end, content[end:end + 1]


def _at_line_start(content: bytes, pos: int) -> bool:
    return pos == 0 or content[pos - 1:pos] in (b"\n", b"\r") or (pos == len(BOM) and content.startswith(BOM))


def _find_line(content: bytes, text: bytes, start: int = 0) -> int:
    """Offset of the first line at or after ``start`` that is exactly ``text`` (plus its terminator)."""
    pos = content.find(text, start)
    while pos != -1:
        end, _ = _line_end(content, pos)
        if _at_line_start(content, pos) and end == pos + len(text):
            return pos
        pos = content.find(text, pos + 1)
    return -1


def _span(content: bytes) -> tuple[int, int, bytes] | None:
    """``(start, end, newline)`` of the managed block, including the one separating newline before it."""
    begin = _find_line(content, BEGIN_TEXT)
    if begin == -1:
        if _find_line(content, END_TEXT) != -1:
            raise BlockError(f"{UI_FILE} has the end marker of the managed block but not its begin marker")
        if BEGIN_TEXT in content:
            raise BlockError(f"{UI_FILE}: the managed block's begin marker is not a line of its own")
        return None
    _, newline = _line_end(content, begin)
    end = _find_line(content, END_TEXT, begin)
    if end == -1:
        raise BlockError(f"{UI_FILE} has the begin marker of the managed block but not its end marker")
    stop, term = _line_end(content, end)
    stop += len(term)
    start = begin
    if newline and begin >= len(newline) and content[begin - len(newline):begin] == newline \
            and not (begin == len(BOM) and content.startswith(BOM)):
        start = begin - len(newline)
    return start, stop, newline or b"\n"


def has_block(content: bytes) -> bool:
    return _span(content) is not None


def remove_block(content: bytes) -> bytes:
    span = _span(content)
    if span is None:
        return content
    return content[:span[0]] + content[span[1]:]


def file_newline(content: bytes, pos: int) -> bytes:
    """The line ending to write at ``pos``: that of the line before it, else the file's first one, else LF."""
    if content[:pos].endswith(b"\r\n"):
        return b"\r\n"
    if content[:pos].endswith((b"\n", b"\r")):
        return content[pos - 1:pos]
    _, term = _line_end(content, 0)
    return term or b"\n"


def _line_offsets(content: bytes) -> list[int]:
    """Offset just past each line (Python's universal newlines: LF, CRLF, CR)."""
    offsets: list[int] = []
    pos = 0
    while pos < len(content):
        end, term = _line_end(content, pos)
        pos = end + len(term)
        offsets.append(pos)
    return offsets


def insertion_point(content: bytes) -> int:
    """Where the block goes: after the docstring and ``__future__`` imports, a shebang / coding line, a BOM."""
    try:
        tree = ast.parse(content, filename=UI_FILE)
    except (SyntaxError, ValueError) as exc:
        raise BlockError(f"{UI_FILE} does not parse as Python ({exc}); the UI hook cannot be placed in it") from exc
    header_lines = 0
    for index, node in enumerate(tree.body):
        is_doc = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
            and isinstance(node.value.value, str)
        is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (is_doc or is_future):
            break
        header_lines = node.end_lineno or node.lineno
    offsets = _line_offsets(content)
    lines = content.splitlines()
    for index in range(min(2, len(lines))):
        line = lines[index].removeprefix(BOM) if index == 0 else lines[index]
        if (index == 0 and line.startswith(b"#!")) or _CODING.match(line):
            header_lines = max(header_lines, index + 1)
        elif index == 0 and line.strip() and not line.strip().startswith(b"#"):
            break  # a coding cookie counts on line 2 only below a comment or blank line
    if header_lines == 0:
        return len(BOM) if content.startswith(BOM) else 0
    return offsets[header_lines - 1] if header_lines <= len(offsets) else len(content)


def add_block(content: bytes) -> bytes:
    span = _span(content)
    if span is not None:
        start, stop, newline = span
        sep = newline if content[start:start + len(BEGIN_TEXT)] != BEGIN_TEXT else b""
        wanted = sep + render(newline)
        if content[start:stop] == wanted:
            return content
        return content[:start] + wanted + content[stop:]
    pos = insertion_point(content)
    newline = file_newline(content, pos)
    at_start = pos == 0 or (pos == len(BOM) and content.startswith(BOM))
    return content[:pos] + (b"" if at_start else newline) + render(newline) + content[pos:]


__all__ = ["BEGIN_TEXT", "BLOCK", "END_TEXT", "UI_FILE", "BlockError", "add_block", "has_block", "insertion_point",
           "remove_block", "render"]
