"""Release manifests: load, schema-check, semantic checks, dependency closure, source integrity.

A manifest names components; each component lists files (``source`` relative to the project root,
``destination`` relative to the target, ``sha256``, ``mode``), ``depends_on``, the toggle it governs,
its rollout ``phase`` and the Python modules it needs in the agent's interpreter
(``python_requires``). ``loop_block: true`` marks the component that owns the managed block in
``<target>/loop.py``. See docs/manifest.md.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator

from dc_impl.contract import LOOP_FILE, RECEIPT_PATH, TOGGLES_PATH, UI_FILE

from .errors import IntegrityError, ManifestError, UnsafePathError
from .fsutil import NAME_MAX, PATH_MAX, TEMP_MARK, TEMP_OVERHEAD, sha256_file
from .journal import JOURNAL_NAME
from .lock import LOCK_NAME

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "manifest.schema.json"
MANIFEST_GLOB = "streaming-*.json"
RESERVED_DESTINATIONS = frozenset({LOOP_FILE, UI_FILE, RECEIPT_PATH, TOGGLES_PATH})
# The installer's own files in the target: replacing the held lock file would break mutual exclusion.
INSTALLER_FILES = frozenset({LOCK_NAME, JOURNAL_NAME})
MAX_DEPLOYED_NAME = NAME_MAX - TEMP_OVERHEAD  # a deployed file's temp name must still fit in NAME_MAX


@dataclass(frozen=True)
class ManifestFile:
    source: str
    destination: str
    sha256: str
    mode: int = 0o644


@dataclass(frozen=True)
class Component:
    id: str
    phase: int
    depends_on: tuple[str, ...]
    files: tuple[ManifestFile, ...]
    toggle: str | None = None
    loop_block: bool = False
    description: str = ""
    python_requires: tuple[str, ...] = ()  # import names the agent's interpreter must have


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    components: dict[str, Component]
    toggle_defaults: dict[str, bool]
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def closure(self, ids: Iterable[str]) -> list[str]:
        """``ids`` plus everything they depend on, dependencies first (manifest order among peers)."""
        wanted = list(ids)
        for cid in wanted:
            if cid not in self.components:
                known = ", ".join(self.components)
                raise ManifestError(f"unknown component {cid!r} (manifest has: {known})",
                                    hint="pick components from the manifest, or pass --all")
        out: list[str] = []

        def visit(cid: str) -> None:
            if cid in out:
                return
            for dep in self.components[cid].depends_on:
                visit(dep)
            out.append(cid)

        for cid in self.components:  # stable order: manifest order, dependencies first
            if cid in wanted:
                visit(cid)
        return out


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key for ``X.Y.Z[-pre]``: releases sort after their pre-releases."""
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?", version)
    if not m:
        return (-1,)
    major, minor, patch, pre = m.groups()
    return (int(major), int(minor), int(patch), pre is None, pre or "")


def check_relpath(path: str, what: str) -> PurePosixPath:
    """A manifest path must be relative, normalized and free of ``..``; raise ``UnsafePathError`` otherwise."""
    if "\\" in path or "\x00" in path:
        raise UnsafePathError(f"{what} {path!r}: backslashes and NUL are not allowed")
    p = PurePosixPath(path)
    if p.is_absolute():
        raise UnsafePathError(f"{what} {path!r} is absolute; paths must be relative", hint="fix the manifest")
    if ".." in p.parts:
        raise UnsafePathError(f"{what} {path!r} leaves its root through '..'", hint="fix the manifest")
    if p.as_posix() != path or path in ("", ".") or "." in p.parts:
        raise UnsafePathError(f"{what} {path!r} is not a normalized relative path", hint="fix the manifest")
    for part in p.parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            raise UnsafePathError(f"{what} {path[:60]!r}...: the name {part[:40]!r}... is {size} bytes, over NAME_MAX "
                                  f"({NAME_MAX})", hint="shorten the name in the manifest")
    if len(os.fsencode(path)) >= PATH_MAX:
        raise UnsafePathError(f"{what} {path[:60]!r}... is {len(os.fsencode(path))} bytes, over PATH_MAX ({PATH_MAX})",
                              hint="shorten the path in the manifest")
    return p


