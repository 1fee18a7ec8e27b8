"""Streamed ``view``: memory bounded, reads no further than it must.

Lines are located by counting ``\\n`` in 1 MiB binary chunks (C speed, nothing decoded) until the
first requested line; from there the range is decoded incrementally and only up to the display cap
(+1 character, to know whether to clip). The range end is still found by counting, because upstream
reports a range past the end of the file as an error naming the line count, and we keep that message.

Line numbering is upstream's: lines are what ``content.split('\\n')`` yields after universal-newline
reading, so a file ending in a newline has one extra, empty, last line, and CRLF counts as one break.
(A lone CR is shown as is rather than as a line break.) A UTF-8 BOM is not shown.

A sparse checkpoint index per file version (newline count at each chunk boundary) makes the next
view of the same big file start near its first line instead of at byte 0. It is kept only for files
last modified more than a few seconds before the scan (as git does for racy timestamps), so a file
rewritten within one timestamp tick can never be served a stale index.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import threading
import time
from bisect import bisect_left
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

from .io import (
    BINARY_SNIFF,
    BOM,
    CHUNK,
    Progress,
    ProgressCallback,
    binary_error,
    decode_error,
    ensure_regular,
    read_error,
    sniff,
)

DECODE_PIECE = 1 << 16
INDEX_FILES = 32
RACY_SECONDS = 3.0


class RangeError(Exception):
    """``view_range`` outside the file: ``which`` is "start", "end" or "order"; ``n`` upstream's line count."""

    def __init__(self, which: str, n: int) -> None:
        super().__init__(which, n)
        self.which = which
        self.n = n


def after_nth_newline(buf: bytes, k: int) -> int:
    """Offset just after the ``k``-th newline of ``buf`` (which has at least ``k``)."""
    if k <= 0:
        return 0
    lo, hi = 1, len(buf)
    while lo < hi:
        mid = (lo + hi) // 2
        if buf.count(b"\n", 0, mid) >= k:
            hi = mid
        else:
            lo = mid + 1
    return lo


class LineIndex:
    """Checkpoints ``(offset, newlines before offset)``, plus the total once a scan reached EOF."""

    def __init__(self) -> None:
        self.offsets: list[int] = [0]
        self.counts: list[int] = [0]
        self.total: int | None = None

    def add(self, offset: int, newlines: int) -> None:
        with _INDEXES_LOCK:
            i = bisect_left(self.offsets, offset)
            if i == len(self.offsets) or self.offsets[i] != offset:
                self.offsets.insert(i, offset)
                self.counts.insert(i, newlines)

    def best(self, need: int) -> tuple[int, int]:
        """The furthest checkpoint with fewer than ``need`` newlines before it (line ``need+1`` starts after it)."""
        i = max(bisect_left(self.counts, need) - 1, 0)
        return self.offsets[i], self.counts[i]


_INDEXES: OrderedDict[tuple[int, ...], LineIndex] = OrderedDict()
_INDEXES_LOCK = threading.Lock()  # tools may run on several event loops in several threads


def _index_for(st: os.stat_result) -> tuple[LineIndex, bool]:
    """The index of this file version and whether it may be kept (timestamp not racy)."""
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    keep = time.time() - max(st.st_mtime, st.st_ctime) > RACY_SECONDS
    if not keep:
        return LineIndex(), False
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = _INDEXES[key] = LineIndex()
            while len(_INDEXES) > INDEX_FILES:
                _INDEXES.popitem(last=False)
        else:
            _INDEXES.move_to_end(key)
    return index, True


class _Collector:
    """Strict incremental UTF-8 decode of the viewed range, CRLF shown as LF, stops past ``cap``."""

    def __init__(self, cap: int, path: Path, strip_bom: bool) -> None:
        self.cap = cap
        self.path = path
        self.strip_bom = strip_bom
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.parts: list[str] = []
        self.chars = 0
        self.held_cr = False

    def wants(self) -> bool:
        return self.chars <= self.cap

    def feed(self, data: bytes, offset: int) -> None:
        if self.strip_bom:
            self.strip_bom = False
            if data.startswith(BOM):
                data, offset = data[len(BOM):], offset + len(BOM)
        for i in range(0, len(data), DECODE_PIECE):
            if not self.wants():
                return
            self._decode(data[i : i + DECODE_PIECE], offset + i, final=False)

    def _decode(self, piece: bytes, offset: int, final: bool) -> None:
        nul = piece.find(b"\x00")
        if nul != -1:
            raise binary_error(offset + nul, self.path)
        pending = len(self.decoder.getstate()[0])
        try:
            text = self.decoder.decode(piece, final)
        except UnicodeDecodeError as exc:
            raise decode_error(exc, offset - pending, self.path) from None
        if self.held_cr:
            text = "\r" + text
            self.held_cr = False
        if text.endswith("\r") and not final:
            self.held_cr, text = True, text[:-1]
        if "\r\n" in text:
            text = text.replace("\r\n", "\n")
        self.parts.append(text)
        self.chars += len(text)

    def finish(self, offset: int, cut_at_newline: bool) -> str:
        """The collected text (at most ``cap + 1`` characters)."""
        if self.wants():
            self._decode(b"", offset, final=True)
            if self.held_cr and not cut_at_newline:
                self.parts.append("\r")
        return "".join(self.parts)[: self.cap + 1]


