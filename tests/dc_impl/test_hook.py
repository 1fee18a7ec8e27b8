"""The loop hook inside a copy of the stand-in upstream tree, imported in a child interpreter (no module
cache shared between tests), against the scripted server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "examples" / "computer_use_demo"
MANAGED_BLOCK = '''\
# >>> claude-dc-streaming loop hook (managed by integrate_streaming.py; do not edit) >>>
try:
    from .dc_impl import hook as _dc_streaming_hook
    _dc_streaming_hook.install(globals())
except Exception as _dc_exc:  # never break the host loop
    import logging as _dc_logging
    _dc_logging.getLogger(__name__).warning("claude-dc-streaming hook not installed: %s", _dc_exc)
# <<< claude-dc-streaming loop hook <<<
'''
FEATURES = ("use_streaming_bash", "use_streaming_file", "use_streaming_screenshot", "use_unified_streaming",
            "use_streaming_thinking")

CHILD = textwrap.dedent('''
    import asyncio, json, os, sys
    config = json.loads(sys.argv[1])
    from dc_verify.scripted_server import ScriptedServer
    toggles_path = config["toggles_path"]

    def write_toggles(values, revision):
        doc = {"revision": revision, **values}
        tmp = toggles_path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, toggles_path)

    async def main():
        out = {"calls": []}
        with ScriptedServer(config["scenario"]) as srv:
            os.environ["ANTHROPIC_BASE_URL"] = srv.base_url
            from computer_use_demo import loop
            for extra in config.get("reinstall", []):
                from computer_use_demo.dc_impl import hook
                hook.install(vars(loop))
            out["hook"] = getattr(loop, "DC_STREAMING_HOOK", None)
            out["original_is_standin"] = getattr(loop, "_dc_original_sampling_loop", None) is not None and \\
                loop._dc_original_sampling_loop.__module__ == "computer_use_demo.loop" and \\
                not hasattr(loop._dc_original_sampling_loop, "__dc_streaming_dispatcher__")
            out["signature"] = str(__import__("inspect").signature(loop.sampling_loop))
            for i, call in enumerate(config["calls"]):
                write_toggles(call["toggles"], i + 1)
                tool_classes = [c.__name__ for c in loop.TOOL_GROUPS_BY_VERSION["computer_use_20250429"].tools]
                groups = {v: [c.__name__ for c in g.tools] for v, g in loop.TOOL_GROUPS_BY_VERSION.items()}
                if not call.get("run", True):
                    out["calls"].append({"tool_classes": tool_classes, "groups": groups})
                    continue
                counts = {"output": 0, "tool_output": 0, "api": 0}
                events = []
                first_request = len(srv.requests)
                kwargs = dict(model="claude-sonnet-4-6", provider=loop.APIProvider.ANTHROPIC, system_prompt_suffix="",
                    messages=[{"role": "user", "content": [{"type": "text", "text": "go"}]}],
                    output_callback=lambda b: counts.__setitem__("output", counts["output"] + 1),
                    tool_output_callback=lambda r, i: counts.__setitem__("tool_output", counts["tool_output"] + 1),
                    api_response_callback=lambda q, r, e: counts.__setitem__("api", counts["api"] + 1),
                    api_key="test", tool_version="computer_use_20250429")
                if call.get("stream_callback"):
                    kwargs["stream_callback"] = lambda e: events.append(e.kind)
                messages = await loop.sampling_loop(**kwargs)
                out["calls"].append({
                    "messages": messages, "counts": counts, "events": events,
                    "streamed": [bool(r.body.get("stream")) for r in srv.requests[first_request:]],
                    "tool_classes": tool_classes,
                })
            out["violations"] = [v.message for v in srv.violations]
        print("RESULT " + json.dumps(out))

    asyncio.run(main())
''')


# what a deployment of only core + loop-hook + bash-tool ships (the unified loop's files are absent)
BASH_ONLY_FILES = ("__init__.py", "_compat.py", "contract.py", "toggles.py", "feature_toggles.schema.json",
                   "substitution.py", "metrics_hook.py", "hook.py", "tools/__init__.py", "tools/procs.py",
                   "tools/dc_bash.py", "tools/bash/*.py")


def make_tree(tmp_path: Path, *, break_hook: bool = False, bash_only: bool = False) -> Path:
    """``<tmp>/site/computer_use_demo`` = stand-in + our dc_impl + the managed block; returns the site dir."""
    site = tmp_path / "site"
    tree = site / "computer_use_demo"
    ignore = shutil.ignore_patterns("__pycache__", "tests", "*.pyc")
    shutil.copytree(STANDIN, tree, ignore=ignore)
    if bash_only:
        for pattern in BASH_ONLY_FILES:
            for src in (REPO / "dc_impl").glob(pattern):
                dest = tree / "dc_impl" / src.relative_to(REPO / "dc_impl")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
    else:
        shutil.copytree(REPO / "dc_impl", tree / "dc_impl", ignore=ignore)
    with open(tree / "loop.py", "a", encoding="utf-8") as fh:
        fh.write("\n" + MANAGED_BLOCK)
    if break_hook:
        (tree / "dc_impl" / "hook.py").write_text("raise RuntimeError('deliberately broken hook')\n")
    return site


def bash_scenario(n_calls: int) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    for i in range(n_calls):
        turns.append({"blocks": [{"type": "text", "text": f"Call {i}.", "chunk_size": 4},
                                 {"type": "tool_use", "id": f"toolu_hook{i}", "name": "bash",
                                  "input": {"command": f"echo hook-{i}"}, "chunk_size": 5}],
                      "stop_reason": "tool_use"})
        turns.append({"expect": {"last_user_has_tool_result_for": [f"toolu_hook{i}"]},
                      "blocks": [{"type": "text", "text": f"Done {i}.", "chunk_size": 4}], "stop_reason": "end_turn"})
    return {"name": "hook", "description": "hook test", "turns": turns}


def run_child(tmp_path: Path, site: Path, calls: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    config = {"scenario": bash_scenario(sum(1 for c in calls if c.get("run", True))), "calls": calls,
              "toggles_path": str(site / "computer_use_demo" / "dc_impl" / "feature_toggles.json"), **extra}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DC_TOGGLES"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.run([sys.executable, str(script), json.dumps(config)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=45)
    result = next((line for line in proc.stdout.splitlines() if line.startswith("RESULT ")), None)
    assert proc.returncode == 0 and result, proc.stdout + proc.stderr
    out = json.loads(result.removeprefix("RESULT "))
    out["stderr"] = proc.stderr
    return out


def toggles(**on: bool) -> dict[str, bool]:
    return {name: bool(on.get(name, False)) for name in FEATURES}


def assert_upstream_shape(call: dict[str, Any], i: int) -> None:
    roles = [m["role"] for m in call["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    result = call["messages"][2]["content"][0]
    assert result["tool_use_id"] == f"toolu_hook{i}" and f"hook-{i}" in json.dumps(result["content"])
    assert call["counts"] == {"output": 3, "tool_output": 1, "api": 2}  # upstream's pinned callback counts


@pytest.fixture(scope="module")
def flips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One child process, seven calls of ``computer_use_demo.loop.sampling_loop`` with the toggles file
    rewritten before each (no restart), and ``install`` run a second time before the first call."""
    tmp_path = tmp_path_factory.mktemp("hook")
    site = make_tree(tmp_path)
    return run_child(tmp_path, site, [
        {"toggles": toggles(), "stream_callback": True},
        {"toggles": toggles(use_unified_streaming=True), "stream_callback": True},
        {"toggles": toggles(use_streaming_bash=True, use_streaming_file=True)},
        {"toggles": toggles(use_streaming_bash=True), "run": False},
        {"toggles": toggles(), "stream_callback": True},
        {"toggles": toggles(use_streaming_screenshot=True), "run": False},
        {"toggles": toggles(use_streaming_screenshot=True, use_streaming_bash=True), "run": False},
    ], reinstall=[1])


