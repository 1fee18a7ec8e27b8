r"""Streaming bash tool: first-line latency to on_output, 200 MB throughput and peak memory, against bare pipes.

Latency: a Python child prints ``time.time()`` and then sleeps 0.1 s; the latency is the wall time
from that print to the moment the line is seen: by our ``on_output`` callback, by a bare
``asyncio`` ``readline()`` on the stdout pipe of a persistent bash running the same command (the
floor), and by the stand-in upstream
``BashTool20250124`` (examples/computer_use_demo), which shows nothing until the command has ended
and its 0.2 s poll has noticed. Ours and bare samples alternate (31 pairs, 7 with quick=True) so
both see the same machine load; medians. Stand-in: median of 11 (5).

Throughput and memory: ``yes ... | head -c 200000000`` (20 MB with quick=True) streamed through our
tool (callback counting characters, default 30000-character cap, full output spilled to a temp file
as the tool does) and through a bare ``asyncio`` pipe read loop, each in a fresh child process;
memory is the child's peak RSS during the run (VmHWM, reset through ``/proc/self/clear_refs`` just
before it) minus its RSS before the run. Ours and bare children alternate, 5 each (3 with quick=True);
median throughput, largest memory growth.

Policy check (issue 12.2): ``DEFAULT_POLICY.check`` on commands of 64 KB, 256 KB and 1 MB: one long
word (``echo zzz...``, a quadratic minute-long case before the fix) and the slowest of a set of
inputs built to make each rule backtrack (``rm rm rm ...``, ``a(){ b|b& };`` repeated, one command
per line, redirects followed by blanks, ...). Linearity: the 256 KB and 1 MB times against the 64 KB
time scaled by 4 and 16, measured in the same run (a quadratic rule would show 4x and 16x). Cost:
the 1 MB word against one regex scan of the same text (``(?:^|[\s;&|(])rm\s``, the head of one
rule). Medians of 5 (3 with quick=True) wall-clock samples.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench._common import Result

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PRINTER = "import sys, time; print(repr(time.time()), flush=True); time.sleep(0.1)"
LINE_CMD = f"{shlex.quote(sys.executable)} -c {shlex.quote(PRINTER)}"

_CHILD = r"""
import asyncio, json, resource, shutil, sys, tempfile, time
mode, size = sys.argv[1], int(sys.argv[2])
cmd = f"yes 'the quick brown fox jumps over the lazy dog 0123456789' | head -c {size}"

def status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    raise KeyError(key)

def start_mb():
    # resident size now; then reset the kernel's peak (VmHWM) so growth below an earlier peak shows
    now = status_mb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return now

def peak_mb():
    try:
        return status_mb("VmHWM")
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

async def bare():
    proc = await asyncio.create_subprocess_exec("/bin/bash", "-c", cmd, stdout=asyncio.subprocess.PIPE)
    before, t0, n = start_mb(), time.perf_counter(), 0
    while chunk := await proc.stdout.read(1 << 18):
        n += len(chunk)
    dt = time.perf_counter() - t0
    await proc.wait()
    return n, dt, before

async def ours():
    from dc_impl.tools.dc_bash import StreamingBashTool
    spill = tempfile.mkdtemp(prefix="bench_bash_")
    count = [0]
    tool = StreamingBashTool(on_output=lambda c: count.__setitem__(0, count[0] + len(c.text)),
                             spill_dir=spill, timeout=600)
    try:
        await tool(command="true")
        before, t0 = start_mb(), time.perf_counter()
        result = await tool(command=cmd)
        dt = time.perf_counter() - t0
        assert result.error is None and "omitted" in result.output, result
    finally:
        await tool.aclose()
        shutil.rmtree(spill, ignore_errors=True)
    return count[0], dt, before

