"""The stand-in editor tools answer with upstream's messages, quirks included."""

from __future__ import annotations

from pathlib import Path

import pytest
from computer_use_demo.tools import (
    EditTool20241022,
    EditTool20250124,
    EditTool20250429,
    EditTool20250728,
    ToolError,
)
from computer_use_demo.tools.run import TRUNCATED_MESSAGE


async def _error(tool, **kwargs) -> str:
    with pytest.raises(ToolError) as info:
        await tool(**kwargs)
    return info.value.message


async def test_view_file_numbers_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("one\ntwo\nthree\n")
    result = await EditTool20250124()(command="view", path=str(path))
    assert result.output == (
        f"Here's the result of running `cat -n` on {path}:\n"
        "     1\tone\n     2\ttwo\n     3\tthree\n     4\t\n"
    )


async def test_view_range_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("l1\nl2\nl3\nl4\n")
    tool = EditTool20250124()
    result = await tool(command="view", path=str(path), view_range=[2, 3])
    assert result.output == f"Here's the result of running `cat -n` on {path}:\n     2\tl2\n     3\tl3\n"
    to_end = await tool(command="view", path=str(path), view_range=[4, -1])
    assert to_end.output.endswith("     4\tl4\n     5\t\n")
    assert await _error(tool, command="view", path=str(path), view_range=[1]) == (
        "Invalid `view_range`. It should be a list of two integers."
    )
    assert await _error(tool, command="view", path=str(path), view_range=[0, 2]) == (
        "Invalid `view_range`: [0, 2]. Its first element `0` should be within the range of lines of the file: [1, 5]"
    )
    assert await _error(tool, command="view", path=str(path), view_range=[1, 9]) == (
        "Invalid `view_range`: [1, 9]. Its second element `9` should be smaller than the number of lines in the file: `5`"
    )
    assert await _error(tool, command="view", path=str(path), view_range=[3, 2]) == (
        "Invalid `view_range`: [3, 2]. Its second element `2` should be larger or equal than its first `3`"
    )


