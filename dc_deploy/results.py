"""One dataclass per command result: what ``api.py`` returns, ``render.py`` shows and ``--json`` prints.

Each result's ``as_dict()`` is the one place its JSON document is written: the keys below are a contract
checked from outside (docs/operations.md; pinned by tests/dc_deploy/test_json_contract.py), so they
are spelled here and nowhere else. ``render.py`` reads the attributes, never these keys.

Some keys are present only in some cases, exactly as the documents always had them: ``interrupted``
only when no transaction ran (a dry run or nothing to do), ``git_commit`` only with ``--git-commit``,
``restored_from`` only for a restore, ``recovered`` not in the dry runs of prune and repair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .plan import Plan
from .receipt import Receipt
from .transaction import Recovery
from .verifyrun import VerifyResult

Doc = dict[str, Any]


def _recovered(r: Recovery | None) -> Doc | None:
    return r.as_dict() if r is not None else None


@dataclass
class ChangeResult:
    """``--integrate``, a toggle flip, ``--restore``: a plan, and what happened to it."""

    plan: Plan
    dry_run: bool
    executed: bool = False  # a transaction ran (else: dry run, or nothing to do)
    backup_id: str | None = None
    verification: VerifyResult | None = None
    recovered: Recovery | None = None
    interrupted: Doc | None = None  # a journal left by a crash, as --status shows it (when nothing ran)
    git_commit: str | None = None
    git_committed: bool = False  # --git-commit was given (the commit may still be None: nothing to commit)
    restored_from: str | None = None  # restore only: the backup put back

    @property
    def kind(self) -> str:
        return self.plan.operation  # integrate | toggles | restore

    def as_dict(self) -> Doc:
        doc: Doc = {**self.plan.as_dict(), "dry_run": self.dry_run, "backup_id": self.backup_id,
                    "verification": self.verification.as_dict() if self.verification else None,
                    "recovered": _recovered(self.recovered)}
        if not self.executed:
            doc["interrupted"] = self.interrupted
        if self.git_committed:
            doc["git_commit"] = self.git_commit
        if self.kind == "restore":
            doc["restored_from"] = self.restored_from
        return doc


@dataclass
class StatusResult:
    """``--status``: what is installed, its toggles, drift, backups, an interrupted or running transaction."""

    kind: ClassVar[str] = "status"
    target: str
    receipt: Receipt | None = None
    drift: list[Doc] = field(default_factory=list)
    receipt_error: str | None = None
    toggles: Doc | None = None
    toggles_error: str | None = None
    verify_python: str = ""  # what the next verification runs in (the recorded --python, else ours)
    last_backup: Doc | None = None
    last_good_backup: str | None = None
    backup_count: int = 0
    interrupted: Doc | None = None
    in_progress: Doc | None = None
    metrics: Doc | None = None  # a summary of the metrics directory (--metrics-dir / DC_METRICS_DIR), if any

    @property
    def installed(self) -> bool:
        return self.receipt is not None

    @property
    def python(self) -> str | None:
        return self.receipt.python if self.receipt is not None else None

    def as_dict(self) -> Doc:
        r = self.receipt
        doc: Doc = {"target": self.target, "installed": r is not None, "version": r.version if r else None,
                    "components": list(r.components) if r else [], "toggles": self.toggles,
                    "toggles_error": self.toggles_error, "drift": self.drift, "receipt_error": self.receipt_error}
        if r is not None:
            doc.update({"name": r.name, "installed_at": r.installed_at, "backup_id": r.backup_id,
                        "project_commit": r.project_commit, "target_git": r.target_git})
        doc.update({"python": self.python, "verify_python": self.verify_python, "last_backup": self.last_backup,
                    "last_good_backup": self.last_good_backup, "backup_count": self.backup_count,
                    "interrupted": self.interrupted, "in_progress": self.in_progress, "metrics": self.metrics})
        return doc


@dataclass
class ListResult:
    """``--list-backups``: the target's backups, newest first; ``--json`` prints the list alone."""

    kind: ClassVar[str] = "list"
    target: str
    backup_dir: str
    backups: list[Doc]  # Backup.summary() / Unreadable.summary(), newest first
    interrupted: Doc | None = None

    @property
    def unreadable(self) -> list[str]:
        return [b["id"] for b in self.backups if b["status"] == "UNREADABLE"]

    def as_dict(self) -> Doc:
        return {"target": self.target, "backup_dir": self.backup_dir, "backups": self.backups,
                "unreadable": self.unreadable, "interrupted": self.interrupted}