def test_hook_installed_once_with_the_upstream_signature(flips: dict[str, Any]) -> None:
    assert flips["hook"]["installed"] is True and flips["hook"]["version"]
    assert flips["original_is_standin"] is True  # installing twice did not wrap the dispatcher
    assert "stream_callback" in flips["signature"] and "tool_version" in flips["signature"]
    assert flips["violations"] == []


def test_toggles_off_keeps_the_standin_loop(flips: dict[str, Any]) -> None:
    call = flips["calls"][0]
    assert call["streamed"] == [False, False]  # the original, non-streaming loop answered
    assert call["events"] == []  # stream_callback was dropped for the original loop
    assert call["tool_classes"] == ["ComputerTool20250124", "EditTool20250429", "BashTool20250124"]
    assert_upstream_shape(call, 0)


def test_unified_streaming_on_runs_the_streaming_loop(flips: dict[str, Any]) -> None:
    call = flips["calls"][1]
    assert call["streamed"] == [True, True]
    assert_upstream_shape(call, 1)
    assert call["events"][0] == "request_started" and "tool_started" in call["events"]
    assert "text_delta" in call["events"] and call["events"][-1] == "done"


def test_tool_groups_follow_the_toggles_even_for_the_original_loop(flips: dict[str, Any]) -> None:
    both, bash_only = flips["calls"][2], flips["calls"][3]
    assert both["tool_classes"] == ["ComputerTool20250124", "StreamingEditTool20250429", "StreamingBashTool"]
    assert both["streamed"] == [False, False]  # the original loop ran, with the streaming bash tool
    assert_upstream_shape(both, 2)
    assert bash_only["tool_classes"] == ["ComputerTool20250124", "EditTool20250429", "StreamingBashTool"]


