"""File-system side of the streaming file tool: reading whole files for edits, atomic writes,
the path policy, the directory listing and error texts.

The streamed, memory-bounded ``view`` lives in ``view``.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import inspect
import logging
import os
import secrets
import stat as stat_mod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._compat import ToolError
from .text import MAX_RESPONSE_LEN, maybe_truncate

LOG = logging.getLogger(__name__)
CHUNK = 1 << 20
BINARY_SNIFF = 8192
BOM = codecs.BOM_UTF8
NOT_TEXT = "The file is not UTF-8 text; this tool only views and edits UTF-8 text files, and left it unchanged."
ProgressCallback = Callable[[int, int], Any]


class Progress:
    """Reports ``(bytes done, bytes total)`` to an optional callback; never lets it break the tool."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self._last = -1

    async def report(self, done: int) -> None:
        done = min(done, self.total)
        if self.callback is None or done <= self._last:
            return
        self._last = done
        try:
            result = self.callback(done, self.total)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a UI callback must not fail the tool call
            LOG.warning("on_progress callback failed; progress reports stopped for this call", exc_info=True)
            self.callback = None

    async def finish(self) -> None:
        await self.report(self.total)


def os_error_text(exc: OSError, path: Path) -> str:
    """``str(exc)`` naming the user's path (not a temp file or a resolved real path)."""
    if exc.errno is not None and exc.strerror:
        return str(OSError(exc.errno, exc.strerror, str(path)))
    return str(exc)


def read_error(exc: BaseException | str, path: Path) -> ToolError:
    text = os_error_text(exc, path) if isinstance(exc, OSError) else str(exc)
    return ToolError(f"Ran into {text} while trying to read {path}")


def write_error(exc: BaseException | str, path: Path) -> ToolError:
    text = os_error_text(exc, path) if isinstance(exc, OSError) else str(exc)
    return ToolError(f"Ran into {text} while trying to write to {path}")


def decode_error(exc: UnicodeDecodeError, offset: int, path: Path) -> ToolError:
    """Upstream's text (``'utf-8' codec can't decode byte 0x89 in position 0: ...``) with the position
    counted in the whole file, plus what the tool did about it."""
    start, end = offset + exc.start, offset + exc.end
    if end - start == 1:
        what = f"byte 0x{exc.object[exc.start]:02x} in position {start}"
    else:
        what = f"bytes in position {start}-{end - 1}"
    return ToolError(f"Ran into 'utf-8' codec can't decode {what}: {exc.reason} while trying to read {path}. {NOT_TEXT}")


def binary_error(offset: int, path: Path) -> ToolError:
    return ToolError(f"Ran into binary content (a NUL byte at position {offset}) while trying to read {path}. {NOT_TEXT}")


# --------------------------------------------------------------------------------------------- paths


def resolve_checked(path: Path, allowed_roots: Sequence[str | os.PathLike[str]] | None) -> str:
    """The real path (symlinks followed) of absolute ``path``; refused when outside ``allowed_roots``."""
    real = os.path.realpath(path)
    if allowed_roots is None:
        return real
    roots = [os.path.realpath(r) for r in allowed_roots]
    for root in roots:
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return real
    listed = ", ".join(roots) if roots else "none configured"
    if real != os.path.abspath(path):
        raise ToolError(
            f"The path {path} resolves to {real}, which is outside the allowed roots ({listed}). "
            "This tool only reads and writes files under those directories."
        )
    raise ToolError(
        f"The path {path} is outside the allowed roots ({listed}). "
        "This tool only reads and writes files under those directories."
    )


def ensure_regular(real: str, path: Path) -> os.stat_result:
    try:
        st = os.stat(real)
    except OSError as exc:
        raise read_error(exc, path) from None
    if not stat_mod.S_ISREG(st.st_mode):
        raise ToolError(f"The path {path} is not a regular file; this tool only views and edits regular files.")
    return st


# ------------------------------------------------------------------------------------ whole-file read


@dataclass
class Document:
    """A text file held for an edit: raw text (BOM stripped, line endings as on disk)."""

    data: bytes
    raw: str
    bom: bool
    st: os.stat_result

    def encode(self, raw: str) -> bytes:
        return (BOM if self.bom else b"") + raw.encode("utf-8")


def sniff(head: bytes, path: Path) -> None:
    """Refuse a file whose first bytes are not UTF-8 (upstream's decode message) or hold a NUL."""
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, False)
    except UnicodeDecodeError as exc:
        raise decode_error(exc, 0, path) from None
    nul = head.find(b"\x00")
    if nul != -1:
        raise binary_error(nul, path)


def decode_document(data: bytes, path: Path, st: os.stat_result) -> Document:
    sniff(data[:BINARY_SNIFF], path)
    bom = data.startswith(BOM)
    body = data[len(BOM):] if bom else data
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise decode_error(exc, len(BOM) if bom else 0, path) from None
    nul = body.find(b"\x00")
    if nul != -1:
        raise binary_error(nul + (len(BOM) if bom else 0), path)
    return Document(data, raw, bom, st)


