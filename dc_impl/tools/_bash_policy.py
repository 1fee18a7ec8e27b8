"""Command policy for the streaming bash tool: deny rules checked before a command runs.

This is a GUARD RAIL against obvious accidents (``rm -rf /``, a fork bomb, formatting a disk), NOT a
sandbox: shell text can be obfuscated in endless ways (variables, ``eval``, base64, scripts written
to files first) and a determined command will get past any deny list. Run the agent in a dedicated
VM or container with minimal privileges; that is the security boundary.

A rule denies a command when its regex matches anywhere in the command text, or when one of its
program names is the first word of any simple command in it (after ``sudo``/``env``/``command``/
``exec``/``nohup``/``time`` and leading ``VAR=value`` assignments). A refused command never reaches
the shell; the model gets ``command refused by policy: <reason>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_SEPARATORS = re.compile(r"\|\||&&|[;&|\n(){}`]|\$\(")
_WRAPPERS = frozenset({"sudo", "env", "command", "exec", "nohup", "time", "builtin", "nice", "doas"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class DenyRule:
    """One deny rule: a regex (searched in the command text) and/or program names, with a reason."""

    reason: str
    pattern: str | None = None
    programs: frozenset[str] = field(default_factory=frozenset)
    flags: int = re.IGNORECASE

    def __post_init__(self) -> None:
        if self.pattern is None and not self.programs:
            raise ValueError("a DenyRule needs a pattern or program names")
        object.__setattr__(self, "programs", frozenset(self.programs))
        object.__setattr__(self, "_regex", re.compile(self.pattern, self.flags) if self.pattern else None)

    def matches(self, command: str, programs: set[str]) -> bool:
        regex: re.Pattern[str] | None = self.__dict__["_regex"]
        if regex is not None and regex.search(command):
            return True
        return bool(self.programs & programs)


def command_programs(command: str) -> set[str]:
    """First words (program names, basename) of the simple commands in ``command`` (best effort)."""
    names: set[str] = set()
    for segment in _SEPARATORS.split(command):
        words = segment.split()
        while words and (_ASSIGNMENT.match(words[0]) or words[0] in _WRAPPERS or words[0].startswith("-")):
            words.pop(0)
        if words:
            names.add(words[0].strip("'\"\\").rsplit("/", 1)[-1])
    return names


class CommandPolicy:
    """An ordered list of deny rules; ``check(command)`` returns the reason of the first match."""

    def __init__(self, rules: Iterable[DenyRule] = ()) -> None:
        self.rules: tuple[DenyRule, ...] = tuple(rules)

    def check(self, command: str) -> str | None:
        if not self.rules:
            return None
        programs = command_programs(command)
        for rule in self.rules:
            if rule.matches(command, programs):
                return rule.reason
        return None

    def extended(self, *rules: DenyRule) -> CommandPolicy:
        return CommandPolicy((*self.rules, *rules))

    @classmethod
    def allow_all(cls) -> CommandPolicy:
        return cls(())

    @classmethod
    def from_config(cls, items: Iterable[Mapping[str, Any]]) -> CommandPolicy:
        """Build from dicts like ``{"reason": "...", "pattern": "...", "programs": ["vim"]}``."""
        rules = []
        for item in items:
            rules.append(DenyRule(reason=str(item["reason"]), pattern=item.get("pattern"),
                                  programs=frozenset(item.get("programs", ()))))
        return cls(rules)

    def __repr__(self) -> str:
        return f"CommandPolicy({len(self.rules)} rules)"


# A target that is the filesystem root or the home directory, as a whole.
_ROOT_TARGET = r"""(?:["']?(?:/|/\*|~|~/|~/\*|\$HOME|\$\{HOME\}|\$HOME/|\$HOME/\*)["']?)(?=\s|$|[;&|)])"""
_RECURSIVE = r"(?=(?:[^;&|\n]*\s)?(?:-[a-zA-Z]*[rR]|--recursive))"

DEFAULT_RULES: tuple[DenyRule, ...] = (
    DenyRule("recursive delete of the filesystem root or the home directory",
             pattern=rf"(?:^|[\s;&|(])rm\s{_RECURSIVE}[^;&|\n]*\s{_ROOT_TARGET}"),
    DenyRule("--no-preserve-root is never needed by an agent", pattern=r"--no-preserve-root"),
    DenyRule("recursive chmod/chown of the filesystem root",
             pattern=rf"(?:^|[\s;&|(])(?:chmod|chown|chgrp)\s{_RECURSIVE}[^;&|\n]*\s[\"']?/[\"']?(?=\s|$|[;&|)])"),
    DenyRule("fork bomb", pattern=r"(\w+|:)\s*\(\)\s*\{\s*\1\s*\|\s*\1\s*&\s*\}\s*;?\s*\1"),
    DenyRule("creating a filesystem or wiping signatures destroys the data on a device",
             programs=frozenset({"mkfs", "mke2fs", "mkswap", "wipefs"}), pattern=r"(?:^|[\s;&|(])mkfs\.\w+"),
    DenyRule("writing raw data to a disk device destroys its contents",
             pattern=r"(?:\bof=|>\s*)/dev/(?:sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|dm-\d|md\d|disk\d)"),
    DenyRule("shutting down or rebooting the machine ends the session",
             programs=frozenset({"shutdown", "reboot", "halt", "poweroff"})),
)

DEFAULT_POLICY = CommandPolicy(DEFAULT_RULES)

__all__ = ["DEFAULT_POLICY", "DEFAULT_RULES", "CommandPolicy", "DenyRule", "command_programs"]
