"""Runtime reader of the feature toggles file.

Readers never lock: writers (``integrate_streaming.py``) replace the file atomically, so a read
always sees one whole file. The reader caches the parsed content keyed by the file's identity
(inode, size, mtime_ns) and re-reads when that changes, so a flip takes effect in a running agent at
its next call without a restart.

Production must never die because of this file: an unreadable or invalid file makes the reader keep
the last good value it saw (or every feature off if it never saw one) and report the problem in
``ToggleState.error``. Validation uses the shipped JSON Schema, interpreted by a small checker for the
subset it uses, because only ``anthropic`` is guaranteed to be installed next to the runtime.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract import ENV_TOGGLES_FILE, FEATURES, TOGGLES_FILENAME
from .contract import TOGGLES_SCHEMA_FILENAME as SCHEMA_FILENAME

PACKAGE_DIR = Path(__file__).resolve().parent


class ToggleValidationError(ValueError):
    """The toggles document does not match the schema; ``problems`` lists each mismatch."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_schema(path: Path | None = None) -> dict[str, Any]:
    with open(path or PACKAGE_DIR / SCHEMA_FILENAME, encoding="utf-8") as fh:
        return json.load(fh)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "boolean": (bool,),
    "integer": (int,),
    "string": (str,),
}


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "integer" and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[expected])


def validate_toggles(doc: Any, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check ``doc`` against the toggles schema; return it, or raise ``ToggleValidationError``."""
    schema = schema or load_schema()
    if not isinstance(doc, dict):
        raise ToggleValidationError([f"expected a JSON object, got {type(doc).__name__}"])
    problems: list[str] = []
    props: dict[str, dict[str, Any]] = schema.get("properties", {})
    for key in schema.get("required", []):
        if key not in doc:
            problems.append(f"missing required key {key!r}")
    for key, value in doc.items():
        spec = props.get(key)
        if spec is None:
            if schema.get("additionalProperties", True) is False:
                problems.append(f"unknown key {key!r}")
            continue
        if not _type_ok(value, spec["type"]):
            problems.append(f"{key!r} must be {spec['type']}, got {json.dumps(value)}")
        elif "minimum" in spec and value < spec["minimum"]:
            problems.append(f"{key!r} must be >= {spec['minimum']}, got {value}")
    if problems:
        raise ToggleValidationError(problems)
    return doc


def parse_toggles(data: bytes | str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Parse and validate a toggles document given as bytes or text."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ToggleValidationError([f"not valid JSON: {exc}"]) from exc
    return validate_toggles(doc, schema)


def default_toggles_path() -> Path:
    env = os.environ.get(ENV_TOGGLES_FILE)
    return Path(env) if env else PACKAGE_DIR / TOGGLES_FILENAME


@dataclass(frozen=True)
class ToggleState:
    """What the runtime currently believes: values, their revision, and the last read problem."""

    values: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(FEATURES, False))
    revision: int = -1
    error: str | None = None

    def enabled(self, feature: str) -> bool:
        return bool(self.values.get(feature, False))


class ToggleReader:
    """mtime-cached, never-locking reader of one toggles file."""

    def __init__(self, path: Path | str | None = None) -> None:
        self._explicit = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._state = ToggleState()
        self._schema: dict[str, Any] | None = None

    @property
    def path(self) -> Path:
        return self._explicit or default_toggles_path()

    def state(self) -> ToggleState:
        path = self.path
        try:
            st = path.stat()
        except OSError as exc:
            return self._remember_error(None, f"cannot stat {path}: {exc.strerror or exc}")
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if key == self._key and self._state.error is None:
                return self._state
        try:
            data = path.read_bytes()
            if self._schema is None:
                self._schema = load_schema()
            doc = parse_toggles(data, self._schema)
        except OSError as exc:
            return self._remember_error(None, f"cannot read {path}: {exc.strerror or exc}")
        except ToggleValidationError as exc:
            return self._remember_error(key, f"invalid toggles file {path}: {exc}")
        values = {k: bool(v) for k, v in doc.items() if k != "revision"}
        state = ToggleState(values=values, revision=int(doc["revision"]))
        with self._lock:
            self._key, self._state = key, state
        return state

    def _remember_error(self, key: tuple[int, int, int] | None, message: str) -> ToggleState:
        with self._lock:
            self._key = key
            self._state = ToggleState(self._state.values, self._state.revision, message)
            return self._state

    def enabled(self, feature: str) -> bool:
        return self.state().enabled(feature)


_default_reader = ToggleReader()


def current() -> ToggleState:
    """The toggles of the deployed tree this package lives in (or ``$DC_TOGGLES_FILE``)."""
    return _default_reader.state()


__all__ = [
    "ENV_TOGGLES_FILE", "FEATURES", "PACKAGE_DIR", "SCHEMA_FILENAME", "TOGGLES_FILENAME", "ToggleReader", "ToggleState",
    "ToggleValidationError", "current", "default_toggles_path", "load_schema", "parse_toggles", "validate_toggles",
]
