"""Our tools record their own calls when no unified loop records them (upstream's loop, or a tool used
on its own), and the screenshot tool records its capture/settle/encode phases. Real tools, a real
shell, real files, a real ``*.prom`` file parsed with prometheus_client's parser."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="prometheus_client is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from dc_impl import metrics_hook  # noqa: E402
from dc_impl._compat import ToolError  # noqa: E402
from dc_impl.tools.dc_bash import StreamingBashTool  # noqa: E402
from dc_impl.tools.dc_file import StreamingEditTool20250728  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def values(prom: Path) -> dict[tuple[str, tuple], float]:
    if not prom.exists():
        return {}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(prom.read_text()) for s in fam.samples}


def calls(got: dict[tuple[str, tuple], float], tool: str, outcome: str) -> float:
    return got.get(("claude_dc_tool_calls_total", (("outcome", outcome), ("tool", tool))), 0.0)


@pytest.fixture
def metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "metrics"
    monkeypatch.setenv("DC_METRICS_DIR", str(directory))
    return directory


async def test_bash_records_its_own_calls_outside_the_loop(metrics_dir: Path) -> None:
    prom = metrics_dir / "claude_dc_agent.prom"
    async with StreamingBashTool(timeout=30) as tool:
        result = await tool(command="sleep 0.1; echo hi")
        assert "hi" in (result.output or "")
        got = values(prom)  # written at the end of the call, not later
        assert calls(got, "bash", "ok") == 1
        assert got[("claude_dc_tool_duration_seconds_sum", (("tool", "bash"),))] >= 0.1
        with pytest.raises(ToolError):
            await tool()  # no command: upstream's ToolError
        assert calls(values(prom), "bash", "error") == 1


async def test_a_call_the_loop_records_is_not_recorded_by_the_tool(metrics_dir: Path) -> None:
    async with StreamingBashTool(timeout=30) as tool:
        with metrics_hook.loop_records_tools():
            await tool(command="echo in-the-loop")
        assert values(metrics_dir / "claude_dc_agent.prom") == {}
        await tool(command="echo on-its-own")  # outside again: recorded
    assert calls(values(metrics_dir / "claude_dc_agent.prom"), "bash", "ok") == 1


async def test_an_interrupted_call_is_recorded_as_interrupted(metrics_dir: Path) -> None:
    async with StreamingBashTool(timeout=30) as tool:
        task = asyncio.create_task(tool(command="sleep 5"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert calls(values(metrics_dir / "claude_dc_agent.prom"), "bash", "interrupted") == 1


async def test_the_editor_records_its_calls(metrics_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("one\ntwo\n")
    tool = StreamingEditTool20250728()
    await tool(command="view", path=str(path))
    with pytest.raises(ToolError):
        await tool(command="view", path=str(tmp_path / "missing.txt"))
    got = values(metrics_dir / "claude_dc_agent.prom")
    assert calls(got, "str_replace_based_edit_tool", "ok") == 1
    assert calls(got, "str_replace_based_edit_tool", "error") == 1


async def test_no_metrics_dir_means_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DC_METRICS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    async with StreamingBashTool(timeout=30) as tool:
        await tool(command="echo quiet")
    assert list(tmp_path.rglob("*.prom")) == []


def test_without_the_metrics_component_the_door_is_a_no_op(tmp_path: Path) -> None:
    """A tree deployed without ``dc_impl/metrics``: tools and the loop's ``with_metrics`` still work."""
    import shutil

    pkg = tmp_path / "site" / "host" / "dc_impl"
    shutil.copytree(REPO / "dc_impl", pkg, ignore=shutil.ignore_patterns("__pycache__", "metrics"))
    (pkg.parent / "__init__.py").write_text("")
    code = (
        "import asyncio, os\n"
        "from host.dc_impl import metrics_hook\n"
        "from host.dc_impl.tools.dc_bash import StreamingBashTool\n"
        "assert metrics_hook.AVAILABLE is False\n"
        "emit = print\n"
        "assert metrics_hook.with_metrics(emit) is emit\n"
        "async def main():\n"
        "    async with StreamingBashTool(timeout=30) as tool:\n"
        "        print((await tool(command='echo works')).output.strip())\n"
        "asyncio.run(main())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "DC_METRICS_DIR": str(tmp_path / "m"), "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "works", proc.stderr
    assert not (tmp_path / "m").exists()
