"""Render a suite result: a rich table, the JSON contract document, a JUnit XML file for CI.

Check details carry arbitrary text (tracebacks with ANSI colour codes, NUL bytes from a tool's
output, paths with undecodable bytes, square brackets). Every renderer makes it safe for its
medium: the JUnit XML holds only characters XML 1.0 allows (colour codes stripped, other forbidden
characters written as visible ``\\xNN`` / ``\\uNNNN`` escapes), the JSON document is strict UTF-8 (no
lone surrogates), and the table never interprets a detail as rich markup.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .checks import CheckSpec
from .runner import FAIL, PASS, SKIP, SuiteResult

_STYLE = {PASS: "green", FAIL: "bold red", SKIP: "yellow"}
# The JUnit test case that carries a failure of the run as a whole (nothing verified) when no check failed.
GATE_CASE = "verification_gate"

# ANSI escape sequences: CSI (colours, cursor), OSC (titles, hyperlinks) and two-byte escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# Everything outside XML 1.0's Char production (control characters, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte smuggled in by surrogateescape (a path, tool output)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_safe(text: str) -> str:
    """``text`` with ANSI escapes removed and every character XML 1.0 forbids written as an escape."""
    return _NOT_XML.sub(_visible, _ANSI.sub("", text))


def display_safe(text: str) -> str:
    """For a terminal table: the same as the XML (no raw control codes or surrogates reach the screen)."""
    return xml_safe(text)


def json_safe(value: Any) -> Any:
    """``value`` with every string's lone surrogates escaped, so the document encodes as strict UTF-8."""
    if isinstance(value, str):
        return _SURROGATE.sub(_visible, value)
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def render_table(console: Console, suite: SuiteResult) -> None:
    where = display_safe(str(suite.target)) if suite.target else "the project's own dc_impl"
    table = Table(title=Text(f"verify_streaming: {where}"), title_justify="left")
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for c in suite.checks:
        table.add_row(Text(display_safe(c.name)), Text(c.status.upper(), style=_STYLE[c.status]),
                      f"{c.duration_s:.2f}s", Text(display_safe(c.detail)), end_section=False)
    console.print(table)
    counts = {s: sum(1 for c in suite.checks if c.status == s) for s in (PASS, FAIL, SKIP)}
    verdict = "[green]PASSED[/]" if suite.passed else "[bold red]FAILED[/]"
    console.print(f"{verdict}: {counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped "
                  f"in {suite.duration_s:.2f} s")
    if not suite.passed:  # why, on one line (never wrapped), for a CI log
        console.print(Text(display_safe(suite.reason or ""), style="bold red"), soft_wrap=True)


def to_json(suite: SuiteResult) -> str:
    return json.dumps(json_safe(suite.to_dict()), indent=2)


def junit_tree(suite: SuiteResult, suite_name: str = "verify_streaming") -> ET.ElementTree:
    counts = {s: sum(1 for c in suite.checks if c.status == s) for s in (PASS, FAIL, SKIP)}
    gate = suite.reason if not suite.passed and not suite.failed else None
    tests, failures = len(suite.checks) + (gate is not None), counts[FAIL] + (gate is not None)
    root = ET.Element("testsuites", name=suite_name, tests=str(tests), failures=str(failures),
                      errors="0", skipped=str(counts[SKIP]), time=f"{suite.duration_s:.3f}")
    ts = ET.SubElement(root, "testsuite", name=suite_name, tests=str(tests), failures=str(failures), errors="0",
                       skipped=str(counts[SKIP]), time=f"{suite.duration_s:.3f}")
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", name="target",
                  value=xml_safe(str(suite.target)) if suite.target else "(project)")
    for c in suite.checks:
        detail = xml_safe(c.detail)
        case = ET.SubElement(ts, "testcase", classname=suite_name, name=xml_safe(c.name), time=f"{c.duration_s:.3f}")
        if c.status == FAIL:
            failure = ET.SubElement(case, "failure", message=detail[:500], type="VerificationFailure")
            failure.text = detail
        elif c.status == SKIP:
            ET.SubElement(case, "skipped", message=detail)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = detail
    if gate is not None:
        case = ET.SubElement(ts, "testcase", classname=suite_name, name=GATE_CASE, time="0.000")
        failure = ET.SubElement(case, "failure", message=xml_safe(gate), type="NothingVerified")
        failure.text = xml_safe(gate)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: Path, suite: SuiteResult) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        junit_tree(suite).write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written report next to the real one
        raise


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
