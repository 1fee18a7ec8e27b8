"""Tree digest: the reliability oracle (``old`` or ``new``, never anything in between)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .fsutil import sha256_file

DEFAULT_EXCLUDE: frozenset[str] = frozenset({".dc-streaming.lock", "__pycache__"})

Entry = tuple[str, int, int, str]


def tree_digest(root: Path | str, exclude: Iterable[str] = DEFAULT_EXCLUDE) -> dict[str, Entry]:
    """Map each path below ``root`` (posix, relative) to ``(type, mode, size, sha256 | symlink target)``.

    ``exclude`` names (any path component) are skipped entirely. Directories are included with
    an empty content field so empty directories count; symlinks are never followed.
    """
    root = Path(root)
    skip = frozenset(exclude)
    out: dict[str, Entry] = {}
    stack = [root]
    while stack:
        cur = stack.pop()
        with os.scandir(cur) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if e.name in skip:
                continue
            rel = Path(e.path).relative_to(root).as_posix()
            st = e.stat(follow_symlinks=False)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", mode, 0, os.readlink(e.path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode, 0, "")
                stack.append(Path(e.path))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", mode, st.st_size, sha256_file(Path(e.path)))
            else:
                out[rel] = ("other", mode, 0, "")
    return out


def diff(old: dict[str, Entry], new: dict[str, Entry]) -> dict[str, list[str]]:
    """Which paths were added, removed or changed between two digests."""
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(p for p in set(old) & set(new) if old[p] != new[p]),
    }
