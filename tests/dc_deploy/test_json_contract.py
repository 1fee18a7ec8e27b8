"""The ``--json`` documents of every installer command keep their keys: the contract checked from outside.

Each command runs for real (``dc_deploy.cli.main`` in-process, a copy of examples/computer_use_demo, a real git repository for
``--git-commit``, a verification command that passes) and the *shape* of its JSON document -- the keys,
recursively, with lists shown by their first element -- is compared with the shape pinned here. Values
that are data rather than structure (toggle names, component ids, flips) are not descended into, so a
new toggle or component does not change a shape; a renamed, added or dropped key does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dc_deploy.cli import main

# Keys whose values are keyed by data (toggle names, component ids): their keys are not structure.
OPAQUE = {"toggles_before", "toggles_after", "flips"}
# Lists of plain strings that may be empty or not depending on the data: only their presence is structure.
DATA_LISTS = {"unassigned"}


def shape(value: Any, path: tuple[str, ...] = ()) -> Any:
    if isinstance(value, dict):
        if path and (path[-1] in OPAQUE or path[-1:] == ("toggles",) and "revision" in value):
            return "{...}"
        if path == ("components",):  # --build-manifest: {component id: [files]}
            return "{...}"
        return {k: shape(v, (*path, k)) for k, v in sorted(value.items())}
    if isinstance(value, list):
        if path and path[-1] in DATA_LISTS:
            return "[...]"
        return [shape(value[0], path)] if value else []
    return None


class Runner:
    """``dc_deploy.cli.main`` in-process, as the console script calls it (usage errors included)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(self, env: dict[str, str], *args: str) -> tuple[int, Any]:
        with self.monkeypatch.context() as m:
            for key in [k for k in os.environ if k.startswith("DC_")]:
                m.delenv(key)
            for key, value in env.items():
                m.setenv(key, value)
            code = 0
            try:
                main([*args, "--json"])
            except SystemExit as exc:
                code = int(exc.code or 0)
        return code, json.loads(self.capsys.readouterr().out)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=cwd,
                   check=True, capture_output=True)


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:
    return {**cli_env, "DC_VERIFY_COMMAND": f"{sys.executable} -c pass"}


