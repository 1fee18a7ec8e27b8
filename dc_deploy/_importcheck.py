"""Fallback verification when verify_streaming.py is absent: import the deployed code.

Run as a child process: ``python _importcheck.py <target>``. Loads ``<target>`` as the package
``computer_use_demo`` and imports its ``loop`` module and every deployed ``dc_impl`` module.
Prints the verification JSON shape ``{"passed", "checks": [...]}``; exit 0 when all imports work.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path

# Third-party packages that only an optional front end or feature needs: their absence is a skip, not a
# broken deployment (the installer checks the dependencies of the components it deploys beforehand).
OPTIONAL = {"streamlit": "needed only by the Streamlit front end", "mss": "the screenshot tool falls back to scrot",
            "PIL": "the screenshot tool falls back to scrot", "prometheus_client": "metrics are off without it"}


def _load_package(target: Path) -> str:
    name = "computer_use_demo"
    init = target / "__init__.py"
    if init.exists():
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(target)])
    else:
        spec = importlib.util.spec_from_loader(name, loader=None, is_package=True)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    if not init.exists():
        module.__path__ = [str(target)]
    sys.modules[name] = module
    if spec.loader is not None:
        spec.loader.exec_module(module)
    return name


def main(argv: list[str]) -> int:
    target = Path(argv[0]).resolve()
    checks = []
    pkg = _load_package(target)
    modules = []
    impl = target / "dc_impl"
    if impl.is_dir():
        modules += sorted(
            ".".join(p.relative_to(target).with_suffix("").parts)
            for p in impl.rglob("*.py") if "__pycache__" not in p.parts
        )
    if (target / "loop.py").exists():
        modules.append("loop")
    for mod in modules:
        name = f"{pkg}.{mod.removesuffix('.__init__')}"
        t0 = time.perf_counter()
        try:
            importlib.import_module(name)
            status, detail = "pass", ""
        except ModuleNotFoundError as exc:
            root = (exc.name or "").split(".")[0]
            if root in OPTIONAL:  # e.g. the Streamlit front end on a host without streamlit
                status, detail = "skip", f"{root} is not installed in this interpreter ({OPTIONAL[root]})"
            else:
                status, detail = "fail", traceback.format_exc(limit=3)
        except BaseException:  # noqa: BLE001 - any failure to import is the finding
            status, detail = "fail", traceback.format_exc(limit=3)
        checks.append({"name": f"import {name}", "status": status,
                       "duration_s": round(time.perf_counter() - t0, 4), "detail": detail})
    passed = all(c["status"] != "fail" for c in checks) and any(c["status"] == "pass" for c in checks)
    print(json.dumps({"passed": passed, "checks": checks}))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
