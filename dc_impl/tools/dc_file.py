"""Streaming drop-in for upstream's text-editor tools (``str_replace_editor`` /
``str_replace_based_edit_tool``), one class per tool version, with upstream's messages word for word.

What the model sees is upstream's (``cat -n`` output, snippet window of 4 lines, ``<response
clipped>`` note at 16000 characters, every error text); what happens to the file is not:

- ``view`` streams: a ``view_range`` reads up to its last line only, decodes only what is shown, and
  memory does not grow with the file (see ``edit.view``). ``on_progress(done, total)`` gets byte
  counts while a file is read, and ``(total, total)`` when the read is complete.
- Edits change only the replaced span: tabs, CRLF or mixed line endings, a UTF-8 BOM and the
  presence of a final newline are kept byte for byte around it; new text takes the file's line
  ending. ``old_str`` written with LF matches CRLF text. With tabs in the file or in ``old_str``,
  the match is decided on the tab-expanded text, as upstream does and as ``view`` showed it, then
  mapped back so only the matched span changes (a literal unique match is the fallback). Writes are atomic (temp file, fsync, ``os.replace``, directory fsync), keep the file mode
  and refuse to clobber a file changed on disk meanwhile. Binary or non-UTF-8 files get a
  "Ran into ..." error and are never written. Files over ``max_edit_bytes`` (64 MiB) are not edited.
- ``insert`` accepts ``insert_text`` (current models) and ``new_str``. Inserting after upstream's
  extra last "line" of a file ending in a newline appends (upstream leaves ``\\n\\nNEW`` without a
  final newline); text already ending in a newline gets no extra blank line.
- ``view_range`` past the end of the file keeps upstream's error, which tells the model the line count.
- ``undo_edit`` (20241022 / 20250124) restores the exact previous bytes. Undoing a ``create``
  removes the created file (upstream rewrote the same text, a no-op nobody can rely on).
- Paths: relative paths get upstream's message; with ``allowed_roots``, the real path (symlinks
  followed) must lie under one of them. Directory listings run ``find`` with the path as an argument.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._compat import BaseAnthropicTool, CLIResult, ToolError, ToolResult
from ..metrics_hook import records_calls
from .edit.io import (
    ProgressCallback,
    atomic_write,
    list_directory,
    read_document,
    remove_file,
    resolve_checked,
)
from .edit.text import (
    MAX_RESPONSE_LEN,
    SNIPPET_LINES,
    MatchError,
    eol_of,
    find_unique,
    insert_after,
    lines_around,
    make_output,
    splice,
    to_display,
    upstream_line_count,
)
from .edit.view import RangeError, view_window

MAX_EDIT_BYTES = 64 * 1024 * 1024
HISTORY_DEPTH = 32

__all__ = [
    "MAX_EDIT_BYTES",
    "StreamingEditTool20241022",
    "StreamingEditTool20250124",
    "StreamingEditTool20250429",
    "StreamingEditTool20250728",
]


class StreamingEditTool20250124(BaseAnthropicTool):
    """``text_editor_20250124`` / ``str_replace_editor``: view, create, str_replace, insert, undo_edit."""

    api_type: str = "text_editor_20250124"
    name: str = "str_replace_editor"
    commands: tuple[str, ...] = ("view", "create", "str_replace", "insert", "undo_edit")
    insert_param: str = "new_str"

    def __init__(
        self,
        on_progress: ProgressCallback | None = None,
        allowed_roots: Sequence[str | os.PathLike[str]] | None = None,
        max_characters: int | None = None,
        max_edit_bytes: int = MAX_EDIT_BYTES,
    ) -> None:
        if max_characters is not None:
            if not self._supports_max_characters():
                raise ValueError(f"max_characters is only supported by text_editor_20250728, not {self.api_type}")
            if isinstance(max_characters, bool) or not isinstance(max_characters, int) or max_characters < 1:
                raise ValueError(f"max_characters must be a positive integer, got {max_characters!r}")
        self.on_progress = on_progress
        self.allowed_roots = list(allowed_roots) if allowed_roots is not None else None
        self.max_characters = max_characters
        self.max_edit_bytes = max_edit_bytes
        self._history: defaultdict[str, list[bytes | None]] = defaultdict(list)
        super().__init__()

    @classmethod
    def _supports_max_characters(cls) -> bool:
        return False

    def to_params(self) -> Any:
        return {"name": self.name, "type": self.api_type}

    @records_calls
    async def __call__(
        self,
        *,
        command: str,
        path: str,
        file_text: str | None = None,
        view_range: list[int] | None = None,
        old_str: str | None = None,
        new_str: str | None = None,
        insert_line: int | None = None,
        insert_text: str | None = None,
        **kwargs: Any,
    ) -> ToolResult:
        _path = Path(path)
        real = self.validate_path(command, _path)
        if command == "view":
            return await self.view(_path, real, view_range)
        if command == "create":
            if file_text is None:
                raise ToolError("Parameter `file_text` is required for command: create")
            return await self.create(_path, real, file_text)
        if command == "str_replace":
            if old_str is None:
                raise ToolError("Parameter `old_str` is required for command: str_replace")
            return await self.str_replace(_path, real, old_str, new_str)
        if command == "insert":
            if insert_line is None:
                raise ToolError("Parameter `insert_line` is required for command: insert")
            text = insert_text if insert_text is not None else new_str
            if text is None:
                raise ToolError(f"Parameter `{self.insert_param}` is required for command: insert")
            return await self.insert(_path, real, insert_line, text)
        if command == "undo_edit" and "undo_edit" in self.commands:
            return await self.undo_edit(_path, real)
        raise ToolError(
            f"Unrecognized command {command}. The allowed commands for the {self.name} tool are: "
            f"{', '.join(self.commands)}"
        )

    # ------------------------------------------------------------------------------------ checks

    def validate_path(self, command: str, path: Path) -> str:
        """Upstream's checks, in upstream's order, plus the allowed-roots policy. Returns the real path."""
        if not path.is_absolute():
            suggested_path = Path("") / path
            raise ToolError(
                f"The path {path} is not an absolute path, it should start with `/`. "
                f"Maybe you meant {suggested_path}?"
            )
        if "\x00" in str(path):  # the OS cannot name it: upstream's answers for such a path
            if command == "create":
                raise ToolError(f"Ran into embedded null byte while trying to write to {path}")
            raise ToolError(f"The path {path} does not exist. Please provide a valid path.")
        real = resolve_checked(path, self.allowed_roots)
        exists = os.path.exists(real)
        if not exists and command != "create":
            raise ToolError(f"The path {path} does not exist. Please provide a valid path.")
        if exists and command == "create":
            raise ToolError(f"File already exists at: {path}. Cannot overwrite files using command `create`.")
        if os.path.isdir(real) and command != "view":
            raise ToolError(
                f"The path {path} is a directory and only the `view` command can be used on directories"
            )
        return real

    def _view_cap(self) -> int:
        return self.max_characters if self.max_characters is not None else MAX_RESPONSE_LEN

    # ---------------------------------------------------------------------------------- commands

    async def view(self, path: Path, real: str, view_range: list[int] | None = None) -> CLIResult:
        if os.path.isdir(real):
            if view_range:
                raise ToolError("The `view_range` parameter is not allowed when `path` points to a directory.")
            stdout, stderr = await list_directory(path)
            if not stderr:
                stdout = (
                    f"Here's the files and directories up to 2 levels deep in {path}, "
                    f"excluding hidden items:\n{stdout}\n"
                )
            return CLIResult(output=stdout, error=stderr)

        cap = self._view_cap()
        start, end = 1, -1
        if view_range:
            if (
                not isinstance(view_range, list | tuple)
                or len(view_range) != 2
                or not all(isinstance(i, int) for i in view_range)
            ):
                raise ToolError("Invalid `view_range`. It should be a list of two integers.")
            start, end = view_range
        try:
            content = await view_window(real, path, start, end, cap, self.on_progress)
        except RangeError as exc:
            raise ToolError(_range_message(exc, view_range, start, end)) from None
        return CLIResult(output=make_output(content, str(path), init_line=start, truncate_after=cap))

    async def create(self, path: Path, real: str, file_text: str) -> ToolResult:
        try:
            data = file_text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ToolError(f"Ran into {exc} while trying to write to {path}") from None
        atomic_write(real, data, path, expect=None)
        self._remember(real, None)
        return ToolResult(output=f"File created successfully at: {path}")

    async def str_replace(self, path: Path, real: str, old_str: str, new_str: str | None) -> CLIResult:
        doc = await read_document(real, path, self.max_edit_bytes, self.on_progress)
        new_str = new_str if new_str is not None else ""
        try:
            match = find_unique(doc.raw, old_str)
        except MatchError as exc:
            shown = old_str.expandtabs()
            if exc.count == 0:
                raise ToolError(
                    f"No replacement was performed, old_str `{shown}` did not appear verbatim in {path}."
                ) from None
            raise ToolError(
                f"No replacement was performed. Multiple occurrences of old_str `{shown}` "
                f"in lines {exc.lines}. Please ensure it is unique"
            ) from None
        new_raw = splice(doc.raw, match, new_str, eol_of(doc.raw))
        self._write(real, path, doc.encode(new_raw), doc.st)
        self._remember(real, doc.data)

        first, snippet = lines_around(
            new_raw, match.start, SNIPPET_LINES, SNIPPET_LINES + new_str.replace("\r\n", "\n").count("\n")
        )
        message = f"The file {path} has been edited. "
        message += make_output(snippet, f"a snippet of {path}", first + 1, self._view_cap())
        message += "Review the changes and make sure they are as expected. Edit the file again if necessary."
        return CLIResult(output=message)

    async def insert(self, path: Path, real: str, insert_line: int, text: str) -> CLIResult:
        doc = await read_document(real, path, self.max_edit_bytes, self.on_progress)
        n_lines = upstream_line_count(doc.raw)
        if isinstance(insert_line, bool) or not isinstance(insert_line, int) or not 0 <= insert_line <= n_lines:
            raise ToolError(
                f"Invalid `insert_line` parameter: {insert_line}. It should be within the range of "
                f"lines of the file: {[0, n_lines]}"
            )
        ins = insert_after(doc.raw, insert_line, text, eol_of(doc.raw))
        self._write(real, path, doc.encode(ins.text), doc.st)
        self._remember(real, doc.data)

        first, snippet = lines_around(ins.text, ins.line_offset, SNIPPET_LINES, ins.n_new_lines - 1 + SNIPPET_LINES)
        message = f"The file {path} has been edited. "
        message += make_output(snippet, "a snippet of the edited file", first + 1, self._view_cap())
        message += (
            "Review the changes and make sure they are as expected (correct indentation, "
            "no duplicate lines, etc). Edit the file again if necessary."
        )
        return CLIResult(output=message)

    async def undo_edit(self, path: Path, real: str) -> CLIResult:
        history = self._history.get(real)
        if not history:
            raise ToolError(f"No edit history found for {path}.")
        previous = history[-1]
        if previous is None:
            remove_file(real, path)
            history.pop()
            return CLIResult(
                output=f"Last edit to {path} undone successfully. The file did not exist before it was "
                "created by that edit, so it has been removed."
            )
        try:
            st = os.stat(real)
        except OSError:
            st = None
        self._write(real, path, previous, st)
        history.pop()
        doc_text = to_display(previous.decode("utf-8", "replace").removeprefix("\ufeff"))
        return CLIResult(output=f"Last edit to {path} undone successfully. {make_output(doc_text, str(path))}")

    # ---------------------------------------------------------------------------------- helpers

    def _write(self, real: str, path: Path, data: bytes, st: os.stat_result | None) -> None:
        atomic_write(real, data, path, expect=st)

    def _remember(self, real: str, previous: bytes | None) -> None:
        if "undo_edit" not in self.commands:
            return
        history = self._history[real]
        history.append(previous)
        del history[:-HISTORY_DEPTH]


def _range_message(exc: RangeError, view_range: Any, start: int, end: int) -> str:
    if exc.which == "start":
        return (
            f"Invalid `view_range`: {view_range}. Its first element `{start}` should be "
            f"within the range of lines of the file: {[1, exc.n]}"
        )
    if exc.which == "end":
        return (
            f"Invalid `view_range`: {view_range}. Its second element `{end}` should be "
            f"smaller than the number of lines in the file: `{exc.n}`"
        )
    return (
        f"Invalid `view_range`: {view_range}. Its second element `{end}` should be "
        f"larger or equal than its first `{start}`"
    )


class StreamingEditTool20241022(StreamingEditTool20250124):
    """The same editor under the ``text_editor_20241022`` type."""

    api_type: str = "text_editor_20241022"


class StreamingEditTool20250429(StreamingEditTool20250124):
    """Claude 4 editor: ``str_replace_based_edit_tool``, no ``undo_edit``."""

    api_type: str = "text_editor_20250429"
    name: str = "str_replace_based_edit_tool"
    commands: tuple[str, ...] = ("view", "create", "str_replace", "insert")


class StreamingEditTool20250728(StreamingEditTool20250429):
    """As 20250429, plus ``max_characters`` (the ``view`` cap, sent in the tool definition when set);
    ``insert`` asks for ``insert_text``."""

    api_type: str = "text_editor_20250728"
    insert_param: str = "insert_text"

    @classmethod
    def _supports_max_characters(cls) -> bool:
        return True

    def to_params(self) -> Any:
        params = super().to_params()
        if self.max_characters is not None:
            params["max_characters"] = self.max_characters
        return params
