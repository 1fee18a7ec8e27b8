"""Checks of the deployed streaming file tool, on real files in a scratch directory.

- ``file_roundtrip``: create / view / str_replace / insert with the tool the default tool version
  uses, and undo with the version that has it; after each step the file's bytes are exactly what
  the edit implies: everything outside the edited span (tabs, CRLF, BOM, missing final newline) and
  the file mode are unchanged;
- ``file_large_view``: viewing a large file returns bounded output (clipped with upstream's note),
  and a ``view_range`` near its end returns exactly those lines.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .child_env import CheckFailed, ChildEnv

ROUNDTRIP_CLASS = "StreamingEditTool20250429"  # tool_version computer_use_20250429
UNDO_CLASS = "StreamingEditTool20250124"
LARGE_LINES = 200_000
VIEW_BOUND_CHARS = 64_000


def file_module(env: ChildEnv) -> Any:
    return env.impl("tools.dc_file")


def _text(result: Any) -> str:
    return str(getattr(result, "output", None) or "")


def _expect_bytes(path: os.PathLike[str], want: bytes, step: str) -> None:
    with open(path, "rb") as fh:
        got = fh.read()
    if got != want:
        raise CheckFailed(f"after {step} the file holds {got[:120]!r}, expected {want[:120]!r}")


async def _call(tool: Any, step: str, **kwargs: Any) -> Any:
    try:
        result = await tool(**kwargs)
    except Exception as exc:
        raise CheckFailed(f"{step} raised {type(exc).__name__}: {getattr(exc, 'message', exc)}") from exc
    if getattr(result, "error", None):
        raise CheckFailed(f"{step} returned an error: {result.error}")
    return result


async def check_file_roundtrip(env: ChildEnv) -> str:
    mod = file_module(env)
    work = env.workdir("file_roundtrip")
    tool = getattr(mod, ROUNDTRIP_CLASS)()
    steps: list[str] = []

    created = work / "created.txt"
    body = "line one\n\tindented two\nline three\nline four"  # tab inside, no final newline
    await _call(tool, "create", command="create", path=str(created), file_text=body)
    _expect_bytes(created, body.encode(), "create")
    view = _text(await _call(tool, "view", command="view", path=str(created)))
    if "     3\tline three" not in view:
        raise CheckFailed(f"view lacks the `cat -n` line '     3\\tline three': {view[:200]!r}")
    await _call(tool, "str_replace", command="str_replace", path=str(created), old_str="line three",
                new_str="LINE 3")
    body = body.replace("line three", "LINE 3")
    _expect_bytes(created, body.encode(), "str_replace")
    await _call(tool, "insert", command="insert", path=str(created), insert_line=1, new_str="inserted")
    lines = body.split("\n")
    body = "\n".join([*lines[:1], "inserted", *lines[1:]])
    _expect_bytes(created, body.encode(), "insert")
    steps.append("create/view/str_replace/insert exact")

    # An existing file with a BOM, CRLF line ends, a tab, no final newline and mode 0640.
    existing = work / "existing.txt"
    raw = b"\xef\xbb\xbfhead\r\n\tkeep tab\r\nbeta value\r\ntail"
    existing.write_bytes(raw)
    os.chmod(existing, 0o640)
    await _call(tool, "str_replace (CRLF/BOM file)", command="str_replace", path=str(existing),
                old_str="beta value", new_str="BETA")
    raw = raw.replace(b"beta value", b"BETA")
    _expect_bytes(existing, raw, "str_replace on a CRLF/BOM/tab file")
    mode = os.stat(existing).st_mode & 0o7777
    if mode != 0o640:
        raise CheckFailed(f"str_replace changed the file mode from 0640 to {mode:04o}")
    steps.append("CRLF/BOM/tab/mode kept")

    undo_cls = getattr(mod, UNDO_CLASS, None)
    if undo_cls is None:
        steps.append(f"undo not checked (no {UNDO_CLASS} in this version)")
    else:
        undo_tool = undo_cls()
        before = existing.read_bytes()
        await _call(undo_tool, "str_replace (undo version)", command="str_replace", path=str(existing),
                    old_str="head", new_str="HEAD")
        if existing.read_bytes() == before:
            raise CheckFailed("str_replace with the undo-capable version changed nothing")
        await _call(undo_tool, "undo_edit", command="undo_edit", path=str(existing))
        _expect_bytes(existing, before, "undo_edit")
        steps.append("undo_edit restores exact bytes")
    return "; ".join(steps)


async def check_file_large_view(env: ChildEnv) -> str:
    mod = file_module(env)
    work = env.workdir("file_large_view")
    big = work / "big.log"
    with open(big, "w", encoding="utf-8") as fh:
        for i in range(1, LARGE_LINES + 1):
            fh.write(f"log line {i:06d} {'x' * 20}\n")
    size = big.stat().st_size
    tool = getattr(mod, ROUNDTRIP_CLASS)()
    t0 = time.monotonic()
    whole = _text(await _call(tool, "view of a large file", command="view", path=str(big)))
    t_whole = time.monotonic() - t0
    if len(whole) > VIEW_BOUND_CHARS:
        raise CheckFailed(f"viewing a {size / 1e6:.1f} MB file returned {len(whole)} characters "
                          f"(bound {VIEW_BOUND_CHARS})")
    if "log line 000001" not in whole:
        raise CheckFailed(f"the clipped view does not start with the file's first line: {whole[:160]!r}")
    if "<response clipped>" not in whole:
        raise CheckFailed("the clipped view has no `<response clipped>` note")
    first, last = LARGE_LINES - 4, LARGE_LINES
    t0 = time.monotonic()
    tail = _text(await _call(tool, "view_range near the end", command="view", path=str(big),
                             view_range=[first, last]))
    t_range = time.monotonic() - t0
    for n in (first, last):
        if f"{n:6}\tlog line {n:06d}" not in tail:
            raise CheckFailed(f"view_range [{first}, {last}] lacks line {n}: {tail[:200]!r}")
    if f"log line {first - 1:06d}" in tail:
        raise CheckFailed(f"view_range [{first}, {last}] returned line {first - 1} too")
    return (f"{size / 1e6:.1f} MB file: whole view {len(whole)} chars, clipped ({t_whole:.2f} s); "
            f"view_range of the last 5 lines exact ({t_range:.2f} s)")


CHECKS = {"file_roundtrip": check_file_roundtrip, "file_large_view": check_file_large_view}