async def read_document(
    real: str, path: Path, limit: int, on_progress: ProgressCallback | None
) -> Document:
    """Read a file for an edit (at most ``limit`` bytes), in chunks, reporting progress."""
    st = ensure_regular(real, path)
    if st.st_size > limit:
        raise ToolError(
            f"The file {path} is {st.st_size} bytes, over this tool's {limit}-byte limit for edits; it was "
            "not changed. Use `view` with `view_range` to read it and bash tools (e.g. sed) to change it."
        )
    progress = Progress(on_progress, st.st_size)
    parts: list[bytes] = []
    done = 0
    try:
        with open(real, "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            while done <= limit and (chunk := fh.read(CHUNK)):
                parts.append(chunk)
                done += len(chunk)
                await progress.report(done)
                await asyncio.sleep(0)
            settled = _same_file_state(st, os.fstat(fh.fileno())) and done == st.st_size
    except OSError as exc:
        raise read_error(exc, path) from None
    if not settled:
        raise ToolError(
            f"Ran into a concurrent change while trying to read {path}: the file changed while it was "
            "being read, so nothing was done. Try again when it is no longer being written."
        )
    await progress.finish()
    return decode_document(b"".join(parts), path, st)


# -------------------------------------------------------------------------------------- atomic write


def _same_file_state(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_dev, a.st_size, a.st_mtime_ns) == (b.st_ino, b.st_dev, b.st_size, b.st_mtime_ns)


def atomic_write(real: str, data: bytes, path: Path, expect: os.stat_result | None) -> None:
    """Write ``data`` to ``real`` atomically: temp file in the same directory, fsync, ``os.replace``,
    fsync of the directory. An existing file keeps its mode (and owner, when we may set it); a new
    file gets the usual ``0o666 & ~umask``. When ``expect`` is given and the file changed on disk
    since it was read, nothing is written. On any failure the temp file is removed and the target
    is untouched.
    """
    directory, base = os.path.split(real)
    tmp = os.path.join(directory, f".{base[:48]}.{secrets.token_hex(4)}.dc-tmp")  # within NAME_MAX in bytes
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600 if expect else 0o666)
    except OSError as exc:
        raise write_error(exc, path) from None
    try:
        try:
            if expect is not None:
                os.fchmod(fd, stat_mod.S_IMODE(expect.st_mode))
                if (expect.st_uid, expect.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(OSError):
                        os.fchown(fd, expect.st_uid, expect.st_gid)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if expect is not None:
            try:
                now = os.stat(real)
            except FileNotFoundError:
                now = None
            if now is None or not _same_file_state(now, expect):
                raise ToolError(
                    f"Ran into a concurrent change while trying to write to {path}: the file changed on "
                    "disk after it was read, so the edit was not applied. View the file and try again."
                )
        os.replace(tmp, real)
    except ToolError:
        _discard(tmp)
        raise
    except OSError as exc:
        _discard(tmp)
        raise write_error(exc, path) from None
    _fsync_dir(directory)


def _discard(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _fsync_dir(directory: str) -> None:
    """Make the rename durable. The new content is already in place, so a failure here (some file
    systems refuse fsync on directories) is logged rather than reported as a failed edit."""
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        LOG.warning("fsync of directory %s failed; the edit is in place but may not survive a crash", directory)
    finally:
        os.close(dfd)


def remove_file(real: str, path: Path) -> None:
    try:
        os.unlink(real)
    except OSError as exc:
        raise write_error(exc, path) from None
    _fsync_dir(os.path.dirname(real))


# --------------------------------------------------------------------------------- directory listing


async def list_directory(path: Path, timeout: float = 120.0) -> tuple[str, str]:
    """``find PATH -maxdepth 2 -not -path '*/\\.*'`` with the path as an argument (no shell), ``-H`` so
    a symlinked directory is listed, output decoded leniently and clipped like upstream's ``run``."""
    proc = await asyncio.create_subprocess_exec(
        "find", "-H", str(path), "-maxdepth", "2", "-not", "-path", r"*/\.*",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    keep = 4 * (MAX_RESPONSE_LEN + 1)

    async def drain(stream: asyncio.StreamReader) -> bytes:
        kept = bytearray()
        while chunk := await stream.read(65536):
            if len(kept) < keep:
                kept += chunk[: keep - len(kept)]
        return bytes(kept)

    assert proc.stdout is not None and proc.stderr is not None
    try:
        out_b, err_b, _ = await asyncio.wait_for(
            asyncio.gather(drain(proc.stdout), drain(proc.stderr), proc.wait()), timeout
        )
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise ToolError(f"timed out: listing {path} did not finish in {timeout} seconds") from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    stdout = maybe_truncate(out_b.decode("utf-8", "replace"))
    stderr = maybe_truncate(err_b.decode("utf-8", "replace"))
    return stdout, stderr
