"""C1 + C2: many processes flipping toggles at once lose no update; a concurrent reader never sees a torn file.

Writers are real processes calling ``dc_deploy.api.set_toggles`` in a loop (the CLI's library call,
under the one target lock); the reader is a real process parsing and schema-checking the toggles file
in a tight loop without any lock, exactly like the runtime does. ``make test``: 4 writers x 25 flips;
``make reliability``: 16 writers x 200 flips.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import relkit

from dc_deploy.toggle_store import AUDIT_FILE

pytestmark = pytest.mark.reliability

WRITER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from dc_deploy import api
from dc_deploy.context import Context
from rich.console import Console
import io
root, target, backups, index, flips, out = sys.argv[1:7]
features = ("use_streaming_bash", "use_streaming_file", "use_streaming_screenshot", "use_unified_streaming",
            "use_streaming_thinking")
ctx = Context(err=Console(file=io.StringIO()), project_root=Path(root), progress=False, command=f"writer {index}")
opts = api.Options(target=Path(target), backup_dir=Path(backups), verify=False, lock_timeout=300)
key = features[int(index) % len(features)]
records = []
for j in range(int(flips)):
    res = api.set_toggles(opts, ctx, {key: j % 2 == int(index) % 2})
    after = res.as_dict()["toggles_after"]
    records.append({"effective": res.backup_id is not None, "revision": after["revision"]})
Path(out).write_text(json.dumps(records))
"""

READER = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from dc_impl.toggles import ToggleValidationError, load_schema, parse_toggles
path, stop, out, pause = sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
schema = load_schema()
reads = errors = regressions = 0
last = -1
problems = []
t0 = time.monotonic()
while not os.path.exists(stop):
    with open(path, "rb") as fh:
        data = fh.read()
    reads += 1
    try:
        doc = parse_toggles(data, schema)
    except (ValueError, ToggleValidationError) as exc:
        errors += 1
        problems.append(repr(exc)[:200])
        continue
    if doc["revision"] < last:
        regressions += 1
    last = doc["revision"]
    if pause:
        time.sleep(pause)
took = time.monotonic() - t0
with open(out, "w") as fh:
    json.dump({"reads": reads, "errors": errors, "regressions": regressions, "seconds": took,
               "problems": problems[:5]}, fh)
"""


@pytest.mark.parametrize(("writers", "flips"), [pytest.param(4, 25, id="4x25"),
                                                pytest.param(16, 200, id="16x200", marks=[pytest.mark.slow, pytest.mark.timeout(1500)])])
def test_concurrent_flips_lose_nothing_and_reader_never_tears(writers: int, flips: int, tmp_path: Path,
                                                               project: tuple[Path, dict[str, Path]],
                                                               record_property: Any) -> None:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "one", "toggle", tmp_path / "case")
    toggles = prep.target / "dc_impl" / "feature_toggles.json"
    start_revision = json.loads(toggles.read_bytes())["revision"]
    audit = prep.backup_dir / AUDIT_FILE
    audit_before = len(audit.read_text().splitlines()) if audit.exists() else 0
    stop = tmp_path / "stop"
    reader_out = tmp_path / "reader.json"
    # the big run leaves the writers most of a 2-core box: its reader pauses 1 ms between reads
    pause = "0" if writers * flips <= 200 else "0.001"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(root), str(toggles), str(stop), str(reader_out),
                               pause])
    procs = []
    t0 = time.monotonic()
    for i in range(writers):
        out = tmp_path / f"writer{i}.json"
        procs.append((subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(prep.target),
                                        str(prep.backup_dir), str(i), str(flips), str(out)]), out))
    for proc, _ in procs:
        assert proc.wait(timeout=1200) == 0
    took = time.monotonic() - t0
    stop.write_text("")
    assert reader.wait(timeout=60) == 0
    records = [json.loads(out.read_text()) for _, out in procs]
    effective = sum(r["effective"] for rs in records for r in rs)
    final = json.loads(toggles.read_bytes())
    # C1: every effective flip bumped the revision exactly once
    assert final["revision"] - start_revision == effective
    for rs in records:
        revs = [r["revision"] for r in rs if r["effective"]]
        assert revs == sorted(set(revs)), "a writer saw its own revision go backwards or repeat"
    lines = [json.loads(line) for line in audit.read_text().splitlines()[audit_before:]]
    assert len(lines) == effective
    expected = start_revision
    for line in lines:
        assert line["revision_old"] == expected and line["revision_new"] == expected + 1, line
        expected += 1
    assert relkit.leftovers(prep.target, prep.backup_dir) == []
    # C2: the lock-free reader never saw a torn or invalid file, nor a revision going backwards
    stats = json.loads(reader_out.read_text())
    assert stats["errors"] == 0, stats["problems"]
    assert stats["regressions"] == 0
    assert stats["reads"] >= 100
    summary = {"writers": writers, "flips": writers * flips, "effective": effective, "seconds": round(took, 2),
               "reads": stats["reads"], "reads_per_s": round(stats["reads"] / max(stats["seconds"], 1e-9))}
    record_property("toggle_concurrency", summary)
    print(summary)
