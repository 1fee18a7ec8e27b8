"""The stand-in bash tool behaves like upstream's, messages and quirks included."""

from __future__ import annotations

import pytest
from computer_use_demo.tools import BashTool20241022, BashTool20250124, CLIResult, ToolError, ToolResult

pytestmark = pytest.mark.usefixtures("reap_bash")


async def test_echo_round_trip() -> None:
    tool = BashTool20250124()
    result = await tool(command="echo hello world")
    assert isinstance(result, CLIResult)
    assert result.output == "hello world"
    assert result.error == ""


async def test_session_persists_cd_and_env(tmp_path) -> None:
    tool = BashTool20250124()
    await tool(command=f"cd {tmp_path} && export STANDIN_VAR=kept")
    result = await tool(command="pwd; echo $STANDIN_VAR")
    assert result.output == f"{tmp_path}\nkept"


async def test_restart_message_and_fresh_shell(tmp_path) -> None:
    tool = BashTool20250124()
    await tool(command=f"cd {tmp_path}")
    result = await tool(restart=True)
    assert result == ToolResult(system="tool has been restarted.")
    after = await tool(command="pwd")
    assert after.output != str(tmp_path)


async def test_command_not_found_goes_to_error() -> None:
    tool = BashTool20250124()
    result = await tool(command="standin_no_such_command_xyz")
    assert "command not found" in (result.error or "")
    assert result.output == ""


async def test_exit_code_is_not_reported() -> None:
    tool = BashTool20250124()
    result = await tool(command="bash -c 'exit 1'")
    assert result.output == ""
    assert result.error == ""


async def test_no_command_provided() -> None:
    tool = BashTool20250124()
    with pytest.raises(ToolError, match=r"^no command provided\.$"):
        await tool()


async def test_timeout_message_and_poisoned_session() -> None:
    tool = BashTool20250124()
    await tool(command="echo start")
    assert tool._session is not None
    tool._session._timeout = 0.1
    message = "timed out: bash has not returned in 0.1 seconds and must be restarted"
    with pytest.raises(ToolError) as first:
        await tool(command="sleep 1")
    assert first.value.message == message
    # Upstream keeps refusing until restart.
    with pytest.raises(ToolError) as second:
        await tool(command="echo again")
    assert second.value.message == message
    await tool(restart=True)
    assert (await tool(command="echo back")).output == "back"


async def test_exited_shell_must_be_restarted() -> None:
    tool = BashTool20250124()
    await tool(command="echo up")
    assert tool._session is not None
    tool._session._timeout = 0.5
    with pytest.raises(ToolError, match="timed out"):
        await tool(command="exit 3")
    await tool._session._process.wait()
    result = await tool(command="echo hi")
    assert result.system == "tool must be restarted"
    assert result.error == "bash has exited with returncode 3"


async def test_stderr_and_stdout_split() -> None:
    tool = BashTool20250124()
    result = await tool(command="echo out; echo err >&2")
    assert result.output == "out"
    assert result.error == "err"


def test_params_per_version() -> None:
    assert BashTool20250124().to_params() == {"type": "bash_20250124", "name": "bash"}
    assert BashTool20241022().to_params() == {"type": "bash_20241022", "name": "bash"}
