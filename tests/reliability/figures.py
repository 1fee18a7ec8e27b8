"""Figures for docs/reliability.md: run the reliability suites (or read a JUnit XML) and print a Markdown table.

    python tests/reliability/figures.py                 # full matrix: pytest -m "reliability or slow" tests/reliability
    python tests/reliability/figures.py --fast          # the subset `make test` runs
    python tests/reliability/figures.py --junit FILE    # summarise an existing pytest --junit-xml report

Counts come from the JUnit XML pytest writes (no plugin): cases run, passed, failed, xfailed (known
bugs pinned by strict xfail), skipped, wall time per suite; plus the statistics some tests record with
``record_property`` (random-kill outcomes, toggle concurrency).
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def run_suite(fast: bool, junit: Path, basetemp: Path) -> int:
    marker = "reliability and not slow" if fast else "reliability or slow"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marker, "--timeout=1500",
           "-o", "junit_family=xunit1",  # keeps the record_property statistics in the report
           f"--junit-xml={junit}", f"--basetemp={basetemp}", str(HERE)]
    return subprocess.call(cmd, cwd=REPO, stdout=sys.stderr)  # pytest progress to stderr, the table to stdout


def summarise(junit: Path) -> dict[str, Any]:
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    props: dict[str, Any] = {}
    for suite in suites:
        for case in suite.iter("testcase"):
            module = str(case.get("classname", "")).rsplit(".", 1)[-1] or "?"
            row = rows[module]
            row["run"] += 1
            row["seconds"] += float(case.get("time", 0))
            skipped = case.find("skipped")
            if case.find("failure") is not None or case.find("error") is not None:
                row["failed"] += 1
            elif skipped is not None:
                row["xfailed" if "xfail" in str(skipped.get("type", "")) + str(skipped.get("message", ""))
                    else "skipped"] += 1
            else:
                row["passed"] += 1
            for prop in case.iter("property"):
                try:
                    props[str(prop.get("name"))] = ast.literal_eval(str(prop.get("value")))
                except (ValueError, SyntaxError):
                    props[str(prop.get("name"))] = prop.get("value")
    total: dict[str, float] = defaultdict(float)
    for row in rows.values():
        for k, v in row.items():
            total[k] += v
    wall = sum(float(s.get("time", 0)) for s in suites)
    return {"rows": {k: dict(v) for k, v in sorted(rows.items())}, "total": dict(total), "wall": wall,
            "properties": props}


def markdown(summary: dict[str, Any], label: str) -> str:
    cols = ("run", "passed", "failed", "xfailed", "skipped", "seconds")
    lines = [f"Figures ({label}, {_dt.date.today().isoformat()}, wall time {summary['wall']:.0f} s):", "",
             "| suite | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, row in [*summary["rows"].items(), ("**total**", summary["total"])]:
        cells = [f"{row.get(c, 0):.0f}" if c != "seconds" else f"{row.get(c, 0):.1f}" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, value in sorted(summary["properties"].items()):
        lines.append("")
        lines.append(f"- `{name}`: {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junit", type=Path, help="summarise this JUnit XML instead of running the suites")
    parser.add_argument("--fast", action="store_true", help="run only the `make test` subset")
    args = parser.parse_args(argv)
    code = 0
    junit = args.junit
    if junit is None:
        work = Path(tempfile.mkdtemp(prefix="dc-reliability-"))
        junit = work / "reliability.xml"
        code = run_suite(args.fast, junit, work / "tmp")
    print(markdown(summarise(junit), "fast subset" if args.fast else "full matrix"))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
