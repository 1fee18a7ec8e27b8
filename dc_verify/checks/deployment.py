"""Parent-side checks: the receipt (no drift) and imports (in a fresh child interpreter).

Both return ``(status, detail)``; the runner times them and turns crashes into failures.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .child_env import interpreter_lacks, is_ours
from .childrun import ChildRun, VerifyOptions
from .target import VOLATILE_FILES, TargetInfo

RECEIPT_FORMAT = 1


def sha256_file(path: Path) -> str:
    """dc_deploy.fsutil.sha256_file's twin (dc_verify never imports dc_deploy): tests/dc_verify/test_shared_copies.py
    keeps the two equal."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def parse_mode(value: Any) -> int | None:
    """Receipt modes are ints (``420``) but tolerate octal strings (``"0o644"``, ``"644"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return stat.S_IMODE(value)
    if isinstance(value, str):
        try:
            return stat.S_IMODE(int(value.removeprefix("0o"), 8))
        except ValueError:
            return None
    return None


def receipt_problems(root: Path, receipt: dict[str, Any]) -> tuple[list[str], int]:
    """Every difference between the receipt and the tree; also how many files were compared."""
    problems: list[str] = []
    if receipt.get("format") != RECEIPT_FORMAT:
        problems.append(f"unsupported receipt format {receipt.get('format')!r} (expected {RECEIPT_FORMAT})")
    components = receipt.get("components")
    if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
        problems.append(f"malformed receipt: components is {type(components).__name__}, not a list of ids")
    files = receipt.get("files")
    if not isinstance(files, dict) or not files:
        return [*problems, "receipt lists no files"], 0
    compared = 0
    for rel, entry in sorted(files.items()):
        if rel in VOLATILE_FILES:
            continue
        path = root / rel
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            problems.append(f"{rel}: malformed receipt entry")
            continue
        compared += 1
        try:
            st = path.lstat()
        except FileNotFoundError:
            problems.append(f"{rel}: missing")
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"{rel}: not a regular file")
            continue
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            problems.append(f"{rel}: content changed (sha256 {digest[:12]}..., receipt {entry['sha256'][:12]}...)")
        want_mode = parse_mode(entry.get("mode"))
        if want_mode is not None and stat.S_IMODE(st.st_mode) != want_mode:
            problems.append(f"{rel}: mode {stat.S_IMODE(st.st_mode):04o}, receipt {want_mode:04o}")
    return problems, compared


def check_receipt(info: TargetInfo, options: VerifyOptions) -> tuple[str, str]:
    if info.receipt_error:
        return "fail", info.receipt_error
    if info.receipt is None:
        nothing = info.nothing_deployed_reason()
        if nothing is not None:
            return "fail", nothing
        if not os.path.lexists(info.impl_dir):
            return "fail", f"no receipt and no {info.impl_dir}, but {', '.join(info.managed_blocks())} carries the " \
                           "claude-dc-streaming managed block: a partial deployment (see integrate_streaming.py " \
                           "--status, then --restore latest or re-integrate)"
        return "fail", f"{info.impl_dir} exists but has no receipt ({info.receipt_path.name}): not deployed by " \
                       "integrate_streaming.py, or the receipt was removed"
    assert info.root is not None
    problems, compared = receipt_problems(info.root, info.receipt)
    label = f"{info.receipt.get('name', '?')} {info.receipt.get('version', '?')}"
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        return "fail", f"drift against receipt {label}: {shown} (restore with integrate_streaming.py --restore " \
                       "latest, or re-integrate)"
    comps = ", ".join(sorted(info.components or ())) or "none"
    return "pass", f"{compared} files match receipt {label} (components: {comps})"


# Third-party packages a component may need that the verifying interpreter need not have: the
# Streamlit front end imports streamlit, which production (upstream's image) has but an ops host
# running the installer may not. Only modules of that component are excused, and only when the
# package is truly absent here.
OPTIONAL_PACKAGES = {"streamlit": ("streamlit_app", "frontends.streamlit.")}  # module paths under dc_impl


def split_import_failures(results: list[dict[str, Any]],
                          absent: Callable[[str], bool]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """(real failures, {missing optional package: modules not checked because of it})."""
    failures: list[dict[str, Any]] = []
    excused: dict[str, list[str]] = {}
    for r in results:
        if r.get("ok"):
            continue
        top = str(r.get("missing") or "").split(".")[0]
        module = str(r.get("module", ""))
        rel = module.partition("dc_impl.")[2] or module  # the module's path inside dc_impl
        owners = OPTIONAL_PACKAGES.get(top)
        if owners and rel.startswith(owners) and absent(top):
            excused.setdefault(top, []).append(r["module"])
        else:
            failures.append(r)
    return failures, excused


def _absent_in(python: str) -> Callable[[str], bool]:
    """Whether ``package`` is absent from the interpreter the import child ran in (``--python``)."""
    import importlib.util
    import subprocess
    import sys

    def absent(package: str) -> bool:
        if python == sys.executable:
            return importlib.util.find_spec(package) is None
        probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({package!r}) is not None)"
        try:
            return subprocess.run([python, "-I", "-c", probe], capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    return absent


def check_imports(info: TargetInfo, options: VerifyOptions) -> tuple[str, str]:
    modules = info.deployed_modules()
    if info.root is not None and (info.root / "loop.py").is_file():
        loop_module = f"{info.package}.loop"
        if loop_module not in modules:
            modules.append(loop_module)
    if not modules:
        return "fail", f"no Python modules found under {info.impl_dir}"
    child = ChildRun.start(options, info, "imports", {"modules": modules})
    doc, note = child.wait_mode_result()
    if doc is None:
        return "fail", f"import child failed: {note}"
    failures, excused = split_import_failures(doc.get("modules", []), _absent_in(options.python))
    problems: list[str] = []
    lacking = [r for r in failures if r.get("missing") and not is_ours(str(r["missing"]), info.package,
                                                                        info.impl_module)]
    if lacking:  # the interpreter, not the deployment: say which module, which interpreter, and the fix
        first = lacking[0]
        problems.append(interpreter_lacks(options.python, str(first["missing"]), str(first["module"])))
        failures = [r for r in failures if r not in lacking]
    if failures:
        shown = "; ".join(f"{r['module']}: {r.get('error', '?')}" for r in failures[:5])
        problems.append(f"{len(failures)} of {len(modules)} modules failed to import: {shown}")
    if doc.get("hook") is None and info.hook_installed:
        problems.append(f"receipt lists loop-hook but {info.package}.loop has no DC_STREAMING_HOOK after import "
                        "(the managed block did not install; see the warning it logged)")
    if problems:
        return "fail", "; ".join(problems)
    hook = f"; loop hook active ({doc['hook']})" if doc.get("hook") is not None else ""
    slowest = max(doc.get("modules", []), key=lambda r: r.get("seconds", 0.0), default=None)
    slow = f"; slowest {slowest['module']} {slowest['seconds']:.2f} s" if slowest else ""
    skipped = "".join(f"; {len(mods)} module(s) not checked: {pkg} is not installed in this interpreter "
                      f"({', '.join(m.rsplit('.', 1)[-1] for m in mods)})" for pkg, mods in excused.items())
    done = len(modules) - sum(len(m) for m in excused.values())
    return "pass", f"{done} modules imported in a fresh interpreter{slow}{hook}{skipped}"
