"""What is being verified: the project's own ``dc_impl`` or the code deployed in a target tree.

A target is a production ``computer_use_demo/`` directory (any package name works: the directory's
name is the package name, imported with its parent directory first on ``sys.path``). Its deployed
state is described by ``<target>/dc_impl/receipt.json`` (written by the installer) and its toggles by
``<target>/dc_impl/feature_toggles.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECEIPT_NAME = "receipt.json"
TOGGLES_NAME = "feature_toggles.json"
IMPL_DIRNAME = "dc_impl"
# Files in the receipt that legitimately change after deployment (flips, the receipt itself).
VOLATILE_FILES = frozenset({f"{IMPL_DIRNAME}/{TOGGLES_NAME}", f"{IMPL_DIRNAME}/{RECEIPT_NAME}"})
# The start of every managed block the installer writes into an upstream file (loop.py, streamlit.py).
MANAGED_MARKER = b"# >>> claude-dc-streaming"
MANAGED_UPSTREAM_FILES = ("loop.py", "streamlit.py")


class TargetError(ValueError):
    """The target cannot be verified at all (missing directory, not a package name): a usage error."""


@dataclass(frozen=True)
class TargetInfo:
    project_root: Path
    root: Path | None
    receipt: dict[str, Any] | None = None
    receipt_error: str | None = None
    toggles: dict[str, Any] | None = None
    toggles_error: str | None = None

    @property
    def package(self) -> str | None:
        return self.root.name if self.root is not None else None

    @property
    def impl_dir(self) -> Path:
        base = self.root if self.root is not None else self.project_root
        return base / IMPL_DIRNAME

    @property
    def impl_module(self) -> str:
        return f"{self.package}.{IMPL_DIRNAME}" if self.root is not None else IMPL_DIRNAME

    @property
    def receipt_path(self) -> Path:
        return self.impl_dir / RECEIPT_NAME

    @property
    def toggles_path(self) -> Path:
        return self.impl_dir / TOGGLES_NAME

    @property
    def components(self) -> set[str] | None:
        """Installed component ids; None means "everything" (no --target)."""
        if self.root is None:
            return None
        comps = self.receipt.get("components") if self.receipt is not None else None
        if not isinstance(comps, list):  # no receipt, or a malformed one (the receipt check fails it)
            return set()
        return {c for c in comps if isinstance(c, str)}

    @property
    def hook_installed(self) -> bool:
        comps = self.components
        return comps is not None and "loop-hook" in comps

    def managed_blocks(self) -> list[str]:
        """Upstream files of the target that carry one of our managed blocks."""
        if self.root is None:
            return []
        found = []
        for name in MANAGED_UPSTREAM_FILES:
            try:
                if MANAGED_MARKER in (self.root / name).read_bytes():
                    found.append(name)
            except OSError:
                continue
        return found

    def nothing_deployed_reason(self) -> str | None:
        """Why the target holds nothing of ours (no dc_impl/, no receipt, no managed block), or None."""
        if self.root is None or self.receipt is not None or self.receipt_error is not None:
            return None
        if os.path.lexists(self.impl_dir) or self.managed_blocks():
            return None
        return f"nothing of ours is deployed in {self.root}: no {IMPL_DIRNAME}/, no receipt, no managed block " \
               f"(deploy with integrate_streaming.py --integrate --all --target {self.root})"

    def deployed_modules(self) -> list[str]:
        """Dotted names of every deployed Python module (receipt files, else the files on disk)."""
        rels: list[str]
        if self.root is not None and self.receipt is not None and isinstance(self.receipt.get("files"), dict):
            rels = sorted(str(r) for r in self.receipt["files"])
        else:
            base = self.root if self.root is not None else self.project_root
            rels = sorted(
                p.relative_to(base).as_posix()
                for p in self.impl_dir.rglob("*.py")
                if "__pycache__" not in p.parts
            )
        return [m for m in (module_name(self.package, rel) for rel in rels) if m is not None]


def module_name(package: str | None, rel: str) -> str | None:
    """``dc_impl/tools/dc_bash.py`` -> ``<package>.dc_impl.tools.dc_bash`` (None for non-modules)."""
    if not rel.endswith(".py"):
        return None
    parts = rel[:-3].split("/")
    if parts[-1] == "__main__":
        return None
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(([package] if package else []) + parts)


def _read_json(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"
    except ValueError as exc:
        return None, f"{path} is not valid JSON: {exc}"
    except RecursionError:
        return None, f"{path} is not valid JSON: nested too deeply"
    if not isinstance(doc, dict):
        return None, f"{path} is not a JSON object"
    return doc, None


def load_target(project_root: Path, target: Path | None) -> TargetInfo:
    if target is None:
        toggles, toggles_error = _read_json(project_root / IMPL_DIRNAME / TOGGLES_NAME)
        return TargetInfo(project_root, None, toggles=toggles, toggles_error=toggles_error)
    try:
        root = Path(target).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise TargetError(f"target {target} cannot be resolved: {exc}") from exc
    if not root.is_dir():
        raise TargetError(f"target directory {target} does not exist")
    if not root.name.isidentifier():
        raise TargetError(f"target directory name {root.name!r} is not an importable package name")
    if not (root / "__init__.py").is_file() and not (root / "loop.py").is_file():
        raise TargetError(f"target {root} is not a computer_use_demo package (no __init__.py or loop.py)")
    info = TargetInfo(project_root, root)
    receipt, receipt_error = _read_json(info.receipt_path)
    toggles, toggles_error = _read_json(info.toggles_path)
    if toggles is None and toggles_error is None:
        toggles_error = f"{info.toggles_path} does not exist"
    return TargetInfo(project_root, root, receipt, receipt_error, toggles, toggles_error)
