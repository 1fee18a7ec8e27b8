"""Entry point of the verification child interpreter (run as ``python -I dc_verify/child.py``).

The parent writes one JSON payload on stdin and reads JSON lines from stdout. Before anything of
ours is imported, ``sys.path`` is set up the way production sees it: for a target
``/x/y/computer_use_demo`` the directory ``/x/y`` comes first so ``computer_use_demo.dc_impl`` is the
deployed code; the project root follows (for ``dc_verify`` and the scripted server). With a target,
the project's top-level ``dc_impl``/``dc_deploy`` are made unimportable, so deployed code that
accidentally depends on them fails here exactly as it would in production.

Deployed code may print: the protocol stream is a private duplicate of the original stdout, and
file descriptor 1 is pointed at stderr for everything else.

The child leads its own process group (the parent kills it as a group on timeout) and must not outlive
the parent either: the kernel sends it SIGTERM when the parent dies (``PR_SET_PDEATHSIG``, e.g. when
the installer SIGKILLs the verifier's group), and on SIGTERM it kills every descendant first, including
tool sessions that run in their own sessions, so nothing is left behind.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, TextIO

BLOCKED_WITH_TARGET = ("dc_impl", "dc_deploy")


class _BlockProjectPackages(importlib.abc.MetaPathFinder):
    """Production has no top-level ``dc_impl``/``dc_deploy``; neither does the child with a target."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.split(".")[0] in BLOCKED_WITH_TARGET:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (deployed code must not import the project's packages)",
                name=fullname,
            )
        return None


def load_procs() -> ModuleType:
    """``dc_impl/tools/procs.py``, the project's one copy of the process helpers, loaded by its path
    under a private name. It is stdlib-only and made to run on its own; loading it this way keeps
    ``dc_impl`` out of ``sys.modules``, so with a target the project's package stays unimportable."""
    path = Path(__file__).resolve().parents[1] / "dc_impl" / "tools" / "procs.py"
    spec = importlib.util.spec_from_file_location("_dc_verify_procs", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the process helpers from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


procs = load_procs()


def kill_descendants() -> None:
    procs.kill_descendants(os.getpid())


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    kill_descendants()
    os._exit(128 + signal.SIGTERM)


def die_with_parent(parent_pid: int) -> None:
    """SIGTERM when the parent dies (Linux), and handle SIGTERM by taking every descendant along."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    procs.set_parent_death_signal(signal.SIGTERM)  # not Linux: the parent's timeout kill of the group still applies
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        _on_sigterm(signal.SIGTERM, None)


def bootstrap(payload: dict[str, Any]) -> None:
    project_root = payload["project_root"]
    target = payload.get("target")
    front: list[str] = []
    if target:
        front.append(os.path.dirname(target))
    front.append(project_root)
    rest = [p for p in sys.path if p not in front and p not in ("", ".")]
    sys.path[:] = front + rest
    if target:
        sys.meta_path.insert(0, _BlockProjectPackages())
    importlib.invalidate_caches()


def _protocol_stream() -> TextIO:
    stream = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def emit(stream: TextIO, doc: dict[str, Any]) -> None:
    stream.write(json.dumps(doc, default=str) + "\n")
    stream.flush()


def run_imports(payload: dict[str, Any], out: TextIO) -> None:
    results: list[dict[str, Any]] = []
    hook: Any = None
    loop_name = f"{payload['package']}.loop" if payload.get("package") else None
    for name in payload["modules"]:
        t0 = time.monotonic()
        try:
            module = importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt at import are failures too
            results.append({"module": name, "ok": False, "seconds": time.monotonic() - t0,
                            "error": f"{type(exc).__name__}: {exc}",
                            "missing": exc.name if isinstance(exc, ModuleNotFoundError) else None})
            continue
        results.append({"module": name, "ok": True, "seconds": time.monotonic() - t0})
        if name == loop_name:
            hook = getattr(module, "DC_STREAMING_HOOK", None)
    emit(out, {"event": "document", "modules": results, "hook": hook})


def run_checks(payload: dict[str, Any], out: TextIO) -> None:
    from dc_verify.checks.child_env import ChildEnv, ensure_display
    from dc_verify.checks.dispatch import run_one

    env = ChildEnv.from_payload(payload)
    env.display_note = ensure_display(os.environ)
    try:
        for name in payload["checks"]:
            emit(out, {"event": "start", "name": name, "t": time.monotonic()})
            status, duration, detail = run_one(name, env)
            emit(out, {"event": "result", "name": name, "status": status, "duration_s": duration,
                       "detail": detail})
    finally:
        env.close()


def main() -> int:
    out = _protocol_stream()
    payload = json.loads(sys.stdin.read())
    die_with_parent(int(payload.get("parent_pid") or os.getppid()))
    bootstrap(payload)
    if payload["mode"] == "imports":
        run_imports(payload, out)
    elif payload["mode"] == "run":
        run_checks(payload, out)
    else:
        print(f"unknown child mode {payload['mode']!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
