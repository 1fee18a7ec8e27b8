"""The check registry: names, groups, where each check runs and what it needs to be required.

A check is *required* only when the component it exercises is installed (per the target's receipt)
and its toggle is on; otherwise it is reported as ``skip`` with that reason. Without ``--target`` the
project's own ``dc_impl`` is verified and everything counts as installed and switched on.

This module is pure data plus selection logic: it imports no deployed code, so the parent process can
use it. Check implementations live in ``deployment.py`` (parent side) and ``toggles_check.py``,
``tool_checks.py``, ``loop_checks.py``, ``live_check.py`` (run inside the child interpreter).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .target import TargetInfo


class UnknownCheckError(ValueError):
    """``--check`` named something that is neither a check nor a group."""


@dataclass(frozen=True)
class CheckSpec:
    name: str
    group: str
    summary: str
    where: str  # "parent" or "child"
    component: str | None = None
    toggle: str | None = None


_SPECS = (
    CheckSpec("receipt", "deployment", "deployed files match the hashes and modes in the receipt (no drift)",
              "parent"),
    CheckSpec("imports", "deployment", "every deployed module imports in a clean interpreter", "parent",
              component="core"),
    CheckSpec("toggles", "deployment",
              "toggles file exists and validates; the runtime reader sees a flip without restart", "child",
              component="core"),
    CheckSpec("bash_streaming", "bash",
              "a paced command's output arrives in several chunks spread in time, before the command ends",
              "child", component="bash-tool", toggle="use_streaming_bash"),
    CheckSpec("bash_exit_code", "bash", "the exit code of a failing command is reported to the model",
              "child", component="bash-tool", toggle="use_streaming_bash"),
    CheckSpec("bash_timeout", "bash", "a timeout kills the command's whole process group (no survivor)",
              "child", component="bash-tool", toggle="use_streaming_bash"),
    CheckSpec("file_roundtrip", "file",
              "create / view / str_replace / insert (/ undo) round trip; bytes outside the edit unchanged",
              "child", component="file-tool", toggle="use_streaming_file"),
    CheckSpec("file_large_view", "file", "viewing a large file returns bounded output", "child",
              component="file-tool", toggle="use_streaming_file"),
    CheckSpec("screenshot_settle", "screenshot",
              "under a private Xvfb, a click's effect 300 ms later is in the returned frame, well before 2.0 s",
              "child", component="screenshot-tool", toggle="use_streaming_screenshot"),
    CheckSpec("screenshot_capture", "screenshot", "a screenshot is a PNG of the API's size, captured in process",
              "child", component="screenshot-tool", toggle="use_streaming_screenshot"),
    CheckSpec("loop_text", "loop", "a text-only turn through the deployed loop over real HTTP", "child",
              component="unified-streaming", toggle="use_unified_streaming"),
    CheckSpec("loop_tool_midstream", "loop", "a bash tool_use starts before the server sends message_stop",
              "child", component="unified-streaming", toggle="use_unified_streaming"),
    CheckSpec("loop_two_tools", "loop", "two tool_use blocks in one message: both results, in order, one message",
              "child", component="unified-streaming", toggle="use_unified_streaming"),
    CheckSpec("loop_thinking", "loop", "thinking + tool_use: the follow-up carries the thinking block unchanged",
              "child", component="unified-streaming", toggle="use_unified_streaming"),
    CheckSpec("loop_overloaded", "loop", "an overloaded error event mid-stream is retried and recovered",
              "child", component="unified-streaming", toggle="use_unified_streaming"),
    CheckSpec("loop_validation", "loop", "the scripted server's request validation recorded zero violations",
              "child", component="unified-streaming", toggle="use_unified_streaming"),
    CheckSpec("ui_hook", "ui", "upstream's streamlit.py serves the streaming page with use_unified_streaming on, "
              "its own page with it off (Streamlit AppTest)", "child", component="ui-hook"),
    CheckSpec("live", "live", "one short real-API turn (bash echo of a nonce); needs --live and a key", "child",
              component="unified-streaming", toggle="use_unified_streaming"),
)

CHECKS: dict[str, CheckSpec] = {s.name: s for s in _SPECS}
GROUPS: dict[str, tuple[str, ...]] = {}
for _spec in _SPECS:
    GROUPS.setdefault(_spec.group, ())
    GROUPS[_spec.group] += (_spec.name,)


def select_checks(names: Iterable[str]) -> list[CheckSpec]:
    """Checks named (or whose group is named), in registry order; all of them when ``names`` is empty.

    Names that are all blank (``--check ''``, ``--check ,``) select nothing -- not everything: the suite
    then reports that no check was selected, and fails.
    """
    wanted: set[str] = set()
    given = False
    for raw in names:
        given = True
        for name in (part.strip() for part in raw.split(",")):
            if not name:
                continue
            if name in CHECKS:
                wanted.add(name)
            elif name in GROUPS:
                wanted.update(GROUPS[name])
            else:
                known = ", ".join(list(CHECKS) + [g for g in GROUPS if g not in CHECKS])
                raise UnknownCheckError(f"unknown check {name!r} (known: {known})")
    if not given:
        return list(_SPECS)
    return [s for s in _SPECS if s.name in wanted]


def skip_reason(spec: CheckSpec, info: TargetInfo, *, live: bool, environ: Mapping[str, str]) -> str | None:
    """Why ``spec`` is not required for this target, or None when it must run."""
    if spec.name == "live":
        if not live:
            return "not requested (pass --live to run one real-API turn)"
        if not environ.get("ANTHROPIC_API_KEY"):
            return "ANTHROPIC_API_KEY is not set"
    if spec.name == "receipt":  # with a target it always runs: nothing deployed is a failure, not a skip
        if info.root is None:
            return "no --target: the project's own dc_impl has no receipt"
        return None
    if spec.component is not None and info.components is not None:
        if info.receipt is None:
            why = info.receipt_error or f"no receipt at {info.receipt_path}"
            return f"component {spec.component} not known to be installed ({why})"
        if spec.component not in info.components:
            return f"component {spec.component} is not installed (per receipt)"
    if spec.toggle is not None and info.root is not None:
        if info.toggles is None:
            return f"toggle {spec.toggle} unknown: toggles file unreadable ({info.toggles_error})"
        if not info.toggles.get(spec.toggle, False):
            return f"toggle {spec.toggle} is off"
    return None


__all__ = ["CHECKS", "GROUPS", "CheckSpec", "UnknownCheckError", "select_checks", "skip_reason"]
