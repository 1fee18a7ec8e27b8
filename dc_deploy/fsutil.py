"""THE atomic file helpers: every write into a target tree or a backup goes through here.

Protocol (docs/reliability.md, docs/architecture.md): temp file in the destination's directory, write,
fsync, chmod to the wanted mode, ``os.replace``, fsync the directory. Temp names start with a dot
and contain ``.dc-tmp-`` so they are never importable and recovery can sweep them.
If fsync fails the error propagates: we never retry an fsync.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

TEMP_MARK = ".dc-tmp-"
CHUNK = 1 << 20
NAME_MAX = 255  # bytes per path component (Linux)
PATH_MAX = 4096  # bytes per path, the terminating NUL included (Linux)
# A temp file is named ".<name>.dc-tmp-<pid>-<8 hex>": a deployed name must leave room for that suffix.
TEMP_OVERHEAD = len("." + TEMP_MARK + "-") + 7 + 8  # pid_max is at most 4194304 (7 digits)


class HashMismatch(ValueError):
    def __init__(self, path: Path, expected: str, actual: str) -> None:
        super().__init__(f"{path}: sha256 {actual} != expected {expected}")
        self.path, self.expected, self.actual = path, expected, actual


@dataclass(frozen=True)
class FileState:
    """What is at a path: ``type`` is ``file``, ``symlink``, ``dir``, ``other`` or ``absent``."""

    type: str
    sha256: str | None = None
    mode: int | None = None
    size: int | None = None
    link: str | None = None

    @property
    def exists(self) -> bool:
        return self.type != "absent"

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> FileState:
        # a backup's record, validated by backup_records before it gets here: the values have these fields' types
        return cls(**{k: d.get(k) for k in ("type", "sha256", "mode", "size", "link")})  # type: ignore[arg-type]

    def same_content(self, other: FileState) -> bool:
        return (self.type, self.sha256, self.link) == (other.type, other.sha256, other.link)

    def same(self, other: FileState) -> bool:
        return self.same_content(other) and (self.type != "file" or self.mode == other.mode)


ABSENT = FileState("absent")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_state(path: Path, *, with_hash: bool = True) -> FileState:
    """lstat-based state of ``path`` (a symlink is reported as such, never followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ABSENT
    except NotADirectoryError:
        return ABSENT
    if stat.S_ISLNK(st.st_mode):
        return FileState("symlink", link=os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return FileState("dir", mode=stat.S_IMODE(st.st_mode))
    if not stat.S_ISREG(st.st_mode):
        return FileState("other", mode=stat.S_IMODE(st.st_mode))
    digest = sha256_file(path) if with_hash else None
    return FileState("file", sha256=digest, mode=stat.S_IMODE(st.st_mode), size=st.st_size)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_path(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def _temp_file(dst: Path) -> Iterator[tuple[int, Path]]:
    tmp = _temp_path(dst)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        yield fd, tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _commit_temp(fd: int, tmp: Path, dst: Path, mode: int, before_replace: Callable[[], None] | None) -> None:
    os.fchmod(fd, mode)
    os.fsync(fd)
    os.close(fd)
    if before_replace is not None:
        before_replace()
    os.replace(tmp, dst)
    fsync_dir(dst.parent)


def atomic_write_bytes(
    dst: Path,
    data: bytes,
    *,
    mode: int | None = None,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Replace ``dst`` with ``data`` atomically. ``mode=None`` keeps the current file's mode (0o644 if new)."""
    if mode is None:
        st = file_state(dst, with_hash=False)
        mode = st.mode if st.type == "file" and st.mode is not None else 0o644
    with _temp_file(dst) as (fd, tmp):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        _commit_temp(fd, tmp, dst, mode, before_replace)


def atomic_copy(
    src: Path,
    dst: Path,
    *,
    mode: int,
    expect_sha256: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
    before_replace: Callable[[], None] | None = None,
) -> str:
    """Copy ``src`` over ``dst`` atomically, hashing on the way; refuse (``HashMismatch``) before replacing."""
    h = hashlib.sha256()
    with _temp_file(dst) as (fd, tmp), open(src, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            if on_bytes is not None:
                on_bytes(len(chunk))
        digest = h.hexdigest()
        if expect_sha256 is not None and digest != expect_sha256:
            raise HashMismatch(src, expect_sha256, digest)
        _commit_temp(fd, tmp, dst, mode, before_replace)
    return digest


def atomic_symlink(link: str, dst: Path, *, before_replace: Callable[[], None] | None = None) -> None:
    tmp = _temp_path(dst)
    os.symlink(link, tmp)
    try:
        if before_replace is not None:
            before_replace()
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(dst.parent)


def remove_path(path: Path) -> bool:
    """Unlink a file or symlink durably; ``False`` when it was already gone."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


def make_dirs(path: Path, root: Path) -> list[Path]:
    """Create ``path`` and missing parents below ``root``; return the ones created, outermost first."""
    missing: list[Path] = []
    cur = path
    while cur != root and not os.path.lexists(cur):
        missing.append(cur)
        cur = cur.parent
    created: list[Path] = []
    for d in reversed(missing):
        os.mkdir(d, 0o755)
        fsync_dir(d.parent)
        created.append(d)
    return created


def sweep_temps(directory: Path) -> list[Path]:
    """Remove temp files this module left in ``directory`` (after a crash)."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if entry.name.startswith(".") and TEMP_MARK in entry.name:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    if removed:
        fsync_dir(directory)
    return removed
