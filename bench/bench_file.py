"""Streaming file tool: `view` of the last 50 lines of a 1 GB file -- peak memory and time vs a bare line-by-line read.

A file of ~100-byte lines is generated once into a temp dir (1 GB; 100 MB with `quick`) and deleted
afterwards. Each measurement runs in a fresh child process (cold line index, nothing imported
before), which reports its `ru_maxrss` growth over the measured call and the call's wall time.
Ours: `StreamingEditTool20250124` `view` with `view_range=[n-49, n]` (n = number of lines, the range
upstream's numbering gives the last 50 lines). Baseline: `for line in open(path, "rb"): pass`, the
cheapest line-by-line Python read. For contrast, the upstream stand-in's `view` of the same range on
a smaller file (it reads the whole file into memory) next to ours on that file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._common import Result

ROOT = Path(__file__).resolve().parent.parent
LINE_FILL = "x" * 88

_VIEW = """
import asyncio, json, resource, sys, time
{imports}
path, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tool = {tool}()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
result = asyncio.run(tool(command="view", path=path, view_range=[first, last]))
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"s": elapsed, "growth_mb": (peak - before) / 1024, "out": result.output}}))
"""

OURS = _VIEW.format(imports="from dc_impl.tools.dc_file import StreamingEditTool20250124",
                    tool="StreamingEditTool20250124")
UPSTREAM = _VIEW.format(imports="sys.path.insert(0, sys.argv[4])\n"
                                "from computer_use_demo.tools.edit import EditTool20250124",
                        tool="EditTool20250124")

BARE = """
import json, resource, sys, time
path = sys.argv[1]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
with open(path, "rb") as fh:
    for _line in fh:
        pass
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"s": elapsed, "growth_mb": (peak - before) / 1024}))
"""


def generate(path: Path, size: int) -> int:
    """Write numbered ~100-byte lines until ``size`` bytes; return the number of lines."""
    lines = 0
    block_lines = 10000
    with open(path, "w", encoding="utf-8") as fh:
        written = 0
        while written < size:
            block = "".join(f"{i:09d} {LINE_FILL}\n" for i in range(lines, lines + block_lines))
            fh.write(block)
            written += len(block)
            lines += block_lines
    return lines


def child(script: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=600, check=True
    )
    return json.loads(proc.stdout)


def best_of(runs: int, script: str, *args: str) -> dict:
    """Fastest of ``runs`` child runs (with its memory growth): the least disturbed measurement."""
    return min((child(script, *args) for _ in range(runs)), key=lambda r: r["s"])


def run(quick: bool) -> list[Result]:
    size = (100 if quick else 1000) * 1_000_000
    small = 20_000_000
    runs = 1 if quick else 3
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench_file_") as tmp:
        big = Path(tmp) / "big.txt"
        n = generate(big, size)
        first, last = n - 49, n
        child(BARE, str(big))  # warm the page cache for both sides
        bare = best_of(runs, BARE, str(big))
        ours = best_of(runs, OURS, str(big), str(first), str(last))
        expected_last = f"{last:6}\t{n - 1:09d} {LINE_FILL}"
        correct = ours["out"].rstrip("\n").endswith(expected_last) and ours["out"].count("\n") == 51
        mb = size // 1_000_000
        results.append(Result(
            name=f"view last 50 lines of {mb} MB: time", measured=ours["s"], baseline=bare["s"], unit="s",
            goal="<= 3x baseline", met=correct and ours["s"] <= 3 * bare["s"],
            baseline_name="bare line-by-line read (binary)",
            notes="" if correct else "OUTPUT WRONG",
        ))
        results.append(Result(
            name=f"view last 50 lines of {mb} MB: peak memory growth", measured=ours["growth_mb"],
            baseline=size / 1_000_000, unit="MB", goal="< 64 MB", met=ours["growth_mb"] < 64,
            baseline_name="file size: what reading it whole would take",
            notes=f"bare line-by-line read grew {bare['growth_mb']:.1f} MB",
        ))
        big.unlink()

        mid = Path(tmp) / "small.txt"
        m = generate(mid, small)
        examples = str(ROOT / "examples")
        up = best_of(1, UPSTREAM, str(mid), str(m - 49), str(m), examples)
        ours_small = best_of(1, OURS, str(mid), str(m - 49), str(m))
        same = up["out"] == ours_small["out"]
        results.append(Result(
            name=f"view last 50 lines of {small // 1_000_000} MB: peak memory growth", measured=ours_small["growth_mb"],
            baseline=up["growth_mb"], unit="MB", goal="below upstream, same output",
            met=same and ours_small["growth_mb"] < up["growth_mb"], baseline_name="upstream stand-in view",
            notes="" if same else "OUTPUT DIFFERS FROM UPSTREAM",
        ))
        results.append(Result(
            name=f"view last 50 lines of {small // 1_000_000} MB: time", measured=ours_small["s"],
            baseline=up["s"], unit="s", goal="contrast only", met=True, baseline_name="upstream stand-in view",
        ))
    return results


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(json.dumps(r.as_dict()))
