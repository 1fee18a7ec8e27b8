"""Build a throwaway deployment without the installer, for tests of the checks themselves.

``make_deployment`` copies the stand-in upstream tree (``examples/computer_use_demo``) and the
project's ``dc_impl`` into a directory, appends the managed loop-hook block to ``loop.py``, and writes
the toggles file and a receipt in the installer's format. It exists so the verification suite can be
tested (good deployment passes, deliberately broken ones fail) independently of ``dc_deploy``, which
``dc_verify`` must never import.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from dc_impl import contract

from ..checks.target import IMPL_DIRNAME, RECEIPT_NAME, TOGGLES_NAME

HOOK_BLOCK = contract.LOOP_BLOCK
# Every component but ui-hook: a sandbox deployment does not patch upstream's streamlit.py (the ui_hook
# check then skips as "not installed"); the installer's own tests deploy it for real.
ALL_COMPONENTS = tuple(c for c in contract.COMPONENTS if c != "ui-hook")
ALL_ON = {name: True for name in contract.FEATURES}


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in ("__pycache__", ".pytest_cache") or n.endswith(".pyc")}


def file_entry(path: Path) -> dict[str, object]:
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "mode": stat.S_IMODE(path.stat().st_mode)}


def write_receipt(target: Path, components: Iterable[str], version: str = "0.0.0-sandbox") -> Path:
    """Record every file under ``<target>/dc_impl`` (and ``loop.py`` when hooked) in a receipt."""
    comps = list(components)
    impl = target / IMPL_DIRNAME
    rels = sorted(
        p.relative_to(target).as_posix()
        for p in impl.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name not in (RECEIPT_NAME, TOGGLES_NAME)
    )
    if "loop-hook" in comps:
        rels.append("loop.py")
    receipt = {
        "format": contract.RECEIPT_FORMAT,
        "name": "claude-dc-streaming",
        "version": version,
        "components": comps,
        "files": {rel: file_entry(target / rel) for rel in rels},
        "project_commit": None,
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "backup_id": None,
        "target_git": None,
    }
    path = impl / RECEIPT_NAME
    path.write_text(json.dumps(receipt, indent=2) + "\n", encoding="utf-8")
    return path


def write_toggles(target: Path, values: Mapping[str, bool], revision: int = 1) -> Path:
    path = target / IMPL_DIRNAME / TOGGLES_NAME
    doc = {"revision": revision, **{k: bool(values.get(k, False)) for k in ALL_ON}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def make_deployment(
    dest_parent: Path,
    project_root: Path,
    *,
    components: Iterable[str] = ALL_COMPONENTS,
    toggles: Mapping[str, bool] = ALL_ON,
    package: str = "computer_use_demo",
) -> Path:
    """A copy of the stand-in tree at ``dest_parent/package`` with ``dc_impl`` deployed into it."""
    comps = list(components)
    target = dest_parent / package
    shutil.copytree(project_root / "examples" / "computer_use_demo", target, ignore=_ignore)
    shutil.rmtree(target / "tests", ignore_errors=True)
    shutil.copytree(project_root / IMPL_DIRNAME, target / IMPL_DIRNAME, ignore=_ignore)
    (target / IMPL_DIRNAME / RECEIPT_NAME).unlink(missing_ok=True)
    if "loop-hook" in comps:
        loop = target / "loop.py"
        text = loop.read_text(encoding="utf-8")
        loop.write_text(text.rstrip("\n") + "\n\n" + HOOK_BLOCK, encoding="utf-8")
    write_toggles(target, toggles)
    write_receipt(target, comps)
    return target


# Deliberate breakages, appended to a deployed (or project-copy) module: each turns a promise the
# suite checks into a lie, so tests and the demo can show the suite catching it.
_BASH_BUFFERS = '''

# --- deliberately broken (dc_verify sandbox): hold every on_output chunk until the command ends ---
_dc_broken_call = StreamingBashTool.__call__


async def _dc_buffering_call(self, *args, **kwargs):
    live = self.on_output
    held = []
    self.on_output = held.append if live is not None else None
    try:
        return await _dc_broken_call(self, *args, **kwargs)
    finally:
        self.on_output = live
        for chunk in held:
            live(chunk)


StreamingBashTool.__call__ = _dc_buffering_call
'''

_LOOP_AFTER_STOP = '''

# --- deliberately broken (dc_verify sandbox): start tools only after message_stop ---
_dc_broken_sampling_loop = sampling_loop


async def sampling_loop(**kwargs):
    kwargs["eager_tools"] = False
    return await _dc_broken_sampling_loop(**kwargs)
'''

_LOOP_DROPS_THINKING = '''

# --- deliberately broken (dc_verify sandbox): leave thinking blocks out of the history ---
_dc_broken_final_blocks = final_blocks


def final_blocks(state):
    return [b for b in _dc_broken_final_blocks(state) if b.get("type") not in ("thinking", "redacted_thinking")]
'''

_BASH_HIDES_EXIT_CODE = '''

# --- deliberately broken (dc_verify sandbox): the model never learns the exit code ---
import re as _dc_re

_dc_loud_call = StreamingBashTool.__call__
_DC_EXIT_NOTE = _dc_re.compile(r"\\[?exit(?:[ _-]?(?:code|status))?\\W*\\d+\\]?", _dc_re.IGNORECASE)


def _dc_scrub(text):
    return _DC_EXIT_NOTE.sub("", text) if text else text


async def _dc_quiet_call(self, *args, **kwargs):
    result = await _dc_loud_call(self, *args, **kwargs)
    return type(result)(output=_dc_scrub(result.output), error=_dc_scrub(result.error),
                        base64_image=result.base64_image, system=_dc_scrub(result.system))


StreamingBashTool.__call__ = _dc_quiet_call
'''

_BASH_TIMEOUT_LEAKS = '''

# --- deliberately broken (dc_verify sandbox): commands run in a new session a timeout cannot reach ---
import shlex as _dc_shlex

_dc_contained_call = StreamingBashTool.__call__


async def _dc_leaky_call(self, *args, command=None, **kwargs):
    if command:
        command = "setsid -w bash -c " + _dc_shlex.quote(command)
    return await _dc_contained_call(self, *args, command=command, **kwargs)


StreamingBashTool.__call__ = _dc_leaky_call
'''

_FILE_VIEW_UNBOUNDED = '''

# --- deliberately broken (dc_verify sandbox): view returns the whole file, however large ---
_dc_bounded_call = StreamingEditTool20250429.__call__


async def _dc_unbounded_call(self, *, command, path, view_range=None, **kwargs):
    if command == "view" and view_range is None:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().split("\\n")
        return CLIResult(output="".join(f"{n:6}\\t{line}\\n" for n, line in enumerate(lines, 1)))
    return await _dc_bounded_call(self, command=command, path=path, view_range=view_range, **kwargs)


StreamingEditTool20250429.__call__ = _dc_unbounded_call
'''

_LOOP_RESULTS_REVERSED = '''

# --- deliberately broken (dc_verify sandbox): tool results go back in reverse block order ---
_dc_ordered_results_message = results_message


def results_message(results):
    return _dc_ordered_results_message(list(reversed(results)))
'''

_LOOP_NO_RETRY = '''

# --- deliberately broken (dc_verify sandbox): a failed stream is never retried ---
_dc_retrying_sampling_loop = sampling_loop


async def sampling_loop(**kwargs):
    kwargs["retry_policy"] = RetryPolicy(max_retries=0)
    return await _dc_retrying_sampling_loop(**kwargs)
'''

BREAKAGES: dict[str, tuple[str, str]] = {
    "bash-buffers": ("dc_impl/tools/dc_bash.py", _BASH_BUFFERS),
    "loop-after-stop": ("dc_impl/stream/loop.py", _LOOP_AFTER_STOP),
    "loop-drops-thinking": ("dc_impl/stream/loop.py", _LOOP_DROPS_THINKING),
    "bash-hides-exit-code": ("dc_impl/tools/dc_bash.py", _BASH_HIDES_EXIT_CODE),
    "bash-timeout-leaks": ("dc_impl/tools/dc_bash.py", _BASH_TIMEOUT_LEAKS),
    "file-view-unbounded": ("dc_impl/tools/dc_file.py", _FILE_VIEW_UNBOUNDED),
    "loop-results-reversed": ("dc_impl/stream/loop.py", _LOOP_RESULTS_REVERSED),
    "loop-no-retry": ("dc_impl/stream/loop.py", _LOOP_NO_RETRY),
}


def apply_breakage(root: Path, name: str) -> Path:
    """Append breakage ``name`` to its module under ``root`` (a target or a project copy)."""
    rel, code = BREAKAGES[name]
    path = root / rel
    path.write_text(path.read_text(encoding="utf-8") + code, encoding="utf-8")
    return path