n, dt, before = asyncio.run(bare() if mode == "bare" else ours())
print(json.dumps({"bytes": n, "seconds": dt, "growth_mb": peak_mb() - before}))
"""


async def _latency_pairs(reps: int) -> tuple[list[float], list[float]]:
    """Pairs of samples, ours and a bare pipe read of a persistent bash running the same command, in
    random order within each pair so both see the same machine load and neither always goes first."""
    from dc_impl.tools.dc_bash import OutputChunk, StreamingBashTool

    seen: list[tuple[float, str]] = []

    def on_output(chunk: OutputChunk) -> None:
        if not seen:
            seen.append((time.time(), chunk.text))

    async def one_ours() -> float:
        seen.clear()
        await tool(command=LINE_CMD)
        t_seen, text = seen[0]
        return t_seen - float(text.split()[0])

    async def one_bare() -> float:
        assert bare.stdin is not None and bare.stdout is not None
        bare.stdin.write(f"{LINE_CMD}; echo done\n".encode())
        line = await bare.stdout.readline()
        t_seen = time.time()
        await bare.stdout.readline()
        return t_seen - float(line.split()[0])

    tool = StreamingBashTool(on_output=on_output)
    bare = await asyncio.create_subprocess_exec("/bin/bash", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, start_new_session=True)
    ours_s: list[float] = []
    bare_s: list[float] = []
    order = random.Random(7)
    try:
        await tool(command="true")
        for _ in range(reps):
            if order.random() < 0.5:
                ours_s.append(await one_ours())
                bare_s.append(await one_bare())
            else:
                bare_s.append(await one_bare())
                ours_s.append(await one_ours())
    finally:
        await tool.aclose()
        bare.kill()
        await bare.wait()
    return ours_s, bare_s


async def _latency_standin(reps: int) -> list[float]:
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    from computer_use_demo.tools.bash import BashTool20250124

    tool = BashTool20250124()
    samples = []
    try:
        await tool(command="true")
        for _ in range(reps):
            result = await tool(command=LINE_CMD)
            samples.append(time.time() - float((result.output or "").split()[0]))
    finally:
        session = tool._session
        if session is not None:
            try:
                os.killpg(session._process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await session._process.wait()
    return samples


def _child(mode: str, size: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(size)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, check=True)
    data = json.loads(out.stdout)
    if data["bytes"] != size:
        raise RuntimeError(f"{mode} child saw {data['bytes']} of {size} bytes")
    return data


# built to make a rule backtrack: (prefix, repeated unit); see tests/dc_impl/test_bash_policy_cost.py
_PATHOLOGICAL = {
    "rm rm rm": ("", "rm "), "rm per line": ("", "rm\n"), "rm then blanks": ("rm ", " "),
    "chmod options": ("chown", " -Ra"), "fork heads": ("", "a(){ "), "fork near misses": ("", "a(){ b|b& };"),
    "redirect blanks": (">", " "), "sudo sudo": ("", "sudo "), "separators": ("", ";"), "hex": ("echo ", "0123456789abcdef"),
}
_SIZES = (1 << 16, 1 << 18, 1 << 20)


def _command(prefix: str, unit: str, size: int) -> str:
    return (prefix + unit * (size // len(unit) + 1))[:size]


def _policy_results(quick: bool) -> list[Result]:
    from dc_impl.tools.dc_bash import DEFAULT_POLICY

    reps = 3 if quick else 5

    def check_ms(command: str) -> float:
        samples = []
        for _ in range(reps):
            t0 = time.perf_counter()
            DEFAULT_POLICY.check(command)
            samples.append((time.perf_counter() - t0) * 1000)
        return statistics.median(samples)

    word = {size: check_ms("echo " + "z" * (size - 5)) for size in _SIZES}
    worst = {size: 0.0 for size in _SIZES}
    worst_name = ""
    for name, (prefix, unit) in _PATHOLOGICAL.items():
        for size in _SIZES:
            ms = check_ms(_command(prefix, unit, size))
            if ms > worst[size]:
                worst[size] = ms
                worst_name = name if size == _SIZES[-1] else worst_name
    scan = re.compile(r"(?:^|[\s;&|(])rm\s", re.IGNORECASE)
    big = "echo " + "z" * (_SIZES[-1] - 5)
    scan_samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        scan.search(big)
        scan_samples.append((time.perf_counter() - t0) * 1000)
    scan_ms = statistics.median(scan_samples)
    small, mid, large = _SIZES
    return [
        Result("policy check, 1 MB word", word[large], scan_ms, "ms", "< 1000 ms", word[large] < 1000,
               "one regex scan of the same 1 MB", notes=f"64 KB {word[small]:.2f} ms, 256 KB {word[mid]:.2f} ms"),
        Result("policy check, 1 MB word, linearity", word[large], 16 * word[small], "ms", "<= 2x linear (16 x 64 KB)",
               word[large] <= 2 * 16 * word[small], "64 KB word check x 16"),
        Result("policy check, slowest pathological 256 KB", worst[mid], 4 * worst[small], "ms",
               "<= 2x linear (4 x 64 KB)", worst[mid] <= 2 * 4 * worst[small], "slowest 64 KB check x 4"),
        Result("policy check, slowest pathological 1 MB", worst[large], 16 * worst[small], "ms",
               "<= 2x linear (16 x 64 KB) and < 1000 ms", worst[large] <= 2 * 16 * worst[small] and worst[large] < 1000,
               "slowest 64 KB check x 16", notes=f"{worst_name} (the slowest of {len(_PATHOLOGICAL)} inputs)"),
    ]


def run(quick: bool) -> list[Result]:
    policy = _policy_results(quick)
    reps = 7 if quick else 31
    ours_s, bare_s = asyncio.run(_latency_pairs(reps))
    ours, bare = statistics.median(ours_s) * 1000, statistics.median(bare_s) * 1000
    floors = f"fastest samples: ours {min(ours_s) * 1000:.3f} ms, bare {min(bare_s) * 1000:.3f} ms"
    standin = statistics.median(asyncio.run(_latency_standin(5 if quick else 11))) * 1000

    size = 20_000_000 if quick else 200_000_000
    runs = 3 if quick else 5
    ours_runs, bare_runs = [], []
    for _ in range(runs):   # alternate, so both see the same machine load
        ours_runs.append(_child("ours", size))
        bare_runs.append(_child("bare", size))
    mbps = statistics.median(size / 1e6 / r["seconds"] for r in ours_runs)
    bare_mbps = statistics.median(size / 1e6 / r["seconds"] for r in bare_runs)
    growth = max(r["growth_mb"] for r in ours_runs)
    bare_growth = max(r["growth_mb"] for r in bare_runs)
    mb = size // 1_000_000
    return [
        Result("first line -> on_output latency", ours, bare, "ms", "<= 2x bare pipe read", ours <= 2 * bare,
               "bare asyncio readline, persistent bash", notes=floors),
        Result("first line -> visible latency vs stand-in", ours, standin, "ms", "<= 0.1x stand-in (200 ms poll)",
               ours <= 0.1 * standin, "stand-in BashTool20250124 (result after command end)"),
        Result(f"{mb} MB stdout throughput", mbps, bare_mbps, "MB/s", ">= 0.5x bare pipe read",
               mbps >= 0.5 * bare_mbps, "bare asyncio pipe read loop",
               notes="ours also decodes, keeps head+tail, calls on_output per read and spills every byte to disk"),
        Result(f"peak RSS growth streaming {mb} MB", growth, bare_growth, "MB", "< 64 MB", growth < 64,
               "bare asyncio pipe read loop (child process)"),
        *policy,
    ]
