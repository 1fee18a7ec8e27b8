"""Issue 12 item 1 through the loop hook: a stand-in upstream tree deployed by the installer (``--all``,
unified streaming and the streaming bash tool switched on), its own ``computer_use_demo.loop.sampling_loop``
called in a fresh interpreter with upstream's keywords only, against the scripted server.

(a) the stream drops right after the bash tool_use block, then the model finishes: the hooked loop sends
the kept blocks and the result in a second request, the command ran once; (b) every request drops after
its tool block: the default retry budget (2) gives 3 requests, each tool ran once, the upstream
``api_response_callback`` is told of the failure and the returned history goes on without a violation.
"""

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

from dc_deploy import api

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "computer_use_demo"

CHILD = textwrap.dedent('''
    import asyncio, json, os, sys, time
    from dc_verify.scripted_server import ScriptedServer
    from computer_use_demo import loop

    def user(text):
        return {"role": "user", "content": [{"type": "text", "text": text}]}

    async def call(scenario, messages, variables=None):
        with ScriptedServer(scenario, variables=variables) as srv:
            os.environ["ANTHROPIC_BASE_URL"] = srv.base_url
            seen = {"outputs": [], "tool_outputs": [], "api": []}
            t0 = time.monotonic()
            out = await loop.sampling_loop(
                model="claude-sonnet-4-6", provider=loop.APIProvider.ANTHROPIC, system_prompt_suffix="",
                messages=messages, api_key="test", tool_version="computer_use_20250429",
                output_callback=lambda b: seen["outputs"].append(b["type"]),
                tool_output_callback=lambda r, tid: seen["tool_outputs"].append(tid),
                api_response_callback=lambda q, r, e: seen["api"].append(None if e is None else type(e).__name__))
            seen["elapsed_s"] = time.monotonic() - t0
            seen["requests"] = [{"outcome": r.outcome, "stream": r.body.get("stream"), "turn": r.turn_index}
                                for r in srv.requests]
            seen["violations"] = [v.message for v in srv.violations]
            seen["messages"] = out
            return seen

    async def main():
        workdir = sys.argv[1]
        result = {"hook": loop.DC_STREAMING_HOOK}
        result["once"] = await call("drop_after_tool", [user("record a run")], {"WORKDIR": workdir + "/once"})
        every = await call("drop_after_tool_every_time", [user("keep recording")], {"WORKDIR": workdir + "/every"})
        result["every"] = json.loads(json.dumps(every))  # as returned (the follow-up appends to it)
        history = every["messages"]
        history[-1]["content"].append({"type": "text", "text": "go on"})
        follow = {"name": "follow", "turns": [{"blocks": [{"type": "text", "text": "Going on."}]}]}
        result["follow"] = await call(follow, history)
        print("RESULT " + json.dumps(result))

    asyncio.run(main())
''')


def shape(messages: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(m["role"], [b["type"] for b in m["content"]]) for m in messages]


@pytest.fixture
def deployed(tmp_path: Path, ctx, manifest: Path) -> dict[str, Any]:
    target = tmp_path / "computer_use_demo"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests"))
    opts = api.Options(target=target, backup_dir=tmp_path / "backups", manifest=manifest, verify=False)
    api.integrate(opts, ctx, None, {"use_unified_streaming": True, "use_streaming_bash": True})
    assert "claude-dc-streaming loop hook" in (target / "loop.py").read_text()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DC_TOGGLES"))}
    env["PYTHONPATH"] = str(REPO)  # dc_verify (the scripted server); the tree itself is imported from cwd
    env.update({"WIDTH": "1024", "HEIGHT": "768"})  # the agent container's display, as upstream's image sets it
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "work")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert proc.returncode == 0 and line, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"work": tmp_path / "work", **json.loads(line.removeprefix("RESULT "))}


def test_drop_after_tool_through_the_hook_continues_and_then_bounds(deployed: dict[str, Any]) -> None:
    assert deployed["hook"]["installed"] is True
    once, every, follow = deployed["once"], deployed["every"], deployed["follow"]

    # (a) one drop after the tool block, then the model finishes from the result
    assert once["violations"] == []
    assert once["requests"] == [{"outcome": "drop", "stream": True, "turn": 0},
                                {"outcome": "served", "stream": True, "turn": 1}]
    assert (deployed["work"] / "once" / "runs.txt").read_text() == "ran\n"
    assert shape(once["messages"]) == [("user", ["text"]), ("assistant", ["text", "tool_use"]),
                                       ("user", ["tool_result"]), ("assistant", ["text"])]
    assert once["api"] == [None, None] and once["tool_outputs"] == ["toolu_01DropAfterTool000000001"]
    assert once["outputs"] == ["text", "tool_use", "text"]

    # (b) every request drops after its tool block: 1 + max_retries (default 2) requests, then it gives up
    assert every["violations"] == []
    assert [r["outcome"] for r in every["requests"]] == ["drop"] * 3
    ids = [f"toolu_01DropEveryTime00000000{i}" for i in range(3)]
    assert (deployed["work"] / "every" / "runs.txt").read_text().split() == ids
    assert every["api"] == [None, None, None, "RemoteProtocolError"]  # the upstream callback is told
    assert every["tool_outputs"] == ids
    assert shape(every["messages"]) == [("user", ["text"])] + [("assistant", ["text", "tool_use"]),
                                                               ("user", ["tool_result"])] * 3
    # and the conversation can go on from what was returned
    assert follow["violations"] == [] and follow["requests"][0]["outcome"] == "served"
