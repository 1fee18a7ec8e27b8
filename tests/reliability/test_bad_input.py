"""Bad-input corpus: manifests, toggles files, backup metadata, CLI arguments, paths.

Every case runs ``integrate_streaming.py`` (in-process through ``dc_deploy.cli.main``, and a sample
as a real subprocess) with ``--json`` and must give: the documented exit code, exactly one
``error:`` line on stderr that says what is wrong, one JSON document on stdout with the same exit
code, no traceback, and the target unchanged.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import relkit

from dc_deploy import cli

pytestmark = pytest.mark.reliability


@dataclass
class Env:
    root: Path
    manifests: dict[str, Path]
    prep: relkit.Prepared
    tmp: Path

    @property
    def common(self) -> list[str]:
        return ["--target", str(self.prep.target), "--backup-dir", str(self.prep.backup_dir), "--no-progress"]

    def manifest_doc(self) -> dict[str, Any]:
        return json.loads(self.manifests["many"].read_text())

    def write_manifest(self, doc: Any, raw: bytes | None = None) -> list[str]:
        path = self.tmp / "bad-manifest.json"
        path.write_bytes(raw if raw is not None else json.dumps(doc).encode())
        return ["--integrate", "--all", "--manifest", str(path), *self.common]

    def write_toggles(self, data: bytes) -> list[str]:
        (self.prep.target / "dc_impl" / "feature_toggles.json").write_bytes(data)
        return ["--enable-streaming-bash=true", *self.common]

    def backup(self) -> Path:
        return next(p for p in self.prep.backup_dir.iterdir() if p.name.startswith("backup_"))


Setup = Callable[[Env], list[str]]


def _m(mutate: Callable[[dict[str, Any]], Any]) -> Setup:
    def setup(e: Env) -> list[str]:
        doc = e.manifest_doc()
        mutate(doc)
        return e.write_manifest(doc)
    return setup


def _file0(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["components"][0]["files"][0]


def _set(d: dict[str, Any], key: str, value: Any) -> None:
    d[key] = value


def _tog(doc: Any) -> Setup:
    return lambda e: e.write_toggles(json.dumps(doc).encode() if not isinstance(doc, bytes) else doc)


GOOD_TOGGLES = {"revision": 1, **{k: False for k in relkit.FEATURES}}


def _backup_meta(mutate: Callable[[dict[str, Any]], Any]) -> Setup:
    def setup(e: Env) -> list[str]:
        meta_path = e.backup() / "backup.json"
        meta = json.loads(meta_path.read_text())
        mutate(meta)
        meta_path.write_text(json.dumps(meta))
        return ["--restore", e.backup().name, *e.common]
    return setup


def _source_symlink(e: Env) -> list[str]:
    doc = e.manifest_doc()
    src = e.root / _file0(doc)["source"]
    link = src.with_name("link-to-" + src.name)
    if not link.is_symlink():
        link.symlink_to(src.name)
    _file0(doc)["source"] = str(link.relative_to(e.root))
    return e.write_manifest(doc)


def _missing_source(e: Env) -> list[str]:
    doc = e.manifest_doc()
    _file0(doc)["source"] = "payload/many/does-not-exist.py"
    return e.write_manifest(doc)


def _dc_impl_symlink(e: Env) -> list[str]:
    d = e.prep.target / "dc_impl"
    shutil.move(d, e.tmp / "moved-dc_impl")
    d.symlink_to(e.tmp / "moved-dc_impl")
    return ["--integrate", "--all", "--manifest", str(e.manifests["many"]), *e.common]


def _fresh(e: Env) -> Path:
    """Point the case at an undeployed copy of the example tree (its digest is taken after setup)."""
    e.prep.target = relkit.make_target(e.tmp / "fresh")
    (e.prep.target / "dc_impl").mkdir()
    return e.prep.target


def _dc_impl_file(e: Env) -> list[str]:
    (_fresh(e) / "dc_impl" / "pkg").write_text("not a directory\n")
    return ["--integrate", "--all", "--manifest", str(e.manifests["many"]), *e.common]


def _dest_is_dir(e: Env) -> list[str]:
    (_fresh(e) / "dc_impl" / "hook.py").mkdir()
    return ["--integrate", "--all", "--manifest", str(e.manifests["many"]), *e.common]


def _other_target(e: Env) -> list[str]:
    other = relkit.make_target(e.tmp / "other")
    return ["--restore", e.backup().name, "--target", str(other), "--backup-dir", str(e.prep.backup_dir)]


def _cycle(doc: dict[str, Any]) -> None:
    doc["components"][0]["depends_on"] = ["extra"]


def _dup_dest(doc: dict[str, Any]) -> None:
    doc["components"][2]["files"].append(dict(_file0(doc)))


def _two_loop_owners(doc: dict[str, Any]) -> None:
    doc["components"][2]["loop_block"] = True


def _tampered_hash(meta: dict[str, Any]) -> None:
    meta["files"]["loop.py"]["sha256"] = "0" * 64


def _traversal(e: Env) -> list[str]:
    """A backup.json whose path leaves the target; its stored object exists and matches, so only the path is bad."""
    root = e.backup()
    meta = json.loads((root / "backup.json").read_text())
    meta["files"]["../outside.py"] = meta["files"].pop("loop.py")
    (root / "backup.json").write_text(json.dumps(meta))
    shutil.copy2(root / "files" / "loop.py", root / "outside.py")
    return ["--restore", root.name, *e.common]


def _deep_manifest(e: Env) -> list[str]:
    return e.write_manifest(None, b"[" * 100_000 + b"]" * 100_000)


def _dir_at(name: str) -> Setup:
    def setup(e: Env) -> list[str]:
        path = e.prep.target / name
        if path.exists():
            path.unlink()
        path.mkdir()
        return ["--enable-streaming-bash=true", *e.common]
    return setup


# (id, setup, exit code, text the error line must contain[, mark])
CASES: list[tuple[Any, ...]] = [
    # manifests
    ("manifest-not-json", lambda e: e.write_manifest(None, b"{not json"), 2, "not valid JSON"),
    ("manifest-empty", lambda e: e.write_manifest(None, b""), 2, "not valid JSON"),
    ("manifest-binary", lambda e: e.write_manifest(None, b"\xff\xfe\x00garbage"), 2, "manifest"),
    ("manifest-array", lambda e: e.write_manifest([1, 2]), 2, "schema violation"),
    ("manifest-no-components", _m(lambda d: d.pop("components")), 2, "components"),
    ("manifest-format-2", _m(lambda d: _set(d, "format", 2)), 2, "schema violation"),
    ("manifest-bad-version", _m(lambda d: _set(d, "version", "v1")), 2, "version"),
    ("manifest-unknown-key", _m(lambda d: _set(d, "surprise", 1)), 2, "surprise"),
    ("manifest-bad-component-id", _m(lambda d: _set(d["components"][0], "id", "Core")), 2, "schema violation"),
    ("manifest-bad-sha-format", _m(lambda d: _set(_file0(d), "sha256", "xyz")), 2, "schema violation"),
    ("manifest-mode-out-of-range", _m(lambda d: _set(_file0(d), "mode", 4096)), 2, "schema violation"),
    ("manifest-absolute-destination", _m(lambda d: _set(_file0(d), "destination", "/etc/passwd")), 2, "absolute"),
    ("manifest-dotdot-destination", _m(lambda d: _set(_file0(d), "destination", "dc_impl/../../x.py")), 2, ".."),
    ("manifest-unnormalized-destination", _m(lambda d: _set(_file0(d), "destination", "dc_impl//x.py")), 2,
     "normalized"),
    ("manifest-backslash-destination", _m(lambda d: _set(_file0(d), "destination", "dc_impl\\x.py")), 2,
     "backslash"),
    ("manifest-reserved-loop", _m(lambda d: _set(_file0(d), "destination", "loop.py")), 2, "managed by the installer"),
    ("manifest-reserved-toggles", _m(lambda d: _set(_file0(d), "destination", "dc_impl/feature_toggles.json")), 2,
     "managed by the installer"),
    ("manifest-reserved-lock", _m(lambda d: _set(_file0(d), "destination", ".dc-streaming.lock")), 2,
     "managed by the installer"),
    ("manifest-reserved-journal", _m(lambda d: _set(_file0(d), "destination", ".dc-streaming-journal.json")), 2,
     "managed by the installer"),
    ("manifest-name-over-name-max", _m(lambda d: _set(_file0(d), "destination", "dc_impl/" + "x" * 256)), 2,
     "NAME_MAX"),
    ("manifest-deeply-nested", _deep_manifest, 2, "nested too deeply"),
    ("manifest-duplicate-ids", _m(lambda d: d["components"].append(dict(d["components"][0]))), 2, "duplicate"),
    ("manifest-duplicate-destination", _m(_dup_dest), 2, "appears in"),
    ("manifest-cycle", _m(_cycle), 2, "cycle"),
    ("manifest-unknown-dependency", _m(lambda d: _set(d["components"][0], "depends_on", ["ghost"])), 2, "ghost"),
    ("manifest-two-loop-owners", _m(_two_loop_owners), 2, "loop block"),
    ("manifest-source-hash-mismatch", _m(lambda d: _set(_file0(d), "sha256", "a" * 64)), 6, "refusing to deploy"),
    ("manifest-source-missing", _missing_source, 6, "missing"),
    ("manifest-source-symlink", _source_symlink, 2, "symlink"),
    ("manifest-path-missing", lambda e: ["--integrate", "--all", "--manifest", str(e.tmp / "nope.json"), *e.common],
     2, "does not exist"),
    ("manifest-path-is-dir", lambda e: ["--integrate", "--all", "--manifest", str(e.tmp), *e.common], 2,
     "cannot read"),
    # toggles files
    ("toggles-not-json", _tog(b"{\"revision\": 1,"), 2, "not valid JSON"),
    ("toggles-empty", _tog(b""), 2, "not valid JSON"),
    ("toggles-binary", _tog(b"\x00\xff\xfe"), 2, "not valid JSON"),
    ("toggles-array", _tog([GOOD_TOGGLES]), 2, "toggles schema"),
    ("toggles-missing-key", _tog({k: v for k, v in GOOD_TOGGLES.items() if k != "use_streaming_file"}), 2,
     "use_streaming_file"),
    ("toggles-unknown-key", _tog({**GOOD_TOGGLES, "use_turbo": True}), 2, "use_turbo"),
    ("toggles-string-bool", _tog({**GOOD_TOGGLES, "use_streaming_bash": "yes"}), 2, "toggles schema"),
    ("toggles-revision-string", _tog({**GOOD_TOGGLES, "revision": "7"}), 2, "toggles schema"),
    ("toggles-revision-negative", _tog({**GOOD_TOGGLES, "revision": -1}), 2, "toggles schema"),
    ("toggles-bool-revision", _tog({**GOOD_TOGGLES, "revision": True}), 2, "toggles schema"),
    # backup metadata
    ("restore-unknown-id", lambda e: ["--restore", "backup_19990101_000000", *e.common], 2, "no backup"),
    ("restore-latest-none-committed", lambda e: (_backup_meta(lambda m: _set(m, "status", "FAILED"))(e),
                                                 ["--restore", "latest", *e.common])[1], 2, "no COMMITTED backup"),
    ("restore-meta-not-json", lambda e: ((e.backup() / "backup.json").write_text("{oops"),
                                         ["--restore", e.backup().name, *e.common])[1], 6, "is unreadable"),
    ("restore-other-target", _other_target, 2, "belongs to"),
    ("restore-tampered-hash", _backup_meta(_tampered_hash), 6, "corrupt"),
    ("restore-path-traversal", _traversal, 2, "'..'"),
    # CLI arguments
    ("cli-toggle-twice", lambda e: ["--enable-streaming-bash=true", "--enable-streaming-bash=false", *e.common], 2,
     "more than once"),
    ("cli-backup-dir-inside-target", lambda e: ["--enable-streaming-bash=true", *e.common, "--backup-dir",
                                                str(e.prep.target / "bk")], 2, "inside the target"),
    ("cli-unknown-flag", lambda e: ["--integrat", *e.common], 2, "No such option"),
    ("cli-bad-bool", lambda e: ["--enable-streaming-bash=maybe", *e.common], 2, "not a boolean"),
    ("cli-keep-alone", lambda e: ["--status", "--keep", "3", *e.common], 2, "--keep"),
    ("cli-two-commands", lambda e: ["--status", "--list-backups", *e.common], 2, "choose one"),
    ("cli-nothing-to-do", lambda e: list(e.common), 2, "nothing to do"),
    ("cli-bad-timeout", lambda e: ["--status", "--verify-timeout", "soon", *e.common], 2, "soon"),
    ("cli-flip-with-restore", lambda e: ["--restore", "latest", "--enable-streaming-bash=true", *e.common], 2,
     "cannot be combined"),
    ("cli-component-without-integrate", lambda e: ["--bash-tool", "--status", *e.common], 2, "--integrate"),
    ("cli-negative-keep", lambda e: ["--prune-backups", "--keep", "-1", *e.common], 2, "--keep"),
    ("cli-bad-drift-policy", lambda e: ["--integrate", "--all", "--on-drift", "bogus", *e.common], 2, "bogus"),
    ("cli-no-target", lambda e: ["--status"], 2, "no target"),
    # paths
    ("path-target-missing", lambda e: ["--status", "--target", str(e.tmp / "missing")], 2, "does not exist"),
    ("path-target-is-file", lambda e: ["--status", "--target", str(e.manifests["one"])], 2, "not a directory"),
    # a path holding rich markup ("[/]") must be printed as text, not parsed (it once crashed the error handler)
    ("path-target-with-markup", lambda e: ["--status", "--target", str(e.tmp / "x[/]y[bold]")], 2,
     "x[/]y[bold] does not exist"),
    ("path-dc_impl-symlink", _dc_impl_symlink, 2, "symlink"),
    ("path-dir-is-file", _dc_impl_file, 2, "not a directory"),
    ("path-destination-is-dir", _dest_is_dir, 2, "not a file"),
    ("path-lock-is-dir", _dir_at(".dc-streaming.lock"), 1, "Is a directory"),
    ("path-journal-is-dir", _dir_at(".dc-streaming-journal.json"), 1, "Is a directory"),
]
SUBPROCESS = {"manifest-deeply-nested", "path-lock-is-dir", "manifest-not-json", "manifest-source-hash-mismatch", "toggles-unknown-key", "restore-tampered-hash",
              "cli-unknown-flag", "path-dc_impl-symlink"}


@pytest.fixture
def env(tmp_path: Path, project: tuple[Path, dict[str, Path]], monkeypatch: pytest.MonkeyPatch) -> Env:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "many", "toggle", tmp_path / "case")
    for key, value in relkit.base_env(root).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DC_PRODUCTION_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    return Env(root, manifests, prep, tmp_path)


def _check(code: int, out: str, err: str, want_code: int, text: str) -> None:
    assert code == want_code, err
    # our errors print "error: ...", click's own usage errors "Error: ..." (after its usage line)
    errors = [ln for ln in err.splitlines() if ln.startswith(("error:", "Error:"))]
    assert len(errors) == 1 and text in errors[0], err
    assert not any(ln.startswith("hint:") for ln in err.splitlines()), "the fix belongs on the error line"
    assert "Traceback" not in err and "internal error" not in err, err
    doc = json.loads(out)
    assert doc["ok"] is False and doc["error"]["exit_code"] == want_code


@pytest.mark.parametrize(("setup", "code", "text"), [pytest.param(*c[1:4], id=c[0], marks=list(c[4:]))
                                                     for c in CASES])
def test_bad_input_is_refused_cleanly(setup: Setup, code: int, text: str, env: Env,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = setup(env)
    before = relkit.ndigest(env.prep.target) if env.prep.target.exists() else None
    with pytest.raises(SystemExit) as info:
        cli.main([*args, "--json"])
    captured = capsys.readouterr()
    _check(int(info.value.code or 0), captured.out, captured.err, code, text)
    assert relkit.ndigest(env.prep.target) == before


@pytest.mark.parametrize(("setup", "code", "text"), [pytest.param(*c[1:4], id=c[0]) for c in CASES
                                                     if c[0] in SUBPROCESS])
def test_bad_input_in_a_real_process(setup: Setup, code: int, text: str, env: Env) -> None:
    args = setup(env)
    before = relkit.ndigest(env.prep.target)
    proc = relkit.run_cli(env.root, [*args, "--json"], env=relkit.base_env(env.root, COLUMNS="400"))
    _check(proc.returncode, proc.stdout, proc.stderr, code, text)
    assert relkit.ndigest(env.prep.target) == before


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)