@dataclass
class PruneResult:
    kind: ClassVar[str] = "prune"
    dry_run: bool
    keep: int
    deleted: list[str]
    kept: list[str]
    unreadable: list[str]
    recovered: Recovery | None = None

    def as_dict(self) -> Doc:
        doc: Doc = {"dry_run": self.dry_run, "keep": self.keep, "deleted": self.deleted, "kept": self.kept,
                    "unreadable": self.unreadable}
        if not self.dry_run:
            doc["recovered"] = _recovered(self.recovered)
        return doc


@dataclass
class BuildResult:
    kind: ClassVar[str] = "build"
    path: str
    version: str
    components: dict[str, list[str]]  # component id -> destinations
    unassigned: list[str]  # files under dc_impl/ in no component

    def as_dict(self) -> Doc:
        return {"path": self.path, "version": self.version, "components": self.components,
                "unassigned": self.unassigned}


@dataclass
class JournalFinding:
    """``--repair`` and an unreadable journal: what was found, and what the tree looks like."""

    problem: str
    set_aside_as: str | None
    verdict: str
    next: str | None
    receipt: str | None = None  # "name version" of the receipt, if readable
    receipt_error: str | None = None
    drift: list[Doc] = field(default_factory=list)
    backup_id: str | None = None  # the interrupted transaction's backup
    backup_status: str | None = None
    at_before_state: list[str] = field(default_factory=list)
    not_at_before_state: list[str] = field(default_factory=list)

    def as_dict(self) -> Doc:
        doc: Doc = {"problem": self.problem, "set_aside_as": self.set_aside_as, "receipt": self.receipt,
                    "drift": self.drift, "backup_id": self.backup_id, "backup_status": self.backup_status,
                    "at_before_state": self.at_before_state, "not_at_before_state": self.not_at_before_state}
        if self.receipt_error is not None:
            doc["receipt_error"] = self.receipt_error
        doc.update({"verdict": self.verdict, "next": self.next})
        return doc


@dataclass
class ToggleRepair:
    """``--repair`` and the toggles file: its problem (None: fine) and, when rewritten, from what."""

    problem: str | None
    source: str | None = None  # None: not rewritten (a dry run, or nothing wrong)
    toggles: Doc | None = None
    backup_id: str | None = None
    verification: VerifyResult | None = None

    def as_dict(self) -> Doc:
        if self.source is None:
            return {"problem": self.problem}
        return {"problem": self.problem, "source": self.source, "toggles": self.toggles, "backup_id": self.backup_id,
                "verification": self.verification.as_dict() if self.verification else None}


@dataclass
class RepairResult:
    kind: ClassVar[str] = "repair"
    target: str
    dry_run: bool
    journal: JournalFinding | None = None
    toggles: ToggleRepair | None = None
    recovered: Recovery | None = None

    def as_dict(self) -> Doc:
        doc: Doc = {"target": self.target, "journal": self.journal.as_dict() if self.journal else None,
                    "toggles": self.toggles.as_dict() if self.toggles else None, "dry_run": self.dry_run}
        if not self.dry_run:
            doc["recovered"] = _recovered(self.recovered)
        return doc


Result = ChangeResult | StatusResult | ListResult | PruneResult | BuildResult | RepairResult


def json_document(result: Result) -> Any:
    """What ``--json`` prints for a command that succeeded."""
    if isinstance(result, ListResult):  # the contract: a JSON list of backup objects, newest first
        return result.backups
    return {"ok": True, "command": result.kind, **result.as_dict()}
