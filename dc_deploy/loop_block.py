"""The one managed block appended to ``<target>/loop.py`` (the only upstream file we touch).

``add_block(original)`` is ``original + b"\\n" + BLOCK``; ``remove_block`` undoes exactly that, so the
original bytes come back. Re-adding is idempotent: a present, identical block is left alone; a
present but altered block is replaced in place.
"""

from __future__ import annotations

from dc_impl.contract import LOOP_BLOCK, LOOP_BLOCK_BEGIN, LOOP_BLOCK_END

BEGIN = LOOP_BLOCK_BEGIN.encode()
END = LOOP_BLOCK_END.encode()
BLOCK = LOOP_BLOCK.encode()  # the text lives in dc_impl/contract.py (the verifier reads it there too)


class BlockError(ValueError):
    """The file has a begin marker without an end marker (or the reverse)."""


def _span(content: bytes) -> tuple[int, int] | None:
    """Byte span of the managed block including the one separating newline before it."""
    start = content.find(BEGIN)
    if start == -1:
        if END in content:
            raise BlockError("loop.py has the end marker of the managed block but not its begin marker")
        return None
    if start != 0 and content[start - 1:start] != b"\n":
        raise BlockError("loop.py: the managed block's begin marker is not at the start of a line")
    end = content.find(END, start)
    if end == -1:
        raise BlockError("loop.py has the begin marker of the managed block but not its end marker")
    sep = 1 if start > 0 else 0
    return start - sep, end + len(END)


def has_block(content: bytes) -> bool:
    return _span(content) is not None


def remove_block(content: bytes) -> bytes:
    span = _span(content)
    if span is None:
        return content
    return content[:span[0]] + content[span[1]:]


def add_block(content: bytes) -> bytes:
    span = _span(content)
    if span is not None:
        if content[span[0]:span[1]] in (b"\n" + BLOCK, BLOCK):
            return content
        return content[:span[0]] + b"\n" + BLOCK + content[span[1]:]
    return content + b"\n" + BLOCK
