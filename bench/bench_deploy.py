"""Installer cost grows with what changes, not with the tree: integrate/restore into a target with 20,000 extra files.

Both targets are copies of examples/computer_use_demo; one also holds 20,000 unrelated small files
(2,000 with quick=True). Each repetition deploys every component (``--all``, no verification) and
then restores the backup it took, through the library API in-process (so interpreter start-up does
not dilute the ratio). Median wall time per operation; the bare target is the baseline.
"""

from __future__ import annotations

import io
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench._common import Result
from dc_deploy import api
from dc_deploy.build import build_manifest
from dc_deploy.context import Context
from dc_deploy.digest import tree_digest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "computer_use_demo"
GOAL = 1.5


def _target(parent: Path, extra_files: int) -> Path:
    target = parent / "computer_use_demo"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    for i in range(extra_files):
        d = target / "assets" / f"d{i // 500:03d}"
        if i % 500 == 0:
            d.mkdir(parents=True)
        (d / f"f{i:05d}.txt").write_bytes(b"unrelated %d\n" % i)
    return target


def _measure(target: Path, backups: Path, manifest: Path, ctx: Context, reps: int) -> tuple[float, float]:
    opts = api.Options(target=target, backup_dir=backups, manifest=manifest, verify=False)
    before = tree_digest(target)
    integrate: list[float] = []
    restore: list[float] = []
    for _ in range(reps):
        t0 = time.perf_counter()
        res = api.integrate(opts, ctx, None, {})
        integrate.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        api.restore(opts, ctx, res.backup_id)
        restore.append(time.perf_counter() - t0)
    if tree_digest(target) != before:
        raise RuntimeError(f"restore did not bring {target} back to its original state")
    return statistics.median(integrate), statistics.median(restore)


def run(quick: bool) -> list[Result]:
    extra = 2_000 if quick else 20_000
    reps = 3 if quick else 7
    with tempfile.TemporaryDirectory(prefix="bench_deploy_") as tmp:
        base = Path(tmp)
        manifest = base / "manifest.json"
        build_manifest(ROOT, "0.0.0-bench", manifest, created_at="bench", project_commit=None)
        ctx = Context(err=Console(file=io.StringIO()), project_root=ROOT, command="bench", progress=False)
        (base / "bare").mkdir()
        (base / "big").mkdir()
        bare = _target(base / "bare", 0)
        big = _target(base / "big", extra)
        _measure(bare, base / "bk-warm", manifest, ctx, 1)  # warm caches and imports
        bare_i, bare_r = _measure(bare, base / "bk-bare", manifest, ctx, reps)
        big_i, big_r = _measure(big, base / "bk-big", manifest, ctx, reps)
    note = f"median of {reps}; {extra:,} unrelated files; every file fsynced (durability on)"
    return [
        Result(f"integrate --all, target + {extra:,} files", big_i * 1000, bare_i * 1000, "ms",
               f"<= {GOAL}x bare target", big_i <= GOAL * bare_i, "same integrate, bare target", note),
        Result(f"restore, target + {extra:,} files", big_r * 1000, bare_r * 1000, "ms",
               f"<= {GOAL}x bare target", big_r <= GOAL * bare_r, "same restore, bare target", note),
    ]