async def test_view_directory_lists_two_levels(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deep" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "f.txt").write_text("x")
    (tmp_path / ".hidden").write_text("x")
    tool = EditTool20250429()
    result = await tool(command="view", path=str(tmp_path))
    assert result.output.startswith(
        f"Here's the files and directories up to 2 levels deep in {tmp_path}, excluding hidden items:\n"
    )
    assert f"{tmp_path}/sub/f.txt" in result.output
    assert f"{tmp_path}/sub/deep\n" in result.output
    assert "deeper" not in result.output and ".hidden" not in result.output
    assert await _error(tool, command="view", path=str(tmp_path), view_range=[1, 2]) == (
        "The `view_range` parameter is not allowed when `path` points to a directory."
    )


async def test_path_validation_messages(tmp_path: Path) -> None:
    tool = EditTool20250124()
    existing = tmp_path / "e.txt"
    existing.write_text("x")
    assert await _error(tool, command="view", path="rel/file.txt") == (
        "The path rel/file.txt is not an absolute path, it should start with `/`. Maybe you meant rel/file.txt?"
    )
    missing = tmp_path / "missing.txt"
    assert await _error(tool, command="view", path=str(missing)) == (
        f"The path {missing} does not exist. Please provide a valid path."
    )
    assert await _error(tool, command="create", path=str(existing), file_text="y") == (
        f"File already exists at: {existing}. Cannot overwrite files using command `create`."
    )
    assert await _error(tool, command="str_replace", path=str(tmp_path), old_str="a") == (
        f"The path {tmp_path} is a directory and only the `view` command can be used on directories"
    )


async def test_create_then_undo_keeps_file(tmp_path: Path) -> None:
    path = tmp_path / "new.txt"
    tool = EditTool20250124()
    result = await tool(command="create", path=str(path), file_text="hello\n")
    assert result.output == f"File created successfully at: {path}"
    assert path.read_text() == "hello\n"
    assert await _error(tool, command="create", path=str(tmp_path / "b.txt")) == (
        "Parameter `file_text` is required for command: create"
    )
    # Upstream pushes the new text, so undo after create rewrites it rather than deleting the file.
    undone = await tool(command="undo_edit", path=str(path))
    assert undone.output.startswith(f"Last edit to {path} undone successfully. ")
    assert path.read_text() == "hello\n"
    assert await _error(tool, command="undo_edit", path=str(path)) == f"No edit history found for {path}."


async def test_str_replace_success_and_undo(tmp_path: Path) -> None:
    path = tmp_path / "code.py"
    original = "".join(f"line {i}\n" for i in range(1, 11))
    path.write_text(original)
    tool = EditTool20250124()
    result = await tool(command="str_replace", path=str(path), old_str="line 6", new_str="LINE SIX")
    snippet = "\n".join(f"{i:6}\t" + ("LINE SIX" if i == 6 else f"line {i}") for i in range(2, 11))
    assert result.output == (
        f"The file {path} has been edited. Here's the result of running `cat -n` on a snippet of {path}:\n"
        f"{snippet}\n"
        "Review the changes and make sure they are as expected. Edit the file again if necessary."
    )
    assert "LINE SIX" in path.read_text()
    undone = await tool(command="undo_edit", path=str(path))
    assert undone.output.startswith(f"Last edit to {path} undone successfully. Here's the result of running")
    assert path.read_text() == original


async def test_str_replace_errors(tmp_path: Path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("abc\nxyz\nabc\n")
    tool = EditTool20250429()
    assert await _error(tool, command="str_replace", path=str(path), old_str="nope") == (
        f"No replacement was performed, old_str `nope` did not appear verbatim in {path}."
    )
    assert await _error(tool, command="str_replace", path=str(path), old_str="abc") == (
        "No replacement was performed. Multiple occurrences of old_str `abc` in lines [1, 3]. Please ensure it is unique"
    )
    assert await _error(tool, command="str_replace", path=str(path)) == (
        "Parameter `old_str` is required for command: str_replace"
    )


async def test_str_replace_expands_tabs_in_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "Makefile"
    path.write_text("all:\n\techo a\nother:\n\techo b\n")
    await EditTool20250429()(command="str_replace", path=str(path), old_str="echo a", new_str="echo A")
    assert "\t" not in path.read_text()
    assert path.read_text() == "all:\n        echo A\nother:\n        echo b\n"


async def test_insert_message_and_range(tmp_path: Path) -> None:
    path = tmp_path / "ins.txt"
    path.write_text("a\nb\nc")
    tool = EditTool20250124()
    result = await tool(command="insert", path=str(path), insert_line=1, new_str="NEW")
    assert path.read_text() == "a\nNEW\nb\nc"
    assert result.output == (
        f"The file {path} has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n"
        "     1\ta\n     2\tNEW\n     3\tb\n     4\tc\n"
        "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). "
        "Edit the file again if necessary."
    )
    assert await _error(tool, command="insert", path=str(path), insert_line=9, new_str="x") == (
        "Invalid `insert_line` parameter: 9. It should be within the range of lines of the file: [0, 4]"
    )
    assert await _error(tool, command="insert", path=str(path), new_str="x") == (
        "Parameter `insert_line` is required for command: insert"
    )
    assert await _error(tool, command="insert", path=str(path), insert_line=0) == (
        "Parameter `new_str` is required for command: insert"
    )


async def test_unrecognized_commands_per_version(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("x")
    assert await _error(EditTool20250124(), command="bogus", path=str(path)) == (
        "Unrecognized command bogus. The allowed commands for the str_replace_editor tool are: "
        "view, create, str_replace, insert, undo_edit"
    )
    for tool in (EditTool20250429(), EditTool20250728()):
        assert await _error(tool, command="undo_edit", path=str(path)) == (
            "Unrecognized command undo_edit. The allowed commands for the str_replace_based_edit_tool tool are: "
            "view, create, str_replace, insert"
        )


async def test_20250728_insert_text_and_max_characters(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("a\nb")
    tool = EditTool20250728(max_characters=3)
    assert tool.to_params() == {
        "name": "str_replace_based_edit_tool",
        "type": "text_editor_20250728",
        "max_characters": 3,
    }
    assert EditTool20250728().to_params() == {
        "name": "str_replace_based_edit_tool",
        "type": "text_editor_20250728",
    }
    await tool(command="insert", path=str(path), insert_line=1, insert_text="MID")
    assert path.read_text() == "a\nMID\nb"
    assert await _error(tool, command="insert", path=str(path), insert_line=0) == (
        "Parameter `insert_text` is required for command: insert"
    )
    viewed = await tool(command="view", path=str(path))
    assert (
        viewed.output
        == f"Here's the result of running `cat -n` on {path}:\n     1\ta\n     2\tM{TRUNCATED_MESSAGE}\n"
    )


async def test_view_truncates_head_only_before_numbering(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("x" * 20000)
    result = await EditTool20250124()(command="view", path=str(path))
    assert result.output.endswith("x" * 16000 + TRUNCATED_MESSAGE + "\n")


async def test_read_error_is_tool_error(tmp_path: Path) -> None:
    path = tmp_path / "bin.dat"
    path.write_bytes(b"\x89PNG\xff\xfe")
    message = await _error(EditTool20250124(), command="view", path=str(path))
    assert message.startswith("Ran into 'utf-8' codec can't decode byte 0x89 in position 0")
    assert message.endswith(f"while trying to read {path}")


def test_params_per_version() -> None:
    assert EditTool20241022().to_params() == {"name": "str_replace_editor", "type": "text_editor_20241022"}
    assert EditTool20250124().to_params() == {"name": "str_replace_editor", "type": "text_editor_20250124"}
    assert EditTool20250429().to_params() == {
        "name": "str_replace_based_edit_tool",
        "type": "text_editor_20250429",
    }
