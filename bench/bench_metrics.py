"""Metrics on (`DC_METRICS_DIR` set) vs off for one long streamed turn: CPU time per stream event.

One turn of the unified loop against the scripted server (its own process, real HTTP and SSE): a
40,000-character answer streamed 4 characters per delta (10,000 deltas), a bash tool call, and the
closing answer. The loop runs in a fresh child process each time with a no-op `stream_callback`;
the child's CPU time (user + system) over the turn is divided by the number of events it saw.
Baseline: the same turn with metrics off, measured in the same run, runs interleaved; medians of 5.
With metrics on, the loop writes the `.prom` file once per request and once per tool call.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._common import Result

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = {
    "name": "bench_metrics", "description": "one long streamed turn with a tool",
    "defaults": {"model": "claude-sonnet-4-6", "event_delay_s": 0.0},
    "turns": [
        {"blocks": [{"type": "text", "text": "word " * 8000, "chunk_size": 4},
                    {"type": "tool_use", "id": "toolu_01BenchMetrics00000000001", "name": "bash",
                     "input": {"command": "echo done"}, "chunk_size": 8}],
         "stop_reason": "tool_use", "usage": {"input_tokens": 1000, "output_tokens": 9000}},
        {"blocks": [{"type": "text", "text": "Finished.", "chunk_size": 4}], "stop_reason": "end_turn",
         "usage": {"input_tokens": 1100, "output_tokens": 4}},
    ],
}

CHILD = """
import asyncio, json, resource, sys
from dc_impl.tools.dc_bash import StreamingBashTool
from dc_impl.unified_streaming_loop import sampling_loop
count = [0]
def on_event(e):
    count[0] += 1
async def main():
    tool = StreamingBashTool()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    await sampling_loop(model="claude-sonnet-4-6", provider="anthropic", system_prompt_suffix="",
        messages=[{"role": "user", "content": [{"type": "text", "text": "go"}]}],
        output_callback=lambda b: None, tool_output_callback=lambda r, i: None,
        api_response_callback=lambda q, s, e: None, api_key="bench", tool_version="computer_use_20250124",
        tools=[tool], stream_callback=on_event)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    await tool.aclose()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"cpu_s": cpu, "events": count[0]}))
asyncio.run(main())
"""


def _turn(scenario: Path, metrics_dir: str | None) -> dict:
    server = subprocess.Popen([sys.executable, "-m", "dc_verify.scripted_server", "--scenario", str(scenario)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        env = {k: v for k, v in os.environ.items() if k != "DC_METRICS_DIR"}
        env.update({"ANTHROPIC_BASE_URL": url, "PYTHONPATH": str(ROOT)})
        if metrics_dir:
            env["DC_METRICS_DIR"] = metrics_dir
        proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        server.kill()
        server.wait()


def run(quick: bool) -> list[Result]:
    repeat = 2 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scenario.json"
        scenario.write_text(json.dumps(SCENARIO))
        on, off = [], []
        for i in range(repeat):
            off.append(_turn(scenario, None))
            on.append(_turn(scenario, str(Path(tmp) / f"metrics{i}")))
        written = sorted(p.name for p in (Path(tmp) / "metrics0").iterdir())
    per_on = statistics.median(r["cpu_s"] / r["events"] for r in on) * 1e6
    per_off = statistics.median(r["cpu_s"] / r["events"] for r in off) * 1e6
    events = on[0]["events"]
    return [Result("CPU per stream event, metrics on", per_on, per_off, "us", "<= 1.05x metrics off",
                   per_on <= 1.05 * per_off, "metrics off",
                   notes=f"{events} events per turn; files written: {', '.join(written)}")]


if __name__ == "__main__":
    for r in run(os.environ.get("BENCH_QUICK") == "1"):
        print(r)