def test_every_command_keeps_its_json_keys(env: dict[str, str], target: Path, manifest: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run = Runner(monkeypatch, capsys)
    _git(target, "init", "-q")
    _git(target, "add", "-A")
    _git(target, "commit", "-qm", "upstream")
    base = ["--target", str(target), "--manifest", str(manifest)]
    shapes: dict[str, Any] = {}

    code, doc = run(env, "--integrate", "--all", "--dry-run", *base)
    shapes["integrate --dry-run"] = (code, shape(doc))
    code, doc = run(env, "--integrate", "--all", "--git-commit", "--reason", "pin", *base)
    shapes["integrate"] = (code, shape(doc))
    code, doc = run(env, "--integrate", "--all", *base)
    shapes["integrate (nothing to do)"] = (code, shape(doc))
    code, doc = run(env, "--enable-streaming-bash=true", "--dry-run", *base)
    shapes["toggles --dry-run"] = (code, shape(doc))
    code, doc = run(env, "--enable-streaming-bash=true", *base)
    shapes["toggles"] = (code, shape(doc))
    code, doc = run(env, "--status", *base)
    shapes["status"] = (code, shape(doc))
    code, doc = run(env, "--list-backups", *base)
    shapes["list"] = (code, shape(doc))
    code, doc = run(env, "--repair", "--dry-run", *base)
    shapes["repair --dry-run"] = (code, shape(doc))
    code, doc = run(env, "--repair", *base)
    shapes["repair (nothing to repair)"] = (code, shape(doc))
    code, doc = run(env, "--restore", "latest", "--dry-run", *base)
    shapes["restore --dry-run"] = (code, shape(doc))
    code, doc = run(env, "--restore", "latest", *base)
    shapes["restore"] = (code, shape(doc))
    code, doc = run(env, "--prune-backups", "--keep", "1", "--dry-run", *base)
    shapes["prune --dry-run"] = (code, shape(doc))
    code, doc = run(env, "--prune-backups", "--keep", "1", *base)
    shapes["prune"] = (code, shape(doc))
    code, doc = run(env, "--build-manifest", "--version", "9.9.9", "--output", str(tmp_path / "m.json"))
    shapes["build"] = (code, shape(doc))
    code, doc = run(env, "--status", "--target", str(tmp_path / "missing"))
    shapes["usage error"] = (code, shape(doc))
    failing = {**env, "DC_VERIFY_COMMAND": f"{sys.executable} -c \"import sys; sys.exit(1)\""}
    code, doc = run(failing, "--integrate", "--all", "--enable-streaming-bash=true", *base)
    shapes["verification failed"] = (code, shape(doc))
    (target / "dc_impl" / "feature_toggles.json").write_text("{not json")
    code, doc = run(env, "--repair", *base)
    shapes["repair"] = (code, shape(doc))
    empty = tmp_path / "empty"
    empty.mkdir()
    code, doc = run(env, "--status", "--target", str(empty))
    shapes["status (nothing installed)"] = (code, shape(doc))

    assert shapes == EXPECTED


# (exit code, shape) per command, recorded from the dict-based results before the typed refactor.
EXPECTED: dict[str, Any] = {'build': (0,
           {'command': None,
            'components': '{...}',
            'ok': None,
            'path': None,
            'unassigned': '[...]',
            'version': None}),
 'integrate': (0,
               {'actions': [{'action': None,
                             'component': None,
                             'detail': None,
                             'new_mode': None,
                             'new_sha256': None,
                             'old_mode': None,
                             'old_sha256': None,
                             'path': None}],
                'backup_id': None,
                'changed': None,
                'command': None,
                'components': [None],
                'drift': [],
                'dry_run': None,
                'flips': '{...}',
                'git_commit': None,
                'hand_edits': [],
                'kept': [],
                'manifest': None,
                'manifest_version': None,
                'ok': None,
                'operation': None,
                'previous_version': None,
                'recovered': None,
                'selected': [None],
                'target': None,
                'toggles_after': '{...}',
                'toggles_before': None,
                'verification': {'checks': [],
                                 'command': [None],
                                 'duration_s': None,
                                 'failing': [],
                                 'output_tail': None,
                                 'passed': None,
                                 'python': None,
                                 'returncode': None,
                                 'summary': None,
                                 'timed_out': None}}),
 'integrate (nothing to do)': (0,
                               {'actions': [],
                                'backup_id': None,
                                'changed': None,
                                'command': None,
                                'components': [None],
                                'drift': [],
                                'dry_run': None,
                                'flips': '{...}',
                                'hand_edits': [],
                                'interrupted': None,
                                'kept': [],
                                'manifest': None,
                                'manifest_version': None,
                                'ok': None,
                                'operation': None,
                                'previous_version': None,
                                'recovered': None,
                                'selected': [None],
                                'target': None,
                                'toggles_after': '{...}',
                                'toggles_before': '{...}',
                                'verification': None}),
 'integrate --dry-run': (0,
                         {'actions': [{'action': None,
                                       'component': None,
                                       'detail': None,
                                       'new_mode': None,
                                       'new_sha256': None,
                                       'old_mode': None,
                                       'old_sha256': None,
                                       'path': None}],
                          'backup_id': None,
                          'changed': None,
                          'command': None,
                          'components': [None],
                          'drift': [],
                          'dry_run': None,
                          'flips': '{...}',
                          'hand_edits': [],
                          'interrupted': None,
                          'kept': [],
                          'manifest': None,
                          'manifest_version': None,
                          'ok': None,
                          'operation': None,
                          'previous_version': None,
                          'recovered': None,
                          'selected': [None],
                          'target': None,
                          'toggles_after': '{...}',
                          'toggles_before': None,
                          'verification': None}),
 'list': (0,
          [{'bytes': None,
            'components': [None],
            'created_at': None,
            'error': None,
            'files': None,
            'host': None,
            'id': None,
            'manifest_version': None,
            'manifest_versions': {'after': None, 'before': None},
            'operation': None,
            'path': None,
            'paths': [None],
            'reason': None,
            'restored_from': None,
            'sequence': None,
            'status': None,
            'target': None,
            'user': None}]),
 'prune': (0,
           {'command': None,
            'deleted': [None],
            'dry_run': None,
            'keep': None,
            'kept': [None],
            'ok': None,
            'recovered': None,
            'unreadable': []}),
 'prune --dry-run': (0,
                     {'command': None,
                      'deleted': [None],
                      'dry_run': None,
                      'keep': None,
                      'kept': [None],
                      'ok': None,
                      'unreadable': []}),
 'repair': (0,
            {'command': None,
             'dry_run': None,
             'journal': None,
             'ok': None,
             'recovered': None,
             'target': None,
             'toggles': {'backup_id': None,
                         'problem': None,
                         'source': None,
                         'toggles': '{...}',
                         'verification': {'checks': [],
                                          'command': [None],
                                          'duration_s': None,
                                          'failing': [],
                                          'output_tail': None,
                                          'passed': None,
                                          'python': None,
                                          'returncode': None,
                                          'summary': None,
                                          'timed_out': None}}}),
 'repair (nothing to repair)': (0,
                                {'command': None,
                                 'dry_run': None,
                                 'journal': None,
                                 'ok': None,
                                 'recovered': None,
                                 'target': None,
                                 'toggles': None}),
 'repair --dry-run': (0,
                      {'command': None,
                       'dry_run': None,
                       'journal': None,
                       'ok': None,
                       'target': None,
                       'toggles': {'problem': None}}),
 'restore': (0,
             {'actions': [{'action': None,
                           'component': None,
                           'detail': None,
                           'new_mode': None,
                           'new_sha256': None,
                           'old_mode': None,
                           'old_sha256': None,
                           'path': None}],
              'backup_id': None,
              'changed': None,
              'command': None,
              'components': [None],
              'drift': [],
              'dry_run': None,
              'flips': '{...}',
              'hand_edits': [],
              'kept': [],
              'manifest': None,
              'manifest_version': None,
              'ok': None,
              'operation': None,
              'previous_version': None,
              'recovered': None,
              'restored_from': None,
              'selected': [],
              'target': None,
              'toggles_after': None,
              'toggles_before': None,
              'verification': None}),
 'restore --dry-run': (0,
                       {'actions': [{'action': None,
                                     'component': None,
                                     'detail': None,
                                     'new_mode': None,
                                     'new_sha256': None,
                                     'old_mode': None,
                                     'old_sha256': None,
                                     'path': None}],
                        'backup_id': None,
                        'changed': None,
                        'command': None,
                        'components': [None],
                        'drift': [],
                        'dry_run': None,
                        'flips': '{...}',
                        'hand_edits': [],
                        'interrupted': None,
                        'kept': [],
                        'manifest': None,
                        'manifest_version': None,
                        'ok': None,
                        'operation': None,
                        'previous_version': None,
                        'recovered': None,
                        'restored_from': None,
                        'selected': [],
                        'target': None,
                        'toggles_after': None,
                        'toggles_before': None,
                        'verification': None}),
 'status': (0,
            {'backup_count': None,
             'backup_id': None,
             'command': None,
             'components': [None],
             'drift': [],
             'in_progress': None,
             'installed': None,
             'installed_at': None,
             'interrupted': None,
             'last_backup': {'bytes': None,
                             'components': [None],
                             'created_at': None,
                             'error': None,
                             'files': None,
                             'host': None,
                             'id': None,
                             'manifest_version': None,
                             'manifest_versions': {'after': None, 'before': None},
                             'operation': None,
                             'path': None,
                             'paths': [None],
                             'reason': None,
                             'restored_from': None,
                             'sequence': None,
                             'status': None,
                             'target': None,
                             'user': None},
             'last_good_backup': None,
             'metrics': None,
             'name': None,
             'ok': None,
             'project_commit': None,
             'python': None,
             'receipt_error': None,
             'target': None,
             'target_git': {'dirty': None, 'head': None, 'root': None},
             'toggles': '{...}',
             'toggles_error': None,
             'verify_python': None,
             'version': None}),
 'status (nothing installed)': (0,
                                {'backup_count': None,
                                 'command': None,
                                 'components': [],
                                 'drift': [],
                                 'in_progress': None,
                                 'installed': None,
                                 'interrupted': None,
                                 'last_backup': None,
                                 'last_good_backup': None,
             'metrics': None,
                                 'ok': None,
                                 'python': None,
                                 'receipt_error': None,
                                 'target': None,
                                 'toggles': None,
                                 'toggles_error': None,
                                 'verify_python': None,
                                 'version': None}),
 'toggles': (0,
             {'actions': [{'action': None,
                           'component': None,
                           'detail': None,
                           'new_mode': None,
                           'new_sha256': None,
                           'old_mode': None,
                           'old_sha256': None,
                           'path': None}],
              'backup_id': None,
              'changed': None,
              'command': None,
              'components': [None],
              'drift': [],
              'dry_run': None,
              'flips': '{...}',
              'hand_edits': [],
              'kept': [],
              'manifest': None,
              'manifest_version': None,
              'ok': None,
              'operation': None,
              'previous_version': None,
              'recovered': None,
              'selected': [],
              'target': None,
              'toggles_after': '{...}',
              'toggles_before': '{...}',
              'verification': {'checks': [],
                               'command': [None],
                               'duration_s': None,
                               'failing': [],
                               'output_tail': None,
                               'passed': None,
                               'python': None,
                               'returncode': None,
                               'summary': None,
                               'timed_out': None}}),
 'toggles --dry-run': (0,
                       {'actions': [{'action': None,
                                     'component': None,
                                     'detail': None,
                                     'new_mode': None,
                                     'new_sha256': None,
                                     'old_mode': None,
                                     'old_sha256': None,
                                     'path': None}],
                        'backup_id': None,
                        'changed': None,
                        'command': None,
                        'components': [None],
                        'drift': [],
                        'dry_run': None,
                        'flips': '{...}',
                        'hand_edits': [],
                        'interrupted': None,
                        'kept': [],
                        'manifest': None,
                        'manifest_version': None,
                        'ok': None,
                        'operation': None,
                        'previous_version': None,
                        'recovered': None,
                        'selected': [],
                        'target': None,
                        'toggles_after': '{...}',
                        'toggles_before': '{...}',
                        'verification': None}),
 'usage error': (2,
                 {'command': None,
                  'error': {'code': None, 'exit_code': None, 'hint': None, 'message': None, 'type': None},
                  'ok': None}),
 'verification failed': (3,
                         {'backup_id': None,
                          'command': None,
                          'error': {'code': None,
                                    'data': {'backup_id': None,
                                             'plan': {'actions': [{'action': None,
                                                                   'component': None,
                                                                   'detail': None,
                                                                   'new_mode': None,
                                                                   'new_sha256': None,
                                                                   'old_mode': None,
                                                                   'old_sha256': None,
                                                                   'path': None}],
                                                      'changed': None,
                                                      'components': [None],
                                                      'drift': [],
                                                      'flips': '{...}',
                                                      'hand_edits': [],
                                                      'kept': [],
                                                      'manifest': None,
                                                      'manifest_version': None,
                                                      'operation': None,
                                                      'previous_version': None,
                                                      'selected': [None],
                                                      'target': None,
                                                      'toggles_after': '{...}',
                                                      'toggles_before': '{...}'},
                                             'verification': {'checks': [],
                                                              'command': [None],
                                                              'duration_s': None,
                                                              'failing': [],
                                                              'output_tail': None,
                                                              'passed': None,
                                                              'python': None,
                                                              'returncode': None,
                                                              'summary': None,
                                                              'timed_out': None}},
                                    'exit_code': None,
                                    'hint': None,
                                    'message': None,
                                    'type': None},
                          'ok': None,
                          'plan': {'actions': [{'action': None,
                                                'component': None,
                                                'detail': None,
                                                'new_mode': None,
                                                'new_sha256': None,
                                                'old_mode': None,
                                                'old_sha256': None,
                                                'path': None}],
                                   'changed': None,
                                   'components': [None],
                                   'drift': [],
                                   'flips': '{...}',
                                   'hand_edits': [],
                                   'kept': [],
                                   'manifest': None,
                                   'manifest_version': None,
                                   'operation': None,
                                   'previous_version': None,
                                   'selected': [None],
                                   'target': None,
                                   'toggles_after': '{...}',
                                   'toggles_before': '{...}'},
                          'verification': {'checks': [],
                                           'command': [None],
                                           'duration_s': None,
                                           'failing': [],
                                           'output_tail': None,
                                           'passed': None,
                                           'python': None,
                                           'returncode': None,
                                           'summary': None,
                                           'timed_out': None}})}