def _check_destination(dest: PurePosixPath, cid: str, where: str) -> None:
    """A destination must be a name the installer can write atomically and never one of its own files."""
    rel = dest.as_posix()
    if rel in RESERVED_DESTINATIONS or rel in INSTALLER_FILES:
        raise UnsafePathError(f"{where}: destination {rel!r} of {cid!r} is managed by the installer itself",
                              hint="deploy the file under another name (fix the manifest)")
    for part in dest.parts:
        if TEMP_MARK in part or part == "__pycache__":
            raise UnsafePathError(f"{where}: destination {rel!r} of {cid!r}: {part!r} is a name the installer "
                                  "deletes (its temp files and bytecode caches)", hint="rename it in the manifest")
        if len(os.fsencode(part)) > MAX_DEPLOYED_NAME:
            raise UnsafePathError(
                f"{where}: destination {rel[:60]!r}... of {cid!r}: the name {part[:40]!r}... is "
                f"{len(os.fsencode(part))} bytes; deployed names may have at most {MAX_DEPLOYED_NAME} (NAME_MAX "
                f"{NAME_MAX} minus the installer's temp-file suffix)", hint="shorten the name in the manifest")


def _semantic_checks(doc: dict[str, Any], where: str) -> None:
    ids: list[str] = [c["id"] for c in doc["components"]]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ManifestError(f"{where}: duplicate component ids: {', '.join(dupes)}", hint="fix the manifest")
    seen_dest: dict[str, str] = {}
    loop_owners = [c["id"] for c in doc["components"] if c.get("loop_block")]
    if len(loop_owners) > 1:
        raise ManifestError(f"{where}: several components own the loop block: {', '.join(loop_owners)}")
    for comp in doc["components"]:
        for dep in comp["depends_on"]:
            if dep not in ids:
                raise ManifestError(f"{where}: component {comp['id']!r} depends on unknown {dep!r}",
                                    hint="fix depends_on in the manifest")
        for f in comp["files"]:
            check_relpath(f["source"], f"component {comp['id']!r}: source")
            dest_path = check_relpath(f["destination"], f"component {comp['id']!r}: destination")
            _check_destination(dest_path, comp["id"], where)
            dest = dest_path.as_posix()
            if dest in seen_dest:
                raise ManifestError(f"{where}: destination {dest!r} appears in {seen_dest[dest]!r} and {comp['id']!r}")
            seen_dest[dest] = comp["id"]
    dirs = {parent.as_posix() for d in seen_dest for parent in PurePosixPath(d).parents}
    clash = sorted(d for d in seen_dest if d in dirs)
    if clash:
        inner = next(d for d in seen_dest if d.startswith(clash[0] + "/"))
        raise ManifestError(f"{where}: destination {clash[0]!r} is a file but {inner!r} needs it to be a directory",
                            hint="fix the destinations in the manifest")
    _check_acyclic({c["id"]: list(c["depends_on"]) for c in doc["components"]}, where)


def _check_acyclic(graph: dict[str, list[str]], where: str) -> None:
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = " -> ".join([*stack[stack.index(node):], node])
            raise ManifestError(f"{where}: depends_on has a cycle: {cycle}", hint="fix depends_on in the manifest")
        state[node] = 1
        for dep in graph[node]:
            visit(dep, [*stack, node])
        state[node] = 2

    for node in graph:
        visit(node, [])


