"""The ``toggles`` check: the deployed toggles file and the deployed runtime reader.

1. the file exists and validates, both with the deployed reader's own validator and with
   ``jsonschema`` against the deployed JSON Schema (draft 2020-12);
2. the runtime (``toggles.current()``, the reader production uses) reads that same file without error;
3. a flip is seen without restart: a ``ToggleReader`` over a scratch copy of the file sees an atomic
   replace (new revision, flipped value) at its next read, and the flip back too. The real file is
   never written: verification must not change production's toggles.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .child_env import CheckFailed, ChildEnv

FLIP_FEATURE = "use_streaming_screenshot"


def _atomic_write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _schema_errors(schema: dict[str, Any], doc: dict[str, Any]) -> list[str] | None:
    """Problems per ``jsonschema``; None when the agent's interpreter has no jsonschema (not the agent's need)."""
    try:
        import jsonschema
    except ImportError:
        return None
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in validator.iter_errors(doc)]


def check_toggles(env: ChildEnv) -> str:
    toggles = env.impl("toggles")
    package_dir = Path(getattr(toggles, "PACKAGE_DIR", None) or Path(str(toggles.__file__)).parent)
    path = package_dir / getattr(toggles, "TOGGLES_FILENAME", "feature_toggles.json")
    if not path.is_file():
        raise CheckFailed(f"toggles file {path} does not exist")
    data = path.read_bytes()
    try:
        doc = toggles.parse_toggles(data)
    except toggles.ToggleValidationError as exc:
        raise CheckFailed(f"{path} is invalid: {exc}") from exc
    problems = _schema_errors(toggles.load_schema(), doc)
    schema_note = "" if problems is not None else " (by the runtime's validator only: jsonschema is not " \
                                                  "installed in this interpreter)"
    if problems:
        raise CheckFailed(f"{path} fails the JSON Schema: {'; '.join(problems)}")

    state = toggles.current()
    if state.error:
        raise CheckFailed(f"the runtime reader reports: {state.error}")
    expected = {k: v for k, v in doc.items() if k != "revision"}
    seen = {k: state.values.get(k) for k in expected}
    if state.revision != doc["revision"] or seen != expected:
        raise CheckFailed(f"the runtime reader sees revision {state.revision} {seen}, the file has revision "
                          f"{doc['revision']} {expected}")

    scratch = env.workdir("toggles") / path.name
    scratch.write_bytes(data)
    reader = toggles.ToggleReader(scratch)
    before = reader.state()
    for step in (1, 2):
        flipped = dict(doc)
        flipped[FLIP_FEATURE] = not doc[FLIP_FEATURE] if step == 1 else doc[FLIP_FEATURE]
        flipped["revision"] = doc["revision"] + step
        _atomic_write_json(scratch, flipped)
        after = reader.state()
        if after.error or after.revision != flipped["revision"] or after.enabled(FLIP_FEATURE) != \
                flipped[FLIP_FEATURE]:
            raise CheckFailed(f"after an atomic replace (revision {flipped['revision']}, {FLIP_FEATURE}="
                              f"{flipped[FLIP_FEATURE]}) the same reader still sees revision {after.revision}, "
                              f"{FLIP_FEATURE}={after.enabled(FLIP_FEATURE)}" + (f" ({after.error})" if
                                                                                 after.error else ""))
    on = [k for k, v in sorted(expected.items()) if v] or ["none"]
    return (f"{path} valid{schema_note} (revision {doc['revision']}; on: {', '.join(on)}); runtime reader agrees; a running "
            f"reader saw a flip and a flip back without restart (revision {before.revision} -> "
            f"{doc['revision'] + 2})")


CHECKS = {"toggles": check_toggles}