class _Chunks:
    """Sequential 1 MiB reads with progress reports and a yield to the event loop after each."""

    def __init__(self, fh: BinaryIO, offset: int, progress: Progress) -> None:
        self.fh = fh
        self.pos = offset
        self.progress = progress
        fh.seek(offset)

    async def next(self) -> tuple[bytes, int]:
        at = self.pos
        chunk = self.fh.read(CHUNK)
        self.pos += len(chunk)
        await self.progress.report(self.pos)
        await asyncio.sleep(0)
        return chunk, at


async def view_window(
    real: str, path: Path, start: int, end: int, cap: int, on_progress: ProgressCallback | None
) -> str:
    """The display text of lines ``start..end`` (``end == -1``: to the end), at most ``cap + 1`` chars.

    Raises ``RangeError`` for a range outside the file, in upstream's order of checks.
    """
    st = ensure_regular(real, path)
    try:
        with open(real, "rb", buffering=0) as fh:
            sniff(os.pread(fh.fileno(), BINARY_SNIFF, 0), path)
            index, keep = _index_for(os.fstat(fh.fileno()))
            progress = Progress(on_progress, st.st_size)
            text = await _scan(fh, path, start, end, cap, index, keep, progress)
    except OSError as exc:
        raise read_error(exc, path) from None
    await progress.finish()
    return text


async def _count_all(fh: BinaryIO, index: LineIndex, keep: bool, progress: Progress) -> int:
    if index.total is None:
        offset, newlines = index.offsets[-1], index.counts[-1]
        chunks = _Chunks(fh, offset, progress)
        while True:
            chunk, at = await chunks.next()
            if not chunk:
                break
            newlines += chunk.count(b"\n")
            if keep:
                index.add(at + len(chunk), newlines)
        index.total = newlines
    return index.total + 1


async def _scan(
    fh: BinaryIO, path: Path, start: int, end: int, cap: int, index: LineIndex, keep: bool, progress: Progress
) -> str:
    if start < 1:
        raise RangeError("start", await _count_all(fh, index, keep, progress))
    need = start - 1
    if index.total is not None and index.total < need:
        raise RangeError("start", index.total + 1)
    offset, newlines = index.best(need)
    chunks = _Chunks(fh, offset, progress)
    seg, seg_at = b"", offset
    while newlines < need:  # phase 1: count our way to the first line, decoding nothing
        chunk, at = await chunks.next()
        if not chunk:
            index.total = newlines
            raise RangeError("start", newlines + 1)
        count = chunk.count(b"\n")
        if newlines + count >= need:
            cut = after_nth_newline(chunk, need - newlines)
            seg, seg_at, newlines = chunk[cut:], at + cut, need
            break
        newlines += count
        if keep:
            index.add(at + len(chunk), newlines)
    if end != -1 and end < start:
        raise RangeError("order", 0)

    # phase 2: decode the range up to the cap; keep counting to the range end (or stop at the cap)
    collector = _Collector(cap, path, strip_bom=seg_at == 0)
    wanted = None if end == -1 else end - start + 1  # the range ends before its wanted-th newline
    region_newlines = 0
    cut_at_newline = False
    while True:
        if not seg:
            seg, seg_at = await chunks.next()
            if not seg:
                break
        if wanted is not None:
            count = seg.count(b"\n")
            if region_newlines + count >= wanted:
                stop = after_nth_newline(seg, wanted - region_newlines) - 1
                if stop > 0 and seg[stop - 1] == 0x0D:
                    stop -= 1
                if collector.wants():
                    collector.feed(seg[:stop], seg_at)
                cut_at_newline = True
                seg_at += stop
                break
            region_newlines += count
            if keep and seg_at + len(seg) == chunks.pos:
                index.add(chunks.pos, need + region_newlines)
        if collector.wants():
            collector.feed(seg, seg_at)
        elif wanted is None:
            break  # to the end of the file and already past the cap: nothing more to read
        seg_at += len(seg)
        seg = b""
    if wanted is not None and not cut_at_newline:
        index.total = need + region_newlines
        if region_newlines < wanted - 1:
            raise RangeError("end", index.total + 1)
    return collector.finish(seg_at, cut_at_newline)
