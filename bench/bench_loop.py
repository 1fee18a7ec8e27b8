"""Unified streaming loop: per-event cost vs bare SDK iteration, mid-stream tool start vs the upstream stand-in loop, first-delta latency.

1. Per-event client CPU time (``time.process_time`` of this process; the scripted server runs in a child
   process so its work is not counted) for one long streamed message: the whole unified loop
   (accumulator + typed events to a no-op ``stream_callback``) vs bare SDK iteration of the same stream,
   both ``client.beta.messages.stream()`` (the SDK's helper) and raw ``create(stream=True)``.
2. Wall time of a turn in which the model writes two ``sleep 1`` bash calls and then keeps generating for
   1 s, plus the follow-up request: ours vs the stand-in upstream loop (non-streaming; the server stalls
   1 s, the same generation time) and vs ours with ``eager_tools=False``.
3. Time from the scripted server writing the first text delta to the ``stream_callback`` seeing it, vs
   the bare SDK helper seeing the same delta (server in-process: one clock).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import Result

ROOT = Path(__file__).resolve().parent.parent
MODEL = "claude-sonnet-4-6"
USER = [{"role": "user", "content": [{"type": "text", "text": "go"}]}]


def _noop(*_: Any) -> None:
    return None


def _loop_kwargs(**kw: Any) -> dict[str, Any]:
    base = {"model": MODEL, "provider": "anthropic", "system_prompt_suffix": "", "messages": [dict(USER[0])],
            "output_callback": _noop, "tool_output_callback": _noop, "api_response_callback": _noop,
            "api_key": "bench", "tool_version": "computer_use_20250429"}
    base.update(kw)
    return base


# --------------------------------------------------------------------------------- 1. per-event cost


def _long_turn(deltas: int) -> dict[str, Any]:
    return {"blocks": [{"type": "text", "text": "x" * deltas, "chunk_size": 1}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": deltas}}


class _ServerProcess:
    """``python -m dc_verify.scripted_server`` in a child process (base URL on its first stdout line)."""

    def __init__(self, scenario: dict[str, Any], workdir: Path) -> None:
        path = workdir / "scenario.json"
        path.write_text(json.dumps(scenario))
        self.proc = subprocess.Popen([sys.executable, "-m", "dc_verify.scripted_server", "--scenario", str(path)],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.close()
            raise RuntimeError("scripted server did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


async def _one_stream(mode: str, base_url: str) -> tuple[float, int]:
    from anthropic import AsyncAnthropic

    from dc_impl.unified_streaming_loop import sampling_loop

    count = 0

    def count_event(_: Any) -> None:
        nonlocal count
        count += 1

    cpu0 = time.process_time()
    if mode == "ours":
        await sampling_loop(**_loop_kwargs(tools=[], stream_callback=count_event))
    else:
        client = AsyncAnthropic(base_url=base_url, api_key="bench", max_retries=0)
        kw = {"model": MODEL, "max_tokens": 64000, "messages": USER}
        if mode == "sdk_stream":
            async with client.beta.messages.stream(**kw) as stream:
                async for _ in stream:
                    count += 1
        else:
            stream = await client.beta.messages.create(**kw, stream=True)
            async for _ in stream:
                count += 1
        await client.close()
    return time.process_time() - cpu0, count


def bench_event_cost(quick: bool) -> list[Result]:
    deltas, repeats = (3000, 3) if quick else (20000, 5)
    modes = ("sdk_stream", "sdk_raw", "ours")
    events = deltas + 5  # message_start, block start/stop, message_delta, message_stop
    scenario = {"name": "bench_long", "description": "long stream",
                "turns": [_long_turn(deltas) for _ in range((repeats + 1) * len(modes))]}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        server = _ServerProcess(scenario, Path(tmp))
        old = os.environ.get("ANTHROPIC_BASE_URL")
        os.environ["ANTHROPIC_BASE_URL"] = server.base_url
        try:
            for r in range(repeats + 1):  # the first round warms imports and connections up
                for mode in modes:
                    seconds, _ = asyncio.run(_one_stream(mode, server.base_url))
                    if r:
                        cpu[mode].append(seconds)
        finally:
            server.close()
            if old is None:
                os.environ.pop("ANTHROPIC_BASE_URL", None)
            else:
                os.environ["ANTHROPIC_BASE_URL"] = old
    per_event = {m: statistics.median(v) / events * 1e6 for m, v in cpu.items()}
    note = f"{events} events, client CPU only (server in a child process), median of {repeats}"
    return [
        Result("client CPU per streamed event, whole loop", per_event["ours"], per_event["sdk_stream"], "us/event",
               "<= 1.3x bare SDK iteration", per_event["ours"] <= 1.3 * per_event["sdk_stream"],
               "bare client.beta.messages.stream() iteration", note),
        Result("client CPU per streamed event, whole loop (vs raw)", per_event["ours"], per_event["sdk_raw"],
               "us/event", "<= 1.3x bare SDK iteration", per_event["ours"] <= 1.3 * per_event["sdk_raw"],
               "bare create(stream=True) iteration (no accumulation)", note),
    ]


# ---------------------------------------------------------------------------- 2. mid-stream tool start


def _tool_turns(streaming: bool, tool_s: float, more_s: float) -> list[dict[str, Any]]:
    first: dict[str, Any] = {
        "blocks": [{"type": "text", "text": "Running two jobs.", "chunk_size": 6},
                   {"type": "tool_use", "id": "toolu_a", "name": "bash", "input": {"command": f"sleep {tool_s}"}},
                   {"type": "tool_use", "id": "toolu_b", "name": "bash", "input": {"command": f"sleep {tool_s}"},
                    "pause_after_s": more_s},
                   {"type": "text", "text": "Both are running while I keep writing.", "chunk_size": 8}],
        "stop_reason": "tool_use"}
    if not streaming:  # the same generation time for a non-streaming request
        first["inject"] = [{"kind": "stall", "at": "before_message_start", "seconds": more_s}]
    return [first, {"blocks": [{"type": "text", "text": "Both finished."}], "stop_reason": "end_turn"}]


def _run_standin(base_url: str) -> float:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from computer_use_demo.loop import APIProvider, sampling_loop
    finally:
        sys.path.remove(str(ROOT / "examples"))
    t0 = time.perf_counter()
    asyncio.run(sampling_loop(**{**_loop_kwargs(), "provider": APIProvider.ANTHROPIC}))
    return time.perf_counter() - t0


def _run_ours(eager: bool) -> float:
    from dc_impl.unified_streaming_loop import sampling_loop

    t0 = time.perf_counter()
    asyncio.run(sampling_loop(**_loop_kwargs(eager_tools=eager)))
    return time.perf_counter() - t0


def bench_overlap(quick: bool) -> list[Result]:
    from dc_verify.scripted_server import ScriptedServer

    repeats, tool_s, more_s = (1 if quick else 3), 1.0, 1.0
    times: dict[str, list[float]] = {"ours": [], "standin": [], "no_eager": []}
    old = os.environ.get("ANTHROPIC_BASE_URL")
    try:
        for r in range(repeats + 1):  # round 0 warms imports, the bash session start and connections up
            for name in times:
                scn = {"name": "bench_overlap", "description": "two 1 s tools",
                       "turns": _tool_turns(name != "standin", tool_s, more_s)}
                with ScriptedServer(scn) as srv:
                    os.environ["ANTHROPIC_BASE_URL"] = srv.base_url
                    seconds = _run_standin(srv.base_url) if name == "standin" else _run_ours(name == "ours")
                    if srv.violations:
                        raise RuntimeError(f"{name}: {srv.violations}")
                if r:
                    times[name].append(seconds)
    finally:
        if old is None:
            os.environ.pop("ANTHROPIC_BASE_URL", None)
        else:
            os.environ["ANTHROPIC_BASE_URL"] = old
    med = {k: statistics.median(v) for k, v in times.items()}
    goal = "saves the ~1 s overlap (>= 0.8 s less)"
    note = f"two `sleep {tool_s}` calls, model streams {more_s} s after them, + follow-up request; median of {repeats}"
    return [
        Result("turn wall time, 2 x 1 s tools + 1 s more output", med["ours"], med["standin"], "s", goal,
               med["standin"] - med["ours"] >= 0.8, "stand-in upstream loop (examples/)", note),
        Result("turn wall time, same, vs tools after the message", med["ours"], med["no_eager"], "s", goal,
               med["no_eager"] - med["ours"] >= 0.8, "unified loop with eager_tools=False", note),
    ]


# ------------------------------------------------------------------------------- 3. first-delta latency


async def _first_delta(mode: str, srv: Any) -> float:
    from anthropic import AsyncAnthropic

    from dc_impl.unified_streaming_loop import sampling_loop

    request_index = len(srv.requests)
    seen: list[float] = []
    if mode == "ours":
        def on_event(event: Any) -> None:
            if event.kind == "text_delta" and not seen:
                seen.append(time.monotonic())
        await sampling_loop(**_loop_kwargs(tools=[], stream_callback=on_event))
    else:
        client = AsyncAnthropic(base_url=srv.base_url, api_key="bench", max_retries=0)
        async with client.beta.messages.stream(model=MODEL, max_tokens=1024, messages=USER) as stream:
            async for event in stream:
                if event.type == "text" and not seen:
                    seen.append(time.monotonic())
        await client.close()
    sent = next(t for i, kind, t in srv.events_sent if i == request_index and kind == "content_block_delta")
    return (seen[0] - sent) * 1000


def bench_first_delta(quick: bool) -> list[Result]:
    from dc_verify.scripted_server import ScriptedServer

    repeats = 5 if quick else 15
    turn = {"blocks": [{"type": "text", "text": "first delta then more", "chunk_size": 6}], "stop_reason": "end_turn",
            "event_delay_s": 0.03}
    lat: dict[str, list[float]] = {"ours": [], "sdk": []}
    scn = {"name": "bench_latency", "description": "paced text", "turns": [turn] * (2 * (repeats + 1))}
    old = os.environ.get("ANTHROPIC_BASE_URL")
    with ScriptedServer(scn) as srv:
        os.environ["ANTHROPIC_BASE_URL"] = srv.base_url
        try:
            for r in range(repeats + 1):
                for mode in lat:
                    ms = asyncio.run(_first_delta(mode, srv))
                    if r:
                        lat[mode].append(ms)
        finally:
            if old is None:
                os.environ.pop("ANTHROPIC_BASE_URL", None)
            else:
                os.environ["ANTHROPIC_BASE_URL"] = old
    ours, sdk = statistics.median(lat["ours"]), statistics.median(lat["sdk"])
    return [Result("server writes first text delta -> stream_callback", ours, sdk, "ms",
                   "<= bare SDK + 2 ms", ours <= sdk + 2.0, "bare client.beta.messages.stream() sees it",
                   f"median of {repeats}; scripted server in-process (same clock)")]


def run(quick: bool) -> list[Result]:
    # upstream's computer tool asserts WIDTH/HEIGHT at construction; the agent's container sets them
    os.environ.setdefault("WIDTH", "1024")
    os.environ.setdefault("HEIGHT", "768")
    return bench_event_cost(quick) + bench_overlap(quick) + bench_first_delta(quick)


if __name__ == "__main__":
    for res in run(quick="--quick" in sys.argv):
        print(json.dumps(res.as_dict()))