def parse_manifest(doc: Any, *, where: str = "manifest", path: Path | None = None) -> Manifest:
    """Validate a decoded manifest document and build the model."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        loc = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ManifestError(f"{where}: schema violation at {loc}: {first.message}{more}",
                            hint="fix the manifest or rebuild it with --build-manifest --version X")
    _semantic_checks(doc, where)
    components = {
        c["id"]: Component(
            id=c["id"],
            phase=c["phase"],
            depends_on=tuple(c["depends_on"]),
            files=tuple(ManifestFile(f["source"], f["destination"], f["sha256"], f.get("mode", 0o644))
                        for f in c["files"]),
            toggle=c.get("toggle"),
            loop_block=bool(c.get("loop_block", False)),
            description=c.get("description", ""),
            python_requires=tuple(c.get("python_requires", ())),
        )
        for c in doc["components"]
    }
    return Manifest(doc["name"], doc["version"], components, dict(doc["toggle_defaults"]), path, doc)


def load_manifest(path: Path) -> Manifest:
    """Read, decode and validate ``path``; every problem is a ``ManifestError`` naming the file."""
    try:
        if os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path)):  # a FIFO would block forever
            raise ManifestError(f"manifest {path} is not a regular file", hint="pass --manifest PATH of a JSON file")
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ManifestError(f"manifest {path} does not exist", hint="pass --manifest PATH") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc
    try:
        doc = json.loads(text)
    except RecursionError as exc:
        raise ManifestError(f"manifest {path} is nested too deeply to be a manifest",
                            hint="fix the JSON or rebuild it with --build-manifest --version X") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                            hint="fix the JSON or rebuild it with --build-manifest --version X") from exc
    return parse_manifest(doc, where=f"manifest {path}", path=Path(path))


def installed_manifests_dir() -> Path:
    """Where a wheel install puts the manifests (setup.cfg ``data_files``: ``<prefix>/share/...``)."""
    return Path(sys.prefix) / "share" / "claude-dc-streaming" / "manifests"


def default_manifest_path(project_root: Path) -> Path:
    """The newest ``manifests/streaming-*.json`` by version (a checkout's, else a wheel install's)."""
    candidates: list[Path] = []
    for where in (project_root / "manifests", installed_manifests_dir()):
        candidates = sorted(where.glob(MANIFEST_GLOB),
                            key=lambda p: version_key(p.stem.removeprefix("streaming-")))
        if candidates:
            break
    if not candidates:
        raise ManifestError(f"no manifest found in {project_root / 'manifests'} or {installed_manifests_dir()}",
                            hint="pass --manifest PATH or build one with --build-manifest --version X")
    return candidates[-1]


def verify_sources(manifest: Manifest, project_root: Path, component_ids: Iterable[str]) -> None:
    """Every source of the chosen components exists inside the project and has the manifest's hash."""
    root = project_root.resolve()
    for cid in component_ids:
        for f in manifest.components[cid].files:
            src = root / f.source
            if os.path.islink(src) or not src.resolve().is_relative_to(root):
                raise UnsafePathError(f"source {f.source!r} of {cid!r} is a symlink or leaves the project")
            if not src.is_file():
                raise IntegrityError(f"source {f.source!r} of component {cid!r} is missing from {root}",
                                     hint="restore the file, or rebuild the manifest with --build-manifest",
                                     path=f.source)
            actual = sha256_file(src)
            if actual != f.sha256:
                raise IntegrityError(
                    f"source {f.source!r} of component {cid!r} has sha256 {actual[:12]}..., "
                    f"the manifest says {f.sha256[:12]}...; refusing to deploy",
                    hint="use the manifest built for these sources, or rebuild it with --build-manifest --version X",
                    path=f.source, expected=f.sha256, actual=actual)


def resolve_destination(target: Path, rel: str) -> Path:
    """``target / rel`` after checking that no directory on the way is a symlink or a file."""
    p = check_relpath(rel, "destination")
    size = len(os.fsencode(str(target / p)))
    if size + TEMP_OVERHEAD >= PATH_MAX:
        raise UnsafePathError(f"destination {rel[:60]!r}... is {size} bytes long in {target}; with the installer's "
                              f"temp-file suffix that is over PATH_MAX ({PATH_MAX})",
                              hint="use a target directory with a shorter path, or shorter names in the manifest")
    cur = target
    for part in p.parts[:-1]:
        cur = cur / part
        if cur.is_symlink():
            raise UnsafePathError(f"destination {rel!r} goes through the symlink {cur}; refusing to write there",
                                  hint="replace the symlink by a real directory, or fix the manifest")
        if cur.exists() and not cur.is_dir():
            raise UnsafePathError(f"destination {rel!r}: {cur} is not a directory")
    return target / p
