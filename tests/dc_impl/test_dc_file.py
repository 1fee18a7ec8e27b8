"""Streaming file tool: upstream parity on ordinary files, the fixes on the upstream failure cases,
atomic writes under injected faults, the path policy, progress and bounded-memory views.

Upstream is the stand-in tree under examples/ (same messages as the quickstart's edit.py).
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from dc_impl._compat import ToolError
from dc_impl.tools import dc_file
from dc_impl.tools.dc_file import StreamingEditTool20250124, StreamingEditTool20250728
from dc_impl.tools.edit import text as _file_text
from dc_impl.tools.edit import view as _file_view

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "examples") not in sys.path:
    sys.path.insert(0, str(ROOT / "examples"))

from computer_use_demo.tools import edit as upstream  # noqa: E402
from computer_use_demo.tools.base import ToolError as UpstreamError  # noqa: E402

VERSIONS = ("20241022", "20250124", "20250429", "20250728")
OURS = {v: getattr(dc_file, f"StreamingEditTool{v}") for v in VERSIONS}
THEIRS = {v: getattr(upstream, f"EditTool{v}") for v in VERSIONS}


async def call(tool, **kw) -> tuple:
    try:
        result = await tool(**kw)
    except (ToolError, UpstreamError) as exc:
        return ("error", exc.message)
    return ("ok", result.output, result.error or None)


async def ours_ok(tool, **kw) -> str:
    result = await tool(**kw)
    assert not result.error, result.error
    return result.output


def write(path: Path, data: bytes | str, mode: int | None = None) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        path.chmod(mode)
    return path



@pytest.mark.parametrize("version, name", list(zip(VERSIONS, ["str_replace_editor"] * 2 + ["str_replace_based_edit_tool"] * 2, strict=True)))
def test_names_types_and_params_match_upstream(version, name):
    tool, api_type = OURS[version](), f"text_editor_{version}"
    assert (tool.name, tool.api_type) == (name, api_type)
    assert tool.to_params() == THEIRS[version]().to_params() == {"name": name, "type": api_type}


def test_max_characters_only_on_20250728_and_in_params_only_when_set():
    assert StreamingEditTool20250728(max_characters=500).to_params() == {
        "name": "str_replace_based_edit_tool", "type": "text_editor_20250728", "max_characters": 500}
    with pytest.raises(ValueError, match="only supported by text_editor_20250728"):
        StreamingEditTool20250124(max_characters=500)
    with pytest.raises(ValueError, match="positive integer"):
        StreamingEditTool20250728(max_characters=0)
    tool = StreamingEditTool20250124()
    tool.on_progress = print
    assert tool.on_progress is print


CONTENTS = {
    "empty": "", "one_line": "hello", "trailing_newline": "a\nb\nc\n", "no_trailing_newline": "a\nb\nc",
    "tabs_unicode": "def f():\n\treturn 'é ✓'\n\t\tx = 1\n", "blank_lines": "\n\n\nx\n\n",
    "long": "".join(f"line {i} " + "y" * (i % 70) + "\n" for i in range(600)),
}
RANGES = [None, [], [1, -1], [2, 3], [3, 3], [3, -1], [4, 4], [0, 1], [1, 5], [1, 600], [601, 601],
          [3, 2], [2, -5], [1], [1, 2, 3], ["1", 2], [250, 300]]


@pytest.mark.parametrize("version", ["20250124", "20250728"])
@pytest.mark.parametrize("content", CONTENTS.values(), ids=list(CONTENTS))
async def test_view_output_and_messages_equal_upstream(tmp_path, content, version):
    path = write(tmp_path / "f.txt", content)
    for view_range in RANGES:
        kw = {"command": "view", "path": str(path), "view_range": view_range}
        assert await call(OURS[version](), **kw) == await call(THEIRS[version](), **kw), view_range
    assert path.read_text() == content


async def test_max_characters_clips_views_like_the_stand_in(tmp_path):
    path = write(tmp_path / "f.txt", CONTENTS["long"])
    for view_range in (None, [10, 40], [590, -1]):
        kw = {"command": "view", "path": str(path), "view_range": view_range}
        ours = await call(StreamingEditTool20250728(max_characters=300), **kw)
        assert ours == await call(upstream.EditTool20250728(max_characters=300), **kw)
        assert "<response clipped><NOTE>" in ours[1] or view_range == [590, -1]
    full = await ours_ok(StreamingEditTool20250728(), command="view", path=str(path))
    assert "<response clipped>" in full and len(full) < 16000 + 600 * 8


EDITS = [{"command": "str_replace", "old_str": old, "new_str": new} for old, new in [
    ("line 5 yyyyy\n", "FIVE\nand more\n"), ("line 7 ", None), ("nowhere", "x"), ("line 1", "x"),
    ("line 599 " + "y" * 39, "z" * 20000), (None, "x")]] + [
    {"command": "insert", "insert_line": line, "new_str": new} for line, new in [
        (0, "top"), (300, "mid1\nmid2"), (600, "last"), (602, "x"), (-1, "x"), (None, "x"), (1, None)]] + [
    {"command": "create", "file_text": "x"}, {"command": "frobnicate"}, {"command": "undo_edit"}]


@pytest.mark.parametrize("edit", EDITS, ids=range(len(EDITS)))
async def test_edit_output_and_result_equal_upstream(tmp_path, edit):
    edit = {k: v for k, v in edit.items() if v is not None or k == "new_str" and edit["command"] == "str_replace"}
    original = CONTENTS["long"]
    path = write(tmp_path / "f.txt", original)
    results = []
    for tool in (upstream.EditTool20250124(), StreamingEditTool20250124()):
        write(path, original)
        outcome = await call(tool, path=str(path), **edit)
        results.append((outcome, path.read_bytes()))
    assert results[0] == results[1]


async def test_path_and_command_messages_equal_upstream(tmp_path):
    (tmp_path / "d").mkdir()
    write(tmp_path / "f.txt", "x\n")
    f, d = str(tmp_path / "f.txt"), str(tmp_path / "d")
    cases = [("20250124", {"command": "view", "path": "relative/f.txt"}),
             ("20250124", {"command": "view", "path": str(tmp_path / "missing")}),
             ("20250124", {"command": "create", "path": f, "file_text": "y"}),
             ("20250124", {"command": "str_replace", "path": d, "old_str": "a"}),
             ("20250124", {"command": "view", "path": d, "view_range": [1, 2]}),
             ("20250124", {"command": "nope", "path": f}), ("20250429", {"command": "undo_edit", "path": f}),
             ("20250728", {"command": "undo_edit", "path": f}),
             ("20250728", {"command": "insert", "path": f, "insert_line": 1}),
             ("20250124", {"command": "create", "path": str(tmp_path / "no" / "x.txt"), "file_text": "y"})]
    for version, kw in cases:
        ours = await call(OURS[version](), **kw)
        assert ours[0] == "error" and ours == await call(THEIRS[version](), **kw), kw


async def test_directory_view_equals_upstream_and_quotes_the_path(tmp_path):
    for rel in ("a/b/c/deep.txt", "a/x.txt", ".hidden/y", "top.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        write(tmp_path / rel, "z")
    kw = {"command": "view", "path": str(tmp_path)}
    ours = await call(StreamingEditTool20250124(), **kw)
    assert ours == await call(upstream.EditTool20250124(), **kw)
    assert "deep.txt" not in ours[1] and ".hidden" not in ours[1] and f"{tmp_path}/a/b\n" in ours[1]

    odd = tmp_path / "with space; touch pwned"
    odd.mkdir()
    write(odd / "inner.txt", "z")
    output = await ours_ok(StreamingEditTool20250124(), command="view", path=str(odd))
    assert output.startswith(f"Here's the files and directories up to 2 levels deep in {odd}, excluding hidden")
    assert f"{odd}/inner.txt" in output
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    assert (await call(upstream.EditTool20250124(), **{**kw, "path": str(odd)}))[2]  # upstream: find errors


# ------------------------------------------------------------------ upstream failure cases (§7)


async def test_tab_uniqueness_is_decided_as_upstream_sees_it(tmp_path):
    path = write(tmp_path / "f.py", "\tfoo()\n        foo()\n")
    for old in ("        foo()", "\tfoo()"):  # both lines look the same in view: refuse, like upstream
        kw = {"command": "str_replace", "path": str(path), "old_str": old, "new_str": "x"}
        ours = await call(StreamingEditTool20250124(), **kw)
        assert ours[0] == "error" and ours == await call(upstream.EditTool20250124(), **kw)
    assert path.read_text() == "\tfoo()\n        foo()\n"


async def test_tabs_outside_the_edit_are_kept_and_spaces_match_displayed_tabs(tmp_path, monkeypatch):
    monkeypatch.setattr(_file_text, "BLOCK", 5)  # line lookups cross many count blocks
    original = "all:\n\tcc -o app main.c\n\tstrip app\nclean:\n\trm -f app\n"
    path = write(tmp_path / "Makefile", original)
    tool = StreamingEditTool20250124()
    await ours_ok(tool, command="str_replace", path=str(path), old_str="strip app", new_str="strip -s app")
    assert path.read_text() == original.replace("strip app", "strip -s app")
    # the model copies what view showed: the tab as 8 spaces
    shown = await ours_ok(tool, command="view", path=str(path), view_range=[5, 5])
    assert shown.endswith("     5\t        rm -f app\n")
    await ours_ok(tool, command="str_replace", path=str(path), old_str="        rm -f app", new_str="\trm -rf app")
    assert path.read_text() == original.replace("strip app", "strip -s app").replace("rm -f", "rm -rf")
    # a match starting inside a tab keeps the tab's other columns, as upstream's expanded text would
    await ours_ok(tool, command="str_replace", path=str(path), old_str="    cc -o", new_str="    gcc -o")
    assert "\n        gcc -o app main.c\n\tstrip -s app\n" in path.read_text()
    # upstream, for contrast, rewrites every tab in the file
    write(path, original)
    await upstream.EditTool20250124()(command="str_replace", path=str(path), old_str="strip app", new_str="s")
    assert "\t" not in path.read_text()


async def test_crlf_bom_mode_and_missing_final_newline_are_preserved(tmp_path):
    original = b"\xef\xbb\xbfline one\r\nline two\r\nline three"
    path = write(tmp_path / "win.txt", original, mode=0o640)
    tool = StreamingEditTool20250124()
    view = await ours_ok(tool, command="view", path=str(path))
    assert view.endswith("     1\tline one\n     2\tline two\n     3\tline three\n")
    await ours_ok(tool, command="str_replace", path=str(path), old_str="line one\nline two", new_str="1\n2\n2b")
    assert path.read_bytes() == b"\xef\xbb\xbf1\r\n2\r\n2b\r\nline three"
    await ours_ok(tool, command="insert", path=str(path), insert_line=4, new_str="four")
    assert path.read_bytes() == b"\xef\xbb\xbf1\r\n2\r\n2b\r\nline three\r\nfour"
    await ours_ok(tool, command="str_replace", path=str(path), old_str="1\r\n2\r\n", new_str="one\n")
    assert path.read_bytes() == b"\xef\xbb\xbfone\r\n2b\r\nline three\r\nfour"
    assert path.stat().st_mode & 0o7777 == 0o640
    mixed = write(tmp_path / "mixed.txt", b"a\r\nb\nc\r\nd\n", mode=0o755)
    await ours_ok(tool, command="str_replace", path=str(mixed), old_str="b\nc", new_str="B\nC")
    # outside the span byte for byte; the new text takes the file's dominant ending (CRLF here)
    assert mixed.read_bytes() == b"a\r\nB\r\nC\r\nd\n" and mixed.stat().st_mode & 0o7777 == 0o755


async def test_multiline_old_str_duplicates_name_their_lines(tmp_path):
    path = write(tmp_path / "f.py", "if x:\n    y()\nz\nif x:\n    y()\n")
    message = (await call(StreamingEditTool20250124(), command="str_replace", path=str(path),
                          old_str="if x:\n    y()", new_str="w"))[1]
    assert message == ("No replacement was performed. Multiple occurrences of old_str `if x:\n    y()` in lines "
                       "[1, 4]. Please ensure it is unique")
    upstream_message = (await call(upstream.EditTool20250124(), command="str_replace", path=str(path),
                                   old_str="if x:\n    y()", new_str="w"))[1]
    assert "in lines []" in upstream_message


@pytest.mark.parametrize("content, line, text, expected", [
    ("a\nb\n", 3, "NEW", "a\nb\nNEW\n"), ("a\nb\n", 2, "NEW", "a\nb\nNEW\n"),  # upstream: "a\nb\n\nNEW" for 3
    ("a\nb", 2, "NEW", "a\nb\nNEW"), ("a\nb\n", 1, "NEW\n", "a\nNEW\nb\n"),     # upstream adds a blank line
    ("", 1, "NEW", "NEW\n"), ("a\nb\n", 0, "x\ny", "x\ny\na\nb\n")])
async def test_insert_at_the_end_and_trailing_newlines(tmp_path, content, line, text, expected):
    path = write(tmp_path / "f.txt", content)
    await ours_ok(StreamingEditTool20250728(), command="insert", path=str(path), insert_line=line, insert_text=text)
    assert path.read_text() == expected


async def test_insert_text_and_new_str_are_both_accepted(tmp_path):
    path = write(tmp_path / "f.txt", "a\n")
    for cls in OURS.values():
        await ours_ok(cls(), command="insert", path=str(path), insert_line=0, new_str="n")
        await ours_ok(cls(), command="insert", path=str(path), insert_line=0, insert_text="i")
    assert path.read_text() == "i\nn\n" * 4 + "a\n"
    await ours_ok(StreamingEditTool20250728(), command="insert", path=str(path), insert_line=0,
                  insert_text="wins", new_str="loses")
    assert path.read_text().startswith("wins\n")
    assert (await call(StreamingEditTool20250124(), command="insert", path=str(path), insert_line=0))[1] == \
        "Parameter `new_str` is required for command: insert"
    bad = await call(StreamingEditTool20250124(), command="insert", path=str(path), insert_line="2", new_str="x")
    assert bad[1].startswith("Invalid `insert_line` parameter: 2. It should be within")


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"caf\xe9 cr\xe8me\n", b"ok\n" * 5000 + b"\x00"])
async def test_binary_and_undecodable_files_are_refused_untouched(tmp_path, data):
    path = write(tmp_path / "blob", data)
    tool = StreamingEditTool20250124()
    for kw in ({"command": "view"}, {"command": "str_replace", "old_str": "c", "new_str": "d"},
               {"command": "insert", "insert_line": 0, "new_str": "x"}):
        outcome = await call(tool, path=str(path), **kw)
        assert outcome[0] == "error" and outcome[1].startswith("Ran into ") and "not UTF-8 text" in outcome[1]
        assert f"while trying to read {path}." in outcome[1]
    assert path.read_bytes() == data and os.listdir(tmp_path) == ["blob"]
    if data.startswith(b"\x89PNG"):
        assert "codec can't decode byte 0x89 in position 0: invalid start byte" in outcome[1]


async def test_undo_restores_exact_bytes_and_undo_of_create_removes_the_file(tmp_path):
    original = b"\xef\xbb\xbf\tx = 1\r\n\ty = 2\r\n"
    path = write(tmp_path / "f.txt", original)
    tool = StreamingEditTool20250124()
    await ours_ok(tool, command="str_replace", path=str(path), old_str="x = 1", new_str="x = 10")
    second = path.read_bytes()
    await ours_ok(tool, command="insert", path=str(path), insert_line=0, new_str="top")
    out = await ours_ok(tool, command="undo_edit", path=str(path))
    assert out.startswith(f"Last edit to {path} undone successfully. Here's the result of running `cat -n` on {path}:\n")
    assert path.read_bytes() == second
    await ours_ok(tool, command="undo_edit", path=str(path))
    assert path.read_bytes() == original
    assert await call(tool, command="undo_edit", path=str(path)) == ("error", f"No edit history found for {path}.")

    created = tmp_path / "new.txt"
    await ours_ok(tool, command="create", path=str(created), file_text="hello\n")
    os.umask(umask := os.umask(0o022))
    assert created.read_text() == "hello\n" and created.stat().st_mode & 0o777 == 0o666 & ~umask
    await ours_ok(tool, command="str_replace", path=str(created), old_str="hello", new_str="bye")
    await ours_ok(tool, command="undo_edit", path=str(created))
    assert created.read_text() == "hello\n"
    assert "has been removed" in await ours_ok(tool, command="undo_edit", path=str(created))
    assert not created.exists()


async def test_edits_over_the_size_limit_are_refused(tmp_path):
    path = write(tmp_path / "f.txt", "x\n" * 100)
    outcome = await call(StreamingEditTool20250124(max_edit_bytes=50), command="insert", path=str(path),
                         insert_line=0, new_str="y")
    assert outcome[0] == "error" and "over this tool's 50-byte limit" in outcome[1]
    assert path.read_text() == "x\n" * 100


# ----------------------------------------------------------------------------------- atomicity


@pytest.mark.parametrize("syscall", ["fsync", "replace", "write"])
async def test_injected_write_fault_leaves_the_file_untouched(tmp_path, monkeypatch, syscall):
    original = "keep\nme\n"
    path = write(tmp_path / "f.txt", original, mode=0o600)
    fired = []

    def fault(*args, **kwargs):
        fired.append(args)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, syscall, fault)
    tool = StreamingEditTool20250124()
    outcome = await call(tool, command="str_replace", path=str(path), old_str="keep", new_str="lose")
    created = await call(tool, command="create", path=str(tmp_path / "new.txt"), file_text="x")
    monkeypatch.undo()
    assert fired
    assert outcome == ("error", f"Ran into [Errno 28] No space left on device: '{path}' while trying to write to {path}")
    assert created[0] == "error" and "No space left on device" in created[1]
    assert path.read_text() == original and sorted(os.listdir(tmp_path)) == ["f.txt"]
    assert await call(tool, command="undo_edit", path=str(path)) == ("error", f"No edit history found for {path}.")


async def test_file_changed_during_the_edit_is_not_clobbered(tmp_path, monkeypatch):
    path = write(tmp_path / "f.txt", "old\n")
    real_fsync = os.fsync
    fired = []

    def other_writer_then_fsync(fd):
        if not fired:  # another process rewrites the file between our read and our replace
            fired.append(path.write_text("someone else\n"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", other_writer_then_fsync)
    outcome = await call(StreamingEditTool20250124(), command="str_replace", path=str(path), old_str="old", new_str="new")
    assert fired and outcome[0] == "error" and "concurrent change" in outcome[1]
    assert path.read_text() == "someone else\n" and os.listdir(tmp_path) == ["f.txt"]


# --------------------------------------------------------------------------------- path policy


async def test_allowed_roots_and_symlink_escapes(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    for directory in (root, outside):
        directory.mkdir()
    secret = write(outside / "secret.txt", "s\n")
    target = write(root / "target.txt", "t\n")
    (root / "escape").symlink_to(secret)
    (root / "escape_dir").symlink_to(outside)
    (root / "dangling").symlink_to(outside / "made.txt")
    (root / "inside").symlink_to(target)
    tool = StreamingEditTool20250124(allowed_roots=[root])
    for kw in ({"command": "view", "path": str(root / "escape")},
               {"command": "str_replace", "path": str(root / "escape"), "old_str": "s", "new_str": "x"},
               {"command": "create", "path": str(root / "escape_dir" / "new.txt"), "file_text": "x"},
               {"command": "create", "path": str(root / "dangling"), "file_text": "x"},
               {"command": "view", "path": str(root / ".." / "outside" / "secret.txt")},
               {"command": "view", "path": str(outside)}):
        outcome = await call(tool, **kw)
        assert outcome[0] == "error" and "outside the allowed roots" in outcome[1], kw
    assert secret.read_text() == "s\n" and sorted(os.listdir(outside)) == ["secret.txt"]
    # a symlink inside the root is followed and stays a symlink
    await ours_ok(tool, command="str_replace", path=str(root / "inside"), old_str="t", new_str="T")
    assert (root / "inside").is_symlink() and target.read_text() == "T\n"
    assert await ours_ok(tool, command="view", path=str(root))


async def test_non_regular_file_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    outcome = await asyncio.wait_for(call(StreamingEditTool20250124(), command="view", path=str(fifo)), 10)
    assert outcome == ("error", f"The path {fifo} is not a regular file; this tool only views and edits regular files.")


# ------------------------------------------------------------------- streaming: size, progress


def make_big(path: Path, lines: int, width: int = 90) -> Path:
    with open(path, "w") as fh:
        for start in range(0, lines, 10000):
            fh.write("".join(f"{i:08d} {'z' * width}\n" for i in range(start, min(lines, start + 10000))))
    return path


async def test_progress_reports_bytes_increasing_to_total(tmp_path):
    path = make_big(tmp_path / "big.txt", 40000)  # ~3.8 MB: several chunks
    total = path.stat().st_size
    reports: list[tuple[int, int]] = []
    tool = StreamingEditTool20250124(on_progress=lambda done, tot: reports.append((done, tot)))
    await ours_ok(tool, command="view", path=str(path), view_range=[39990, -1])
    assert len(reports) >= 3 and reports[-1] == (total, total)
    assert all(t == total for _, t in reports) and [d for d, _ in reports] == sorted({d for d, _ in reports})

    async def async_cb(done, tot):
        reports.append((done, tot))

    reports.clear()
    tool.on_progress = async_cb  # awaited when it returns an awaitable
    await ours_ok(tool, command="insert", path=str(path), insert_line=0, new_str="head")
    assert reports[-1] == (path.stat().st_size - 5, path.stat().st_size - 5)

    def broken(done, tot):
        raise RuntimeError("ui gone")

    tool.on_progress = broken
    assert (await ours_ok(tool, command="view", path=str(path), view_range=[1, 1])).endswith("     1\thead\n")


async def test_view_range_stops_at_its_end_and_never_decodes_past_it(tmp_path):
    path = tmp_path / "log.bin"
    with open(path, "wb") as fh:
        fh.write(b"".join(b"line %d\n" % i for i in range(1, 2001)))
        fh.write(b"\xff\xfe\x00garbage" * 500_000)  # ~5 MB of binary after the text
    reports: list[tuple[int, int]] = []
    tool = StreamingEditTool20250124(on_progress=lambda d, t: reports.append((d, t)))
    out = await ours_ok(tool, command="view", path=str(path), view_range=[1990, 2000])
    assert out.endswith("  1999\tline 1999\n  2000\tline 2000\n") and out.count("\n") == 12
    assert max(d for d, _ in reports[:-1]) <= 1 << 20 < path.stat().st_size


async def test_view_range_of_a_large_file_is_fast_and_memory_bounded(tmp_path):
    n = 250_000  # ~25 MB
    path = make_big(tmp_path / "big.txt", n)
    tool = StreamingEditTool20250124()
    last = f"{n:6}\t{n - 1:08d} {'z' * 90}\n"

    tracemalloc.start()
    out = await ours_ok(tool, command="view", path=str(path), view_range=[n - 49, n])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.endswith(last) and out.count("\n") == 51
    assert peak < 8 * 1024 * 1024, peak

    bare_s, ours_s = [], []
    for _ in range(3):  # best of 3 each; the goal is 3x, asserted with a wide margin for loaded machines
        t0 = time.perf_counter()
        with open(path, "rb") as fh:
            sum(1 for _ in fh)
        t1 = time.perf_counter()
        await tool(command="view", path=str(path), view_range=[n - 49, -1])
        bare_s.append(t1 - t0)
        ours_s.append(time.perf_counter() - t1)
    assert min(ours_s) < 10 * min(bare_s), (ours_s, bare_s)


async def test_line_index_is_reused_for_settled_files_and_stays_correct(tmp_path, monkeypatch):
    path = make_big(tmp_path / "big.txt", 30000, width=120)
    old = time.time() - 3600
    os.utime(path, (old, old))
    monkeypatch.setattr(_file_view, "RACY_SECONDS", -1.0)  # treat the just-written file as settled
    kw = {"command": "view", "path": str(path), "view_range": [29000, 29003]}
    reports: list[list[int]] = [[], []]
    outputs = []
    for seen in reports:
        outputs.append(await ours_ok(StreamingEditTool20250124(on_progress=lambda d, t, seen=seen: seen.append(d)), **kw))
    assert outputs[0] == outputs[1] == (await call(upstream.EditTool20250124(), **kw))[1]
    assert len(reports[1]) < len(reports[0])  # the second view started from a checkpoint, not byte 0
    # rewritten with the same size and a back-dated mtime: a fresh ctime means "racy", never indexed
    monkeypatch.undo()
    content = path.read_bytes().replace(b"\n", b"x", 500).replace(b"zzzz", b"zz\nz", 500)
    path.write_bytes(content)
    os.utime(path, (old, old))
    assert await call(StreamingEditTool20250124(), **kw) == await call(upstream.EditTool20250124(), **kw)
    assert len(_file_view._INDEXES) <= _file_view.INDEX_FILES



def test_runs_unchanged_inside_the_upstream_tree_with_its_tool_collection(tmp_path):
    host = tmp_path / "computer_use_demo"
    shutil.copytree(ROOT / "examples" / "computer_use_demo", host, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    shutil.copytree(ROOT / "dc_impl", host / "dc_impl", ignore=shutil.ignore_patterns("__pycache__"))
    script = f"""
import asyncio
from computer_use_demo.dc_impl import _compat
from computer_use_demo.dc_impl.tools.dc_file import StreamingEditTool20250728
from computer_use_demo.tools.collection import ToolCollection
from computer_use_demo.tools.base import ToolFailure, CLIResult
assert _compat.IN_HOST_TREE
col = ToolCollection(StreamingEditTool20250728())
assert col.to_params() == [{{"name": "str_replace_based_edit_tool", "type": "text_editor_20250728"}}]
path = {str(tmp_path / "f.txt")!r}
run = lambda **kw: col.run(name="str_replace_based_edit_tool", tool_input=kw)
async def main():
    ok, view, bad = [await run(command="create", path=path, file_text="hi\\n"), await run(command="view", path=path),
                     await run(command="view", path="rel")]
    assert isinstance(view, CLIResult) and view.output.endswith("     1\\thi\\n     2\\t\\n"), view
    assert isinstance(bad, ToolFailure) and bad.error.startswith("The path rel is not an absolute path"), bad
    print("OK", ok.output)
asyncio.run(main())
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"OK File created successfully at: {tmp_path / 'f.txt'}"
