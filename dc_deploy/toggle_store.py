"""The toggles file as the installer sees it: strict validation, flips, audit lines.

Writes happen only inside a transaction (under the lock); this module computes contents and never
writes the toggles file itself. Validation uses ``jsonschema`` against the shipped schema.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

import dc_impl.toggles as runtime_toggles

from .errors import TogglesInvalidError, UsageError
from .fsutil import fsync_dir
from .manifest import TOGGLES_PATH

FEATURES: tuple[str, ...] = runtime_toggles.FEATURES
AUDIT_FILE = "toggles-audit.jsonl"

# CLI option name (--enable-<name>=BOOL) -> toggle key
FLAG_TO_FEATURE = {
    "streaming-bash": "use_streaming_bash",
    "streaming-file": "use_streaming_file",
    "unified-streaming": "use_unified_streaming",
    "streaming-thinking": "use_streaming_thinking",
    "streaming-screenshot": "use_streaming_screenshot",
}
REPAIR_HINT = ("rewrite it from the receipt and the toggle audit log with integrate_streaming.py --repair --target DIR "
               "(or fix it by hand: see dc_impl/feature_toggles.schema.json)")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def parse_bool(text: str, option: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise UsageError(f"{option}={text!r} is not a boolean",
                     hint=f"use {option}=true or {option}=false (also yes/no, on/off, 1/0)")


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = runtime_toggles.load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate(doc: Any, where: str) -> dict[str, Any]:
    errors = list(_validator().iter_errors(doc))
    if errors:
        msgs = "; ".join(sorted(e.message for e in errors))
        raise TogglesInvalidError(
            f"{where} does not match the toggles schema: {msgs}; it was left untouched",
            hint=REPAIR_HINT)
    return dict(doc)


def parse(data: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise TogglesInvalidError(
            f"{where} is not valid JSON ({exc}); it was left untouched",
            hint=REPAIR_HINT) from exc
    return validate(doc, where)


def toggles_path(target: Path) -> Path:
    return target / TOGGLES_PATH


def read(target: Path) -> dict[str, Any] | None:
    path = toggles_path(target)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse(data, str(path))


def initial(defaults: dict[str, bool]) -> dict[str, Any]:
    return {"revision": 0, **{k: bool(defaults.get(k, False)) for k in FEATURES}}


def apply_flips(current: dict[str, Any], flips: dict[str, bool], *, bump: bool) -> dict[str, Any]:
    """New document: flips applied, revision + 1 when ``bump``; validated."""
    new = dict(current)
    new.update(flips)
    if bump:
        new["revision"] = int(current["revision"]) + 1
    ordered = {"revision": new["revision"], **{k: new[k] for k in FEATURES}}
    return validate(ordered, "the new toggles")


def to_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2) + "\n").encode()


def append_audit(audit_path: Path, record: dict[str, Any]) -> None:
    """One JSON line per flip, appended with O_APPEND and fsynced."""
    audit_path.parent.mkdir(parents=True, exist_ok=True)
    new = not audit_path.exists()
    fd = os.open(audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        fsync_dir(audit_path.parent)
