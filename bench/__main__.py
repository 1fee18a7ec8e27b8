"""Run every benchmark module and publish the numbers in docs/benchmarks.md.

    python -m bench            # full run, rewrites docs/benchmarks.md
    python -m bench file bash  # only the named modules (bench_file, bench_bash), prints only
    BENCH_QUICK=1 python -m bench   # smaller sizes, for a smoke run
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import platform
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench._common import Result, quick_mode

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    console = Console()
    names = argv or discover()
    quick = quick_mode()
    sections: list[tuple[str, list[Result]]] = []
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        console.print(f"[bold]bench_{name}[/]: {(module.__doc__ or '').strip().splitlines()[0]}")
        results = module.run(quick)
        sections.append((name, results))
        table = Table("measure", "ours", "baseline", "ratio", "goal", "met")
        for r in results:
            table.add_row(r.name, f"{r.measured:.3f} {r.unit}", f"{r.baseline:.3f} {r.unit} ({r.baseline_name})",
                          f"{r.ratio:.2f}x", r.goal, "yes" if r.met else "NO")
        console.print(table)
    if not argv and not quick:
        write_doc(sections)
        console.print(f"wrote {DOC.relative_to(ROOT)}")
    return 0 if all(r.met for _, rs in sections for r in rs) else 1


def write_doc(sections: list[tuple[str, list[Result]]]) -> None:
    today = _dt.date.today().isoformat()
    lines = [
        "# Benchmarks",
        "",
        f"Measured on {today} with `make bench` (Python {platform.python_version()}, {platform.machine()},"
        f" {platform.system()}). Each number is next to a baseline measured in the same run; the",
        "ratio is ours / baseline. Regenerate with `make bench`.",
        "",
    ]
    for name, results in sections:
        module = importlib.import_module(f"bench.bench_{name}")
        lines += [f"## {name}", "", (module.__doc__ or "").strip(), "",
                  "| measure | ours | baseline | ratio | goal | met |", "|---|---|---|---|---|---|"]
        for r in results:
            lines.append(f"| {r.name} | {r.measured:.3f} {r.unit} | {r.baseline:.3f} {r.unit} ({r.baseline_name}) "
                         f"| {r.ratio:.2f}x | {r.goal} | {'yes' if r.met else 'NO'} |")
        notes = [r for r in results if r.notes]
        if notes:
            lines.append("")
            lines += [f"- {r.name}: {r.notes}" for r in notes]
        lines.append("")
    lines += ["<details><summary>raw JSON</summary>", "", "```json",
              json.dumps({n: [r.as_dict() for r in rs] for n, rs in sections}, indent=1), "```", "</details>", ""]
    DOC.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
