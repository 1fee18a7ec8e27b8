"""The one layer rule import-linter cannot state: ``tests`` (and ``examples``) are not packages it can see, so
here, over the syntax trees: the runtime ``dc_impl`` never imports the test suite or the example tree.
The other rules (dc_impl imports nothing of ours, dc_deploy and dc_verify independent, no cycles) are
import-linter contracts in setup.cfg, run by ``make lint``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_runtime_never_imports_the_tests_or_the_examples() -> None:
    offenders = []
    for path in sorted((ROOT / "dc_impl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("tests", "examples")]
    assert offenders == []
