"""Upstream's file editor tools (``str_replace_editor`` / ``str_replace_based_edit_tool``).

Faithful on purpose: whole-file ``read_text``/``write_text`` (not atomic, CRLF becomes LF), tabs
expanded in the whole file on edit, ``find`` on an unquoted path for directories, head-only
truncation at 16000 characters, in-memory undo history, and the upstream messages word for word.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Literal, get_args

from .base import BaseAnthropicTool, CLIResult, ToolError, ToolResult
from .run import MAX_RESPONSE_LEN, maybe_truncate, run

Command_20250124 = Literal["view", "create", "str_replace", "insert", "undo_edit"]
Command_20250429 = Literal["view", "create", "str_replace", "insert"]
SNIPPET_LINES: int = 4


class EditTool20250124(BaseAnthropicTool):
    """A filesystem editor tool that lets the agent view, create and edit files."""

    api_type: str = "text_editor_20250124"
    name: str = "str_replace_editor"
    _commands: Any = Command_20250124

    _file_history: dict[Path, list[str]]

    def __init__(self) -> None:
        self._file_history = defaultdict(list)
        super().__init__()

    def to_params(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.api_type}

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
        **kwargs: Any,
    ) -> ToolResult:
        _path = Path(path)
        self.validate_path(command, _path)
        if command == "view":
            return await self.view(_path, view_range)
        if command == "create":
            if file_text is None:
                raise ToolError("Parameter `file_text` is required for command: create")
            self.write_file(_path, file_text)
            self._file_history[_path].append(file_text)
            return ToolResult(output=f"File created successfully at: {_path}")
        if command == "str_replace":
            if old_str is None:
                raise ToolError("Parameter `old_str` is required for command: str_replace")
            return self.str_replace(_path, old_str, new_str)
        if command == "insert":
            if insert_line is None:
                raise ToolError("Parameter `insert_line` is required for command: insert")
            text = self._insert_text(new_str, kwargs)
            return self.insert(_path, insert_line, text)
        if command == "undo_edit" and "undo_edit" in get_args(self._commands):
            return self.undo_edit(_path)
        raise ToolError(
            f"Unrecognized command {command}. The allowed commands for the {self.name} tool are: "
            f"{', '.join(get_args(self._commands))}"
        )

    def _insert_text(self, new_str: str | None, extra: dict[str, Any]) -> str:
        if new_str is None:
            raise ToolError("Parameter `new_str` is required for command: insert")
        return new_str

    def validate_path(self, command: str, path: Path) -> None:
        """Check that the path/command combination is valid."""
        if not path.is_absolute():
            suggested_path = Path("") / path
            raise ToolError(
                f"The path {path} is not an absolute path, it should start with `/`. "
                f"Maybe you meant {suggested_path}?"
            )
        if not path.exists() and command != "create":
            raise ToolError(f"The path {path} does not exist. Please provide a valid path.")
        if path.exists() and command == "create":
            raise ToolError(f"File already exists at: {path}. Cannot overwrite files using command `create`.")
        if path.is_dir() and command != "view":
            raise ToolError(
                f"The path {path} is a directory and only the `view` command can be used on directories"
            )

    async def view(self, path: Path, view_range: list[int] | None = None) -> CLIResult:
        """Implement the view command."""
        if path.is_dir():
            if view_range:
                raise ToolError(
                    "The `view_range` parameter is not allowed when `path` points to a directory."
                )
            _, stdout, stderr = await run(rf"find {path} -maxdepth 2 -not -path '*/\.*'")
            if not stderr:
                stdout = (
                    f"Here's the files and directories up to 2 levels deep in {path}, "
                    f"excluding hidden items:\n{stdout}\n"
                )
            return CLIResult(output=stdout, error=stderr)

        file_content = self.read_file(path)
        init_line = 1
        if view_range:
            if len(view_range) != 2 or not all(isinstance(i, int) for i in view_range):
                raise ToolError("Invalid `view_range`. It should be a list of two integers.")
            file_lines = file_content.split("\n")
            n_lines_file = len(file_lines)
            init_line, final_line = view_range
            if init_line < 1 or init_line > n_lines_file:
                raise ToolError(
                    f"Invalid `view_range`: {view_range}. Its first element `{init_line}` should be "
                    f"within the range of lines of the file: {[1, n_lines_file]}"
                )
            if final_line > n_lines_file:
                raise ToolError(
                    f"Invalid `view_range`: {view_range}. Its second element `{final_line}` should be "
                    f"smaller than the number of lines in the file: `{n_lines_file}`"
                )
            if final_line != -1 and final_line < init_line:
                raise ToolError(
                    f"Invalid `view_range`: {view_range}. Its second element `{final_line}` should be "
                    f"larger or equal than its first `{init_line}`"
                )
            selected = (
                file_lines[init_line - 1 :] if final_line == -1 else file_lines[init_line - 1 : final_line]
            )
            file_content = "\n".join(selected)

        return CLIResult(output=self._make_output(file_content, str(path), init_line=init_line))

    def str_replace(self, path: Path, old_str: str, new_str: str | None) -> CLIResult:
        """Replace old_str with new_str in the file, when old_str occurs exactly once."""
        file_content = self.read_file(path).expandtabs()
        old_str = old_str.expandtabs()
        new_str = new_str.expandtabs() if new_str is not None else ""

        occurrences = file_content.count(old_str)
        if occurrences == 0:
            raise ToolError(
                f"No replacement was performed, old_str `{old_str}` did not appear verbatim in {path}."
            )
        if occurrences > 1:
            lines = [idx + 1 for idx, line in enumerate(file_content.split("\n")) if old_str in line]
            raise ToolError(
                f"No replacement was performed. Multiple occurrences of old_str `{old_str}` "
                f"in lines {lines}. Please ensure it is unique"
            )

        new_file_content = file_content.replace(old_str, new_str)
        self.write_file(path, new_file_content)
        self._file_history[path].append(file_content)

        replacement_line = file_content.split(old_str)[0].count("\n")
        start_line = max(0, replacement_line - SNIPPET_LINES)
        end_line = replacement_line + SNIPPET_LINES + new_str.count("\n")
        snippet = "\n".join(new_file_content.split("\n")[start_line : end_line + 1])

        message = f"The file {path} has been edited. "
        message += self._make_output(snippet, f"a snippet of {path}", start_line + 1)
        message += "Review the changes and make sure they are as expected. Edit the file again if necessary."
        return CLIResult(output=message)

    def insert(self, path: Path, insert_line: int, new_str: str) -> CLIResult:
        """Insert new_str after line insert_line of the file."""
        file_text = self.read_file(path).expandtabs()
        new_str = new_str.expandtabs()
        file_text_lines = file_text.split("\n")
        n_lines_file = len(file_text_lines)

        if insert_line < 0 or insert_line > n_lines_file:
            raise ToolError(
                f"Invalid `insert_line` parameter: {insert_line}. It should be within the range of "
                f"lines of the file: {[0, n_lines_file]}"
            )

        new_str_lines = new_str.split("\n")
        new_file_text_lines = file_text_lines[:insert_line] + new_str_lines + file_text_lines[insert_line:]
        snippet_lines = (
            file_text_lines[max(0, insert_line - SNIPPET_LINES) : insert_line]
            + new_str_lines
            + file_text_lines[insert_line : insert_line + SNIPPET_LINES]
        )
        self.write_file(path, "\n".join(new_file_text_lines))
        self._file_history[path].append(file_text)

        message = f"The file {path} has been edited. "
        message += self._make_output(
            "\n".join(snippet_lines), "a snippet of the edited file", max(1, insert_line - SNIPPET_LINES + 1)
        )
        message += (
            "Review the changes and make sure they are as expected (correct indentation, "
            "no duplicate lines, etc). Edit the file again if necessary."
        )
        return CLIResult(output=message)

    def undo_edit(self, path: Path) -> CLIResult:
        """Write back the last content pushed onto this path's history."""
        if not self._file_history[path]:
            raise ToolError(f"No edit history found for {path}.")
        old_text = self._file_history[path].pop()
        self.write_file(path, old_text)
        return CLIResult(
            output=f"Last edit to {path} undone successfully. {self._make_output(old_text, str(path))}"
        )

    def read_file(self, path: Path) -> str:
        try:
            return path.read_text()
        except Exception as exc:
            raise ToolError(f"Ran into {exc} while trying to read {path}") from None

    def write_file(self, path: Path, file: str) -> None:
        try:
            path.write_text(file)
        except Exception as exc:
            raise ToolError(f"Ran into {exc} while trying to write to {path}") from None

    def _truncate_after(self) -> int | None:
        return MAX_RESPONSE_LEN

    def _make_output(
        self, file_content: str, file_descriptor: str, init_line: int = 1, expand_tabs: bool = True
    ) -> str:
        """Render content the way ``cat -n`` would (truncated before numbering, as upstream)."""
        file_content = maybe_truncate(file_content, self._truncate_after())
        if expand_tabs:
            file_content = file_content.expandtabs()
        numbered = "\n".join(f"{i + init_line:6}\t{line}" for i, line in enumerate(file_content.split("\n")))
        return f"Here's the result of running `cat -n` on {file_descriptor}:\n" + numbered + "\n"


class EditTool20241022(EditTool20250124):
    """The same editor under the ``text_editor_20241022`` type."""

    api_type: str = "text_editor_20241022"


class EditTool20250429(EditTool20250124):
    """Claude 4 editor: new name, no ``undo_edit``."""

    api_type: str = "text_editor_20250429"
    name: str = "str_replace_based_edit_tool"
    _commands: Any = Command_20250429


class EditTool20250728(EditTool20250429):
    """As 20250429, plus an optional ``max_characters`` view cap; ``insert`` takes ``insert_text``."""

    api_type: str = "text_editor_20250728"

    def __init__(self, max_characters: int | None = None) -> None:
        self.max_characters = max_characters
        super().__init__()

    def to_params(self) -> dict[str, Any]:
        params = super().to_params()
        if self.max_characters is not None:
            params["max_characters"] = self.max_characters
        return params

    def _insert_text(self, new_str: str | None, extra: dict[str, Any]) -> str:
        text = extra.get("insert_text", new_str)
        if text is None:
            raise ToolError("Parameter `insert_text` is required for command: insert")
        return text

    def _truncate_after(self) -> int | None:
        return self.max_characters if self.max_characters is not None else MAX_RESPONSE_LEN
