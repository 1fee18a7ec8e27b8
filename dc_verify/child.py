"""Entry point of the verification child interpreter (run as ``python -I dc_verify/child.py``).

The parent writes one JSON payload on stdin and reads JSON lines from stdout. Before anything of
ours is imported, ``sys.path`` is set up the way production sees it: for a target
``/x/y/computer_use_demo`` the directory ``/x/y`` comes first so ``computer_use_demo.dc_impl`` is the
deployed code; the project root follows (for ``dc_verify`` and the scripted server). With a target,
the project's top-level ``dc_impl``/``dc_deploy`` are made unimportable, so deployed code that
accidentally depends on them fails here exactly as it would in production.

Deployed code may print: the protocol stream is a private duplicate of the original stdout, and
file descriptor 1 is pointed at stderr for everything else.
"""

from __future__ import annotations

import importlib
import importlib.abc
import json
import os
import sys
import time
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
                            "error": f"{type(exc).__name__}: {exc}"})
            continue
        results.append({"module": name, "ok": True, "seconds": time.monotonic() - t0})
        if name == loop_name:
            hook = getattr(module, "DC_STREAMING_HOOK", None)
    emit(out, {"event": "document", "modules": results, "hook": hook})


def run_checks(payload: dict[str, Any], out: TextIO) -> None:
    from dc_verify.checks.child_env import ChildEnv, run_one

    env = ChildEnv.from_payload(payload)
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
