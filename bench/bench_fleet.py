"""Fleet rollout time: deploy/ansible/rollout.yml to 5, 10 and 20 local hosts with forks 1 and 5.

Each host is a local directory (`ansible_connection=local`) with its own copy of
examples/computer_use_demo and backup root, as in tests/fleet. Every rollout is the real playbook with the
default batches (`serial: [1, "25%", "100%"]`), the real installer and its verification (toggles
use_streaming_thinking and use_streaming_screenshot: receipt, import and toggle checks). The baseline of a
forks-5 rollout is the forks-1 rollout of the same fleet size; the baseline of the per-host cost is the
installer alone (same command line, run directly, median of 3 fresh targets). A second, identical rollout
(nothing to do) measures what Ansible itself costs. Rollout times are the fastest of 2 runs.

    python -m bench fleet          # print only
    python -m bench.bench_fleet    # and rewrite the "## fleet" section of docs/benchmarks.md
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import Result, quick_mode

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
sys.path.insert(0, str(ROOT / "tests" / "fleet"))  # the fleet tests' machinery: hosts, snapshots, ansible runs
import fleetkit  # noqa: E402

SIZES, FORKS = (5, 10, 20), (1, 5)
REPEAT = int(os.environ.get("BENCH_FLEET_REPEAT", "2"))  # fastest of N: the machine may be shared
QUICK_SIZES, QUICK_FORKS = (2, 4), (1, 2)


def _installer_alone(release: Path, where: Path, repeat: int = 3) -> tuple[float, float]:
    """Median wall time of the installer run directly on a fresh target, then of a second (no-op) run."""
    fresh, again = [], []
    for i in range(repeat):
        fleet = fleetkit.make_fleet(where / f"alone{i}", 1)
        argv = [*fleetkit.installer(release).split(), "--integrate", "--all", "--target", str(fleet.target("host1")),
                "--backup-dir", str(fleet.backup_dir("host1")), "--json", "--no-progress",
                *[f"--enable-{k.removeprefix('use_').replace('_', '-')}=true" for k in fleetkit.TOGGLES]]
        for out in (fresh, again):
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, env=fleetkit.clean_env())
            out.append(time.perf_counter() - t0)
    return statistics.median(fresh), statistics.median(again)


def _rollout(release: Path, where: Path, hosts: int, forks: int, repeat: int) -> tuple[float, float, int]:
    """Fastest of `repeat` (first rollout s, second identical rollout s, batches) on `hosts` fresh hosts."""
    runs = [_rollout_once(release, where / f"r{i}", hosts, forks) for i in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]


def _rollout_once(release: Path, where: Path, hosts: int, forks: int) -> tuple[float, float, int]:
    fleet = fleetkit.make_fleet(where, hosts)
    env = fleetkit.ansible_env(fleet, ANSIBLE_FORKS=str(forks))
    extra = {"dc_installer": fleetkit.installer(release), "dc_toggles": fleetkit.TOGGLES}
    first = fleetkit.run_playbook(fleet, "rollout.yml", extra, env=env, timeout=1800)
    if first.rc != 0 or any(c["changed"] != 1 for c in first.recap.values()) or len(first.recap) != hosts:
        raise RuntimeError(f"rollout of {hosts} hosts failed:\n{first.output[-3000:]}")
    second = fleetkit.run_playbook(fleet, "rollout.yml", extra, env=env, timeout=1800)
    if second.rc != 0 or any(c["changed"] for c in second.recap.values()):
        raise RuntimeError(f"second rollout of {hosts} hosts changed something:\n{second.output[-3000:]}")
    return first.seconds, second.seconds, fleetkit.play_starts(first.output, "Roll out claude-dc-streaming")


def measure(quick: bool) -> dict[str, object]:
    sizes, forks = (QUICK_SIZES, QUICK_FORKS) if quick else (SIZES, FORKS)
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        root = Path(tmp)
        release = fleetkit.snapshot_project(root / "release", "1.0.0")
        alone, alone_noop = _installer_alone(release, root)
        runs = []
        for n in sizes:
            for f in forks:
                first, second, batches = _rollout(release, root / f"fleet-{n}-{f}", n, f, 1 if quick else REPEAT)
                runs.append({"hosts": n, "forks": f, "rollout_s": round(first, 2), "noop_s": round(second, 2),
                             "batches": batches})
    return {"installer_s": round(alone, 2), "installer_noop_s": round(alone_noop, 2), "runs": runs,
            "loadavg": [round(x, 1) for x in os.getloadavg()], "forks": list(forks)}


def results(m: dict[str, object]) -> list[Result]:
    runs: list[dict] = m["runs"]  # type: ignore[assignment]
    lo, hi = min(m["forks"]), max(m["forks"])  # type: ignore[type-var]
    by = {(r["hosts"], r["forks"]): r for r in runs}
    out = []
    for n in sorted({r["hosts"] for r in runs}):
        a, b = by[n, hi], by[n, lo]
        out.append(Result(f"rollout of {n} hosts, forks {hi}", a["rollout_s"], b["rollout_s"], "s",
                          f"faster than forks {lo}", a["rollout_s"] < b["rollout_s"], f"forks {lo}",
                          notes=f"{a['batches']} batches; identical second rollout {a['noop_s']} s "
                                f"(forks {lo}: {b['noop_s']} s)"))
    n = max(r["hosts"] for r in runs)
    per_host = by[n, lo]["rollout_s"] / n
    out.append(Result(f"per host, {n} hosts, forks {lo}", round(per_host, 2), m["installer_s"], "s",  # type: ignore[arg-type]
                      "report (Ansible's share per host)", True, "installer alone, per host",
                      notes=f"installer no-op run {m['installer_noop_s']} s; load average {m['loadavg']}"))
    return out


def run(quick: bool) -> list[Result]:
    return results(measure(quick))


def write_section(m: dict[str, object]) -> None:
    """Replace (or add) the `## fleet` section of docs/benchmarks.md with the detailed table."""
    runs: list[dict] = m["runs"]  # type: ignore[assignment]
    lines = ["## fleet", "", f"Measured on {_dt.date.today().isoformat()} with `python -m bench.bench_fleet` "
             f"(Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {m['loadavg']} at the end: "
             "the machine was shared, so absolute times are pessimistic).", "",
             (__doc__ or "").strip().split("\n\n")[1].replace("\n", " "), "",
             "| hosts | forks | batches | rollout (s) | per host (s) | identical second rollout (s) |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['hosts']} | {r['forks']} | {r['batches']} | {r['rollout_s']:.1f} | "
                     f"{r['rollout_s'] / r['hosts']:.2f} | {r['noop_s']:.1f} |")
    lo = min(r["forks"] for r in runs)
    big = max((r for r in runs if r["forks"] == lo), key=lambda r: r["hosts"])
    share = big["rollout_s"] / big["hosts"] - m["installer_s"]  # type: ignore[operator]
    lines += ["", f"Per-host installer time, run directly (no Ansible): {m['installer_s']:.2f} s for a deploy with "
              f"verification, {m['installer_noop_s']:.2f} s for a run with nothing to do (median of 3). "
              f"At forks {lo} with {big['hosts']} hosts, Ansible adds about {share:.2f} s per host (its tasks, "
              "workers and module processes) on top of the installer. Here every host shares the same CPUs, so "
              "more forks cannot speed up the installers' CPU-bound verification much; on real hosts each "
              "installer runs on its own machine and a batch takes about ceil(batch / forks) x the per-host time "
              "(see docs/operations.md, Rolling out to hundreds of hosts).", ""]
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n\n"
    start = text.find("\n## fleet\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        end = text.find("\n<details>", start + 1) if end < 0 else end
        text = text[:start + 1] + "\n".join(lines) + (text[end:] if end >= 0 else "\n")
    else:
        at = text.find("\n<details>")
        text = (text[:at + 1] + "\n".join(lines) + text[at:]) if at >= 0 else text.rstrip("\n") + "\n\n" + "\n".join(lines)
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    measured = measure(quick_mode())
    for res in results(measured):
        print(f"{res.name}: {res.measured} {res.unit} (baseline {res.baseline_name}: {res.baseline} {res.unit}) "
              f"{res.notes}")
    if not quick_mode():
        write_section(measured)
        print(f"wrote the fleet section of {DOC.relative_to(ROOT)}")
