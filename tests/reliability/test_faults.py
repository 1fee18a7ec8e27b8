"""A5: ENOSPC / EIO injected into ``os.write`` and ``os.fsync`` of the real CLI.

A ``sitecustomize.py`` shim on PYTHONPATH (written to tmp_path) wraps ``os.write`` / ``os.fsync``
of the child process: the n-th call on a file whose path contains all the given needles raises the
chosen errno once, and a marker file records that the fault fired (and whether ``fsync`` was ever
called again on the file whose fsync failed: the fsyncgate rule says never retry).
Pass: exit 1 with one clear ``error:`` line naming the cause (no traceback, not "internal error"),
the target byte-identical to the old state, no temp files, no backup marked COMMITTED.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import relkit

from dc_deploy.backups import BackupStore
from dc_deploy.fsutil import TEMP_MARK

pytestmark = pytest.mark.reliability

SHIM = '''
import errno as _errno, json as _json, os as _os
_spec = _os.environ.get("DC_TEST_FAULT")
if _spec:
    _call, _err, _needles, _nth = _spec.split("|")
    _needles = [n for n in _needles.split(",") if n]
    _marker = _os.environ["DC_TEST_FAULT_MARKER"]
    _orig = getattr(_os, _call)
    _state = {"count": 0, "failed": None}

    def _note(doc):
        with open(_marker, "a") as fh:
            fh.write(_json.dumps(doc) + "\\n")

    def _wrapped(fd, *args):
        try:
            path = _os.readlink("/proc/self/fd/%d" % fd)
            ino = _os.fstat(fd).st_ino
        except OSError:
            path, ino = "", None
        if _call == "fsync" and _state["failed"] is not None and _state["failed"] == (path, ino):
            _note({"event": "retried", "path": path})
        if all(n in path for n in _needles):
            _state["count"] += 1
            if _state["count"] == int(_nth):
                _state["failed"] = (path, ino)
                code = getattr(_errno, _err)
                _note({"event": "fired", "call": _call, "errno": _err, "path": path})
                raise OSError(code, _os.strerror(code))
        return _orig(fd, *args)

    setattr(_os, _call, _wrapped)
'''

TOGGLES_TMP = "{T}/dc_impl/.feature_toggles.json" + TEMP_MARK
CAUSE = {"ENOSPC": "No space left on device", "EIO": "Input/output error"}
# (id, operation, call, errno, needles (relative to the case dir; {T} = target, {B} = backup dir), nth)
CASES = [
    ("backup-copy-write-enospc", "integrate", "write", "ENOSPC", "{B}/,/files/", 1),
    ("backup-copy-fsync-eio", "integrate", "fsync", "EIO", "{B}/,/files/", 1),
    ("backup-meta-fsync-eio", "integrate", "fsync", "EIO", "{B}/,backup.json" + TEMP_MARK, 1),
    ("journal-fsync-eio", "integrate", "fsync", "EIO", ".dc-streaming-journal.json" + TEMP_MARK, 1),
    ("replace-first-write-enospc", "integrate", "write", "ENOSPC", "{T}/dc_impl/," + TEMP_MARK, 1),
    ("replace-middle-fsync-eio", "integrate", "fsync", "EIO", "{T}/dc_impl/," + TEMP_MARK, 12),
    ("replace-last-write-enospc", "integrate", "write", "ENOSPC", "{T}/dc_impl/," + TEMP_MARK, 30),
    ("loop-py-fsync-eio", "integrate", "fsync", "EIO", "{T}/.loop.py" + TEMP_MARK, 1),
    ("receipt-write-enospc", "integrate", "write", "ENOSPC", "{T}/dc_impl/.receipt.json" + TEMP_MARK, 1),
    ("toggles-fsync-eio", "integrate", "fsync", "EIO", TOGGLES_TMP, 1),
    ("flip-toggles-write-enospc", "toggle", "write", "ENOSPC", TOGGLES_TMP, 1),
    ("flip-backup-fsync-eio", "toggle", "fsync", "EIO", "{B}/,/files/", 1),
    ("restore-replace-fsync-eio", "restore", "fsync", "EIO", "{T}/," + TEMP_MARK, 2),
    ("restore-backup-write-enospc", "restore", "write", "ENOSPC", "{B}/,/files/", 3),
]
FAST = {"backup-copy-write-enospc", "replace-middle-fsync-eio", "flip-toggles-write-enospc", "journal-fsync-eio"}


def _params() -> list[object]:
    out = []
    for c in CASES:
        marks = [] if c[0] in FAST else [pytest.mark.slow]
        out.append(pytest.param(*c[1:], id=c[0], marks=marks))
    return out


@pytest.mark.parametrize(("op", "call", "err", "needles", "nth"), _params())
def test_io_fault_aborts_to_old_state(op: str, call: str, err: str, needles: str, nth: int, tmp_path: Path,
                                      project: tuple[Path, dict[str, Path]]) -> None:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "many", op, tmp_path / "case")
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    (shim_dir / "sitecustomize.py").write_text(SHIM)
    marker = tmp_path / "fault.jsonl"
    spec = "|".join([call, err, needles.replace("{T}", str(prep.target)).replace("{B}", str(prep.backup_dir)),
                     str(nth)])
    env = {**prep.env, "PYTHONPATH": str(shim_dir), "DC_TEST_FAULT": spec, "DC_TEST_FAULT_MARKER": str(marker)}
    backups_before = {b.id for b in BackupStore(prep.backup_dir).all()}
    proc = relkit.run_cli(root, prep.args, env=env)
    events = [json.loads(line) for line in marker.read_text().splitlines()] if marker.exists() else []
    assert [e["event"] for e in events][:1] == ["fired"], f"fault never fired: {proc.stderr}"
    assert not any(e["event"] == "retried" for e in events), events
    assert proc.returncode == 1, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and CAUSE[err] in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    relkit.recover(root, prep.target, prep.backup_dir)
    assert relkit.ndigest(prep.target) == prep.old
    assert relkit.toggles_bytes(prep.target) == prep.old_toggles
    assert relkit.leftovers(prep.target, prep.backup_dir) == []
    new = [b for b in BackupStore(prep.backup_dir).all() if b.id not in backups_before]
    assert all(b.status != "COMMITTED" for b in new), [(b.id, b.status) for b in new]