def test_flip_back_without_restart(flips: dict[str, Any]) -> None:
    last = flips["calls"][4]
    assert last["streamed"] == [False, False] and last["tool_classes"][2] == "BashTool20250124"
    assert_upstream_shape(last, 3)


def test_computer_tool_follows_the_screenshot_toggle(flips: dict[str, Any]) -> None:
    off, on, with_bash = flips["calls"][3], flips["calls"][5], flips["calls"][6]
    for version, classes in off["groups"].items():  # toggle off: upstream's computer tool in every group
        assert classes[0].startswith("ComputerTool"), (version, classes)
    assert on["groups"] == {
        "computer_use_20241022": ["StreamingComputerTool20241022", "EditTool20241022", "BashTool20241022"],
        "computer_use_20250124": ["StreamingComputerTool20250124", "EditTool20250124", "BashTool20250124"],
        "computer_use_20250429": ["StreamingComputerTool20250124", "EditTool20250429", "BashTool20250124"],
    }
    assert with_bash["tool_classes"] == ["StreamingComputerTool20250124", "EditTool20250429", "StreamingBashTool"]


def test_a_broken_hook_never_breaks_the_host_loop(tmp_path: Path) -> None:
    site = make_tree(tmp_path, break_hook=True)
    out = run_child(tmp_path, site, [{"toggles": toggles(use_unified_streaming=True)}])
    assert out["hook"] is None
    assert "claude-dc-streaming hook not installed: deliberately broken hook" in out["stderr"]
    (call,) = out["calls"]
    assert call["streamed"] == [False, False]
    assert_upstream_shape(call, 0)


def test_hook_with_only_the_bash_tool_deployed(tmp_path: Path) -> None:
    site = make_tree(tmp_path, bash_only=True)
    assert not (site / "computer_use_demo" / "dc_impl" / "unified_streaming_loop.py").exists()
    out = run_child(tmp_path, site, [{"toggles": toggles(use_streaming_bash=True, use_unified_streaming=True),
                                      "stream_callback": True}])
    assert out["hook"]["installed"] is True
    (call,) = out["calls"]
    assert call["tool_classes"] == ["ComputerTool20250124", "EditTool20250429", "StreamingBashTool"]
    assert call["streamed"] == [False, False] and call["events"] == []  # fell back to the original loop
    assert "unified streaming loop unavailable" in out["stderr"]
    assert_upstream_shape(call, 0)
    assert out["violations"] == []


def test_screenshot_toggle_without_the_screenshot_tool_keeps_the_host_tool(tmp_path: Path) -> None:
    site = make_tree(tmp_path, bash_only=True)  # the screenshot-tool component is not deployed
    assert not (site / "computer_use_demo" / "dc_impl" / "tools" / "dc_screenshot.py").exists()
    out = run_child(tmp_path, site, [{"toggles": toggles(use_streaming_screenshot=True), "run": False},
                                     {"toggles": toggles(use_streaming_screenshot=True), "run": False}])
    assert [c["tool_classes"][0] for c in out["calls"]] == ["ComputerTool20250124", "ComputerTool20250124"]
    assert out["stderr"].count("streaming computer tool unavailable") == 1  # said once, not at every lookup


def test_managed_block_matches_the_installer() -> None:
    loop_block = pytest.importorskip("dc_deploy.loop_block")
    assert loop_block.BLOCK.decode() == MANAGED_BLOCK
