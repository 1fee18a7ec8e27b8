"""Streaming computer tool vs upstream's algorithm under the same private Xvfb (1024x768), with a real Tk app.

Upstream's algorithm is the stand-in's `ComputerTool20250124` for actions (xdotool, then a fixed
2.0 s sleep, then scrot) and, for plain screenshots, what upstream's `screenshot()` runs: `scrot -p`
into a file, then ImageMagick `convert -resize WxH!` on it (always, even at the same size), read and
base64-encode. ImageMagick is Debian's real `convert` (the first `convert` on PATH that is a binary,
not a script stand-in). Ours is `StreamingComputerTool20250124` (settle: 300 ms quiet window, 2.0 s
cap; in-process mss capture, PNG level 1). Times are medians of 3 (5 for screenshots).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench._common import Result

ROOT = Path(__file__).resolve().parent.parent


def real_convert_dir() -> str | None:
    """Directory of the first ``convert`` on PATH that is a real binary (ELF), not a script."""
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(entry or ".") / "convert"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            with open(candidate.resolve(), "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    return str(Path(entry))
    return None


_CHILD = """
import asyncio, base64, json, os, sys, time, resource
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, os.path.join(sys.argv[1], "examples"))
which, action, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
if which == "ours":
    from dc_impl.tools.dc_screenshot import StreamingComputerTool20250124 as T
else:
    from computer_use_demo.tools.computer import ComputerTool20250124 as T
tool = T()

async def upstream_screenshot():
    # upstream's screenshot(): scrot -p into a file, then always convert -resize WxH!, read, base64
    path = f"/tmp/outputs/bench_{os.getpid()}.png"
    os.makedirs("/tmp/outputs", exist_ok=True)
    for cmd in (f"scrot -p -o {path}", f"convert {path} -resize 1024x768! {path}"):
        p = await asyncio.create_subprocess_shell(cmd)
        await p.wait()
    data = open(path, "rb").read()
    os.unlink(path)
    return base64.b64encode(data).decode()

async def main():
    out = []
    for i in range(n):
        t0 = time.monotonic()
        if action == "screenshot":
            img = (await tool(action="screenshot")).base64_image if which == "ours" else await upstream_screenshot()
        else:
            x = 300 + 37 * i
            img = (await tool(action="left_click", coordinate=[x, 400])).base64_image
        out.append({"s": time.monotonic() - t0, "end": time.monotonic(), "bytes": len(base64.b64decode(img)),
                    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    "pixel": __import__("PIL.Image", fromlist=["Image"]).open(
                        __import__("io").BytesIO(base64.b64decode(img))).convert("RGB").getpixel((100, 100))})
    print(json.dumps(out))
asyncio.run(main())
"""


def _child(which: str, action: str, n: int, env: dict[str, str]) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), which, action, str(n)], env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"bench child failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _click_case(x, env: dict[str, str], delay_ms: int, which: str, repeat: int) -> tuple[float, bool]:
    from dc_verify.checks.xdisplay import COLOURS

    times, caught = [], True
    for _ in range(repeat):
        app = x.app("--delay-ms", str(delay_ms))
        rows = _child(which, "click", 1, env)
        changes = app.changes()
        times.append(rows[0]["s"])
        expected = tuple(int(COLOURS[1][i:i + 2], 16) for i in (1, 3, 5))
        caught = caught and bool(changes) and tuple(rows[0]["pixel"]) == expected
    return statistics.median(times), caught


def run(quick: bool) -> list[Result]:
    from dc_verify.checks.xdisplay import PrivateX, missing_parts

    reason = missing_parts() or (None if real_convert_dir() else "Debian's ImageMagick convert is not installed")
    if reason:
        return [Result("screenshot benchmark", 0.0, 1.0, "s", "needs X", False, "skipped", notes=reason)]
    repeat = 1 if quick else 3
    results: list[Result] = []
    with PrivateX() as x:
        env = {**os.environ, **x.env(), "PATH": real_convert_dir() + os.pathsep + os.environ["PATH"]}
        for delay, goal, limit in ((150, "<= 0.35x upstream", 0.35), (900, "< 1x upstream, effect captured", 1.0)):
            ours, ours_ok = _click_case(x, env, delay, "ours", repeat)
            theirs, _ = _click_case(x, env, delay, "upstream", repeat)
            results.append(Result(f"click, effect after {delay} ms -> result", ours, theirs, "s", goal,
                                  ours / theirs <= limit and ours_ok, "upstream: xdotool + 2.0 s sleep + scrot",
                                  notes=f"effect in our frame: {'yes' if ours_ok else 'NO'}"))
        app = x.app("--pattern")
        shots = 3 if quick else 5
        ours_rows = _child("ours", "screenshot", shots, env)
        theirs_rows = _child("upstream", "screenshot", shots, env)
        app.stop()
        ours_t = statistics.median(r["s"] for r in ours_rows[1:])
        theirs_t = statistics.median(r["s"] for r in theirs_rows[1:])
        results.append(Result("screenshot of a busy 1024x768 screen", ours_t, theirs_t, "s", "<= 0.5x upstream",
                              ours_t / theirs_t <= 0.5, "scrot -p + convert -resize"))
        ours_b, theirs_b = ours_rows[-1]["bytes"], theirs_rows[-1]["bytes"]
        results.append(Result("PNG size of that screenshot", ours_b / 1024, theirs_b / 1024, "KiB",
                              "<= 1.5x upstream", ours_b / theirs_b <= 1.5, "scrot -p + convert -resize"))
        app = x.app("--pattern")
        many = _child("ours", "screenshot", 10 if quick else 60, env)
        app.stop()
        early, late = many[4]["rss_mb"], many[-1]["rss_mb"]
        results.append(Result(f"peak RSS after {len(many)} screenshots", late, early, "MB",
                              "<= 1.1x the peak after 5 (no frame history kept)", late <= 1.1 * early,
                              "peak RSS after 5 screenshots"))
    return results


if __name__ == "__main__":
    for r in run(os.environ.get("BENCH_QUICK") == "1"):
        print(r)
