"""Render a suite result: a rich table, the JSON contract document, a JUnit XML file for CI."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .checks import CheckSpec
from .runner import FAIL, PASS, SKIP, SuiteResult

_STYLE = {PASS: "green", FAIL: "bold red", SKIP: "yellow"}


def render_table(console: Console, suite: SuiteResult) -> None:
    where = str(suite.target) if suite.target else "the project's own dc_impl"
    table = Table(title=f"verify_streaming: {where}", title_justify="left")
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for c in suite.checks:
        table.add_row(c.name, f"[{_STYLE[c.status]}]{c.status.upper()}[/]", f"{c.duration_s:.2f}s", c.detail,
                      end_section=False)
    console.print(table)
    counts = {s: sum(1 for c in suite.checks if c.status == s) for s in (PASS, FAIL, SKIP)}
    verdict = "[green]PASSED[/]" if suite.passed else "[bold red]FAILED[/]"
    console.print(f"{verdict}: {counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped "
                  f"in {suite.duration_s:.2f} s")


def to_json(suite: SuiteResult) -> str:
    return json.dumps(suite.to_dict(), indent=2)


def junit_tree(suite: SuiteResult, suite_name: str = "verify_streaming") -> ET.ElementTree:
    counts = {s: sum(1 for c in suite.checks if c.status == s) for s in (PASS, FAIL, SKIP)}
    root = ET.Element("testsuites", name=suite_name, tests=str(len(suite.checks)), failures=str(counts[FAIL]),
                      errors="0", skipped=str(counts[SKIP]), time=f"{suite.duration_s:.3f}")
    ts = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(suite.checks)),
                       failures=str(counts[FAIL]), errors="0", skipped=str(counts[SKIP]),
                       time=f"{suite.duration_s:.3f}")
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", name="target", value=str(suite.target) if suite.target else "(project)")
    for c in suite.checks:
        case = ET.SubElement(ts, "testcase", classname=suite_name, name=c.name, time=f"{c.duration_s:.3f}")
        if c.status == FAIL:
            failure = ET.SubElement(case, "failure", message=c.detail[:500], type="VerificationFailure")
            failure.text = c.detail
        elif c.status == SKIP:
            ET.SubElement(case, "skipped", message=c.detail)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = c.detail
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: Path, suite: SuiteResult) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    junit_tree(suite).write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)


def checks_listing(specs: list[CheckSpec]) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "group": s.group, "summary": s.summary, "component": s.component, "toggle": s.toggle}
        for s in specs
    ]


def render_listing(console: Console, specs: list[CheckSpec]) -> None:
    table = Table(title="verification checks", title_justify="left")
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("group", no_wrap=True)
    table.add_column("required when", no_wrap=True)
    table.add_column("what it proves", overflow="fold")
    for s in specs:
        need = " + ".join(x for x in (s.component, s.toggle) if x) or "a target is given"
        table.add_row(s.name, s.group, need, s.summary)
    console.print(table)
