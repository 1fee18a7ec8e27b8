"""``--build-manifest``: compute a release manifest from the sources and the component patterns.

Component file lists are never written by hand: ``COMPONENT_SPECS`` (the one place they live)
names each component's files as patterns relative to the project root; building expands them,
hashes every match and writes ``manifests/streaming-<version>.json``.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dc_impl.contract import FEATURES, RECEIPT_PATH, TOGGLES_PATH

from .errors import ManifestError, UsageError
from .fsutil import atomic_write_bytes, sha256_file
from .manifest import LOOP_FILE, RESERVED_DESTINATIONS, parse_manifest

MANIFEST_NAME = "claude-dc-streaming"


@dataclass(frozen=True)
class ComponentSpec:
    id: str
    description: str
    phase: int
    depends_on: tuple[str, ...]
    required: tuple[str, ...]      # exact paths that must exist
    optional: tuple[str, ...] = ()  # glob patterns; may match nothing (``**`` reaches into sub-folders)
    toggle: str | None = None
    loop_block: bool = False
    python_requires: tuple[str, ...] = ()  # import names the agent's interpreter must have (checked before deploy)


# Components are folders: a component owns its public module(s) plus everything under its folder.
COMPONENT_SPECS: tuple[ComponentSpec, ...] = (
    ComponentSpec(
        "core", "dc_impl package init, shared contract, compat types, toggles reader and schema, tool substitution, "
        "process helpers, the metrics door, STREAMING_README.md", 0, (),
        ("dc_impl/__init__.py", "dc_impl/_compat.py", "dc_impl/contract.py", "dc_impl/toggles.py",
         "dc_impl/feature_toggles.schema.json", "dc_impl/substitution.py", "dc_impl/metrics_hook.py",
         "dc_impl/tools/__init__.py", "dc_impl/tools/procs.py", "dc_impl/STREAMING_README.md"),
    ),
    ComponentSpec(
        "loop-hook", f"dc_impl/hook.py and the managed block in {LOOP_FILE}", 0, ("core",),
        ("dc_impl/hook.py",), loop_block=True,
    ),
    ComponentSpec(
        "bash-tool", "streaming bash tool", 1, ("core", "loop-hook"),
        ("dc_impl/tools/dc_bash.py", "dc_impl/tools/bash/__init__.py"), ("dc_impl/tools/bash/**/*.py",),
        toggle="use_streaming_bash",
    ),
    ComponentSpec(
        "file-tool", "streaming file (editor) tool", 2, ("core", "loop-hook"),
        ("dc_impl/tools/dc_file.py", "dc_impl/tools/edit/__init__.py"), ("dc_impl/tools/edit/**/*.py",),
        toggle="use_streaming_file",
    ),
    ComponentSpec(
        "screenshot-tool", "streaming screenshot (computer) tool: in-process capture, settle instead of a fixed sleep",
        2, ("core", "loop-hook"),
        ("dc_impl/tools/dc_screenshot.py", "dc_impl/tools/screenshot/__init__.py"),
        ("dc_impl/tools/screenshot/**/*.py",), toggle="use_streaming_screenshot", python_requires=("mss", "PIL"),
    ),
    ComponentSpec(
        "metrics", "Prometheus textfile metrics of the loop and the tools (written when DC_METRICS_DIR is set)", 2,
        ("core",), ("dc_impl/metrics/__init__.py",), ("dc_impl/metrics/**/*.py",),
        python_requires=("prometheus_client",),
    ),
    ComponentSpec(
        "unified-streaming", "unified streaming sampling loop and session enhancements", 3, ("core", "loop-hook"),
        ("dc_impl/unified_streaming_loop.py", "dc_impl/streaming_enhancements.py", "dc_impl/chat.py",
         "dc_impl/stream/__init__.py", "dc_impl/stream/loop.py", "dc_impl/frontends/__init__.py",
         "dc_impl/frontends/terminal.py", "dc_impl/frontends/text_safety.py", "dc_impl/frontends/reducer.py"),
        ("dc_impl/stream/*.py",),
        toggle="use_unified_streaming",
    ),
    ComponentSpec(
        "streamlit-ui", "Streamlit front end that renders the unified loop's stream live", 4,
        ("core", "loop-hook", "unified-streaming"),
        ("dc_impl/streamlit_app.py", "dc_impl/frontends/streamlit/__init__.py", "dc_impl/frontends/streamlit/app.py"),
        ("dc_impl/frontends/streamlit/*.py",), toggle="use_unified_streaming",
    ),
    ComponentSpec(
        "ui-hook", "dc_impl/ui_hook.py and the managed block in streamlit.py: upstream's start command "
        "serves the streaming page", 4, ("core", "streamlit-ui"), ("dc_impl/ui_hook.py",), toggle="use_unified_streaming",
    ),
)

# CLI selection flag -> component id
SELECTION_FLAGS = {
    "bash_tool": "bash-tool",
    "file_tool": "file-tool",
    "screenshot_tool": "screenshot-tool",
    "metrics": "metrics",
    "unified_streaming": "unified-streaming",
    "update_loop": "loop-hook",
    "streamlit_ui": "streamlit-ui",
    "update_ui": "ui-hook",
}


@dataclass
class BuildResult:
    path: Path
    document: dict[str, Any]
    unassigned: list[str]  # files under dc_impl/ no component claims (shipped nowhere)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "version": self.document["version"],
            "components": {c["id"]: [f["destination"] for f in c["files"]] for c in self.document["components"]},
            "unassigned": self.unassigned,
        }


def _expand(spec: ComponentSpec, root: Path) -> list[str]:
    found: list[str] = []
    for rel in spec.required:
        if not (root / rel).is_file():
            raise ManifestError(f"cannot build: {rel} (required by component {spec.id!r}) is missing from {root}",
                                hint="add the file, or build from a complete checkout")
        found.append(rel)
    for pattern in spec.optional:
        for p in sorted(root.glob(pattern)):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and not p.is_symlink() and rel not in found:
                found.append(rel)
    return found


def _toggle_defaults(root: Path) -> dict[str, bool]:
    shipped = root / "dc_impl" / "feature_toggles.json"
    try:
        doc = json.loads(shipped.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot build: shipped toggle defaults {shipped} unreadable: {exc}") from exc
    return {k: bool(doc.get(k, False)) for k in FEATURES}


def build_document(project_root: Path, version: str, *, created_at: str, project_commit: str | None,
                   specs: tuple[ComponentSpec, ...] = COMPONENT_SPECS) -> tuple[dict[str, Any], list[str]]:
    """The manifest document for the current sources, and the files no component claims."""
    root = project_root.resolve()
    components: list[dict[str, Any]] = []
    claimed: set[str] = set()
    for spec in specs:
        files = []
        for rel in _expand(spec, root):
            if rel in RESERVED_DESTINATIONS:
                continue
            claimed.add(rel)
            st = (root / rel).stat()
            files.append({"source": rel, "destination": rel, "sha256": sha256_file(root / rel),
                          "mode": stat.S_IMODE(st.st_mode), "size": st.st_size})
        comp: dict[str, Any] = {"id": spec.id, "description": spec.description, "phase": spec.phase,
                                "toggle": spec.toggle, "depends_on": list(spec.depends_on), "files": files}
        if spec.loop_block:
            comp["loop_block"] = True
        if spec.python_requires:
            comp["python_requires"] = list(spec.python_requires)
        components.append(comp)
    doc = {
        "$schema": "../dc_deploy/schemas/manifest.schema.json",
        "format": 1,
        "name": MANIFEST_NAME,
        "version": version,
        "description": "Streaming components for Claude DC; built by integrate_streaming.py --build-manifest",
        "created_at": created_at,
        "project_commit": project_commit,
        "toggle_defaults": _toggle_defaults(root),
        "components": components,
    }
    shipped = {TOGGLES_PATH, RECEIPT_PATH}
    unassigned = sorted(
        p.relative_to(root).as_posix() for p in (root / "dc_impl").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".json", ".md")
        and p.relative_to(root).as_posix() not in claimed | shipped
    )
    return doc, unassigned


def build_manifest(project_root: Path, version: str, output: Path | None, *, created_at: str,
                   project_commit: str | None, force: bool = False) -> BuildResult:
    """Build, validate and atomically write a manifest for ``version``; an existing file only with ``force``."""
    out = output or project_root / "manifests" / f"streaming-{version}.json"
    if not force and os.path.lexists(out):
        raise UsageError(f"{out} already exists; refusing to overwrite a released manifest",
                         hint="build another --version, write elsewhere with --output PATH, or add --force",
                         path=str(out))
    doc, unassigned = build_document(project_root, version, created_at=created_at, project_commit=project_commit)
    try:
        parse_manifest(doc, where=f"built manifest {version}")
    except ManifestError as exc:
        if "schema violation at version" in exc.message:
            raise UsageError(f"--version {version!r} is not a version like 1.2.3", hint="pass --version X.Y.Z") from exc
        raise
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, (json.dumps(doc, indent=2) + "\n").encode(), mode=0o644)
    return BuildResult(out, doc, unassigned)
