from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from dc_impl import toggles
from dc_impl.toggles import FEATURES, ToggleReader, ToggleValidationError, parse_toggles, validate_toggles

PKG = Path(toggles.__file__).resolve().parent


def _doc(**over):
    doc = {"revision": 0, **dict.fromkeys(FEATURES, False)}
    doc.update(over)
    return doc


def _write(path: Path, doc) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    os.replace(tmp, path)


def test_shipped_defaults_validate_with_both_checkers():
    doc = json.loads((PKG / "feature_toggles.json").read_text())
    schema = json.loads((PKG / "feature_toggles.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema)
    assert validate_toggles(doc) == doc
    assert set(doc) == {"revision", *FEATURES}


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ([], "expected a JSON object"),
        (_doc(use_streaming_bash="yes"), "'use_streaming_bash' must be boolean"),
        (_doc(revision=True), "'revision' must be integer"),
        (_doc(revision=-1), "must be >= 0"),
        ({k: v for k, v in _doc().items() if k != "use_unified_streaming"}, "missing required key"),
        (_doc(use_streaming_bsh=True), "unknown key 'use_streaming_bsh'"),
    ],
)
def test_invalid_documents_are_rejected_like_jsonschema(doc, fragment):
    schema = json.loads((PKG / "feature_toggles.schema.json").read_text())
    with pytest.raises(ToggleValidationError, match=fragment):
        validate_toggles(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_parse_rejects_non_json():
    with pytest.raises(ToggleValidationError, match="not valid JSON"):
        parse_toggles(b"{ nope")


def test_reader_sees_a_flip_without_restart(tmp_path):
    path = tmp_path / "feature_toggles.json"
    _write(path, _doc())
    reader = ToggleReader(path)
    assert not reader.enabled("use_streaming_bash")
    _write(path, _doc(revision=1, use_streaming_bash=True))
    state = reader.state()
    assert state.enabled("use_streaming_bash") and state.revision == 1 and state.error is None


def test_reader_caches_until_the_file_changes(tmp_path, monkeypatch):
    path = tmp_path / "feature_toggles.json"
    _write(path, _doc())
    reader = ToggleReader(path)
    reader.state()
    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real(self))
    for _ in range(5):
        reader.state()
    assert reads == []
    _write(path, _doc(revision=1))
    reader.state()
    assert len(reads) == 1


def test_reader_keeps_last_good_values_on_a_bad_file(tmp_path):
    path = tmp_path / "feature_toggles.json"
    _write(path, _doc(revision=3, use_unified_streaming=True))
    reader = ToggleReader(path)
    assert reader.enabled("use_unified_streaming")
    _write(path, "{broken")
    state = reader.state()
    assert state.enabled("use_unified_streaming") and state.revision == 3
    assert "invalid toggles file" in state.error
    path.unlink()
    state = reader.state()
    assert state.enabled("use_unified_streaming") and "cannot stat" in state.error
    _write(path, _doc(revision=4))
    state = reader.state()
    assert not state.enabled("use_unified_streaming") and state.error is None


def test_reader_without_any_good_file_has_everything_off(tmp_path):
    reader = ToggleReader(tmp_path / "missing.json")
    state = reader.state()
    assert state.revision == -1 and not any(state.values.values()) and state.error


def test_env_override_points_the_default_reader_elsewhere(tmp_path, monkeypatch):
    path = tmp_path / "t.json"
    _write(path, _doc(use_streaming_file=True))
    monkeypatch.setenv(toggles.ENV_TOGGLES_FILE, str(path))
    assert ToggleReader().enabled("use_streaming_file")


def test_concurrent_atomic_writes_never_show_a_torn_document(tmp_path):
    path = tmp_path / "feature_toggles.json"
    _write(path, _doc())
    reader = ToggleReader(path)
    stop = time.monotonic() + 1.0
    errors: list[str] = []

    def writer():
        rev = 0
        while time.monotonic() < stop:
            rev += 1
            _write(path, _doc(revision=rev, use_streaming_bash=bool(rev % 2)))

    t = threading.Thread(target=writer)
    t.start()
    last = -1
    while t.is_alive():
        state = reader.state()
        if state.error:
            errors.append(state.error)
        assert state.revision >= last
        last = state.revision
    t.join()
    assert errors == [] and last > 0
