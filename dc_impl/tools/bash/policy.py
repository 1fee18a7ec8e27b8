"""Command policy for the streaming bash tool: deny rules checked before a command runs.

This is a GUARD RAIL against obvious accidents (``rm -rf /``, a fork bomb, formatting a disk), NOT a
sandbox: shell text can be obfuscated in endless ways (variables, ``eval``, base64, scripts written
to files first) and a determined command will get past any deny list. Run the agent in a dedicated
VM or container with minimal privileges; that is the security boundary.

A rule denies a command when its regex matches anywhere in the command text, or when one of its
program names is the first word of any simple command in it (after ``sudo``/``env``/``command``/
``exec``/``nohup``/``time`` and leading ``VAR=value`` assignments). A refused command never reaches
the shell; the model gets ``command refused by policy: <reason>``.

Cost: every default rule runs in time linear in the command's length (a 1 MB command is checked in
milliseconds, see ``bench/bench_bash.py``). A regex with a quantified part followed by a
back-reference or by a scan to the end of a segment backtracks quadratically when searched from every
position (the fork-bomb rule took 10 s for one 32,000-character word); such default rules carry an
exact linear ``matcher`` (below) that finds the few positions where the regex can match and runs the
regex anchored there, so their decisions are exactly those of ``pattern``
(``tests/dc_impl/test_bash_policy_cost.py`` compares them on random commands). A custom ``pattern`` is
searched with ``re.search`` as given: Python's ``re`` holds the GIL for a whole search, so keep custom
patterns free of nested or adjacent unbounded quantifiers over the same characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
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
    # Optional exact, faster equivalent of ``re.search(pattern, command, flags) is not None``.
    matcher: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.pattern is None and not self.programs:
            raise ValueError("a DenyRule needs a pattern or program names")
        object.__setattr__(self, "programs", frozenset(self.programs))
        object.__setattr__(self, "_regex", re.compile(self.pattern, self.flags) if self.pattern else None)

    def matches(self, command: str, programs: set[str]) -> bool:
        if self.matcher is not None:
            if self.matcher(command):
                return True
        else:
            regex: re.Pattern[str] | None = self.__dict__["_regex"]
            if regex is not None and regex.search(command):
                return True
        return bool(self.programs & programs)


def command_programs(command: str) -> set[str]:
    """First words (program names, basename) of the simple commands in ``command`` (best effort)."""
    names: set[str] = set()
    for segment in filter(None, _SEPARATORS.split(command)):
        for word in segment.split():   # the first word that is not a wrapper, an option or an assignment
            if not (word in _WRAPPERS or word.startswith("-") or _ASSIGNMENT.match(word)):
                names.add(word.strip("'\"\\").rsplit("/", 1)[-1])
                break
    return names


class CommandPolicy:
    """An ordered list of deny rules; ``check(command)`` returns the reason of the first match."""

    def __init__(self, rules: Iterable[DenyRule] = ()) -> None:
        self.rules: tuple[DenyRule, ...] = tuple(rules)
        self._program_names = frozenset().union(*(rule.programs for rule in self.rules))

    def check(self, command: str) -> str | None:
        if not self.rules:
            return None
        # a program name found by command_programs is a substring of the command: skip the split
        # (a Python loop over the segments) when no name occurs at all
        names = self._program_names
        programs = command_programs(command) if any(name in command for name in names) else set()
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


# -- linear matchers for the default rules ----------------------------------------------------------

_SEGMENT_END = re.compile(r"[;&|\n]")


def first_per_segment(head: str, pattern: str, needs: Iterable[str] = (),
                      flags: int = re.IGNORECASE) -> Callable[[str], bool]:
    r"""Exact linear search for a rule shaped ``(?:^|[\s;&|(])<head>\s<rest>`` whose ``<rest>`` only
    looks at the segment that follows (up to the next ``;&|`` or newline, and the newline itself).

    ``re.search`` tries every occurrence of ``head`` and each try scans to the end of its segment, so
    ``rm rm rm ...`` costs the square of the segment. But an earlier ``head`` of the same segment
    sees everything a later one sees (the later one's own ``\s`` included), so when the first fails
    the others fail too: try the pattern anchored at the first ``head`` of each segment only.
    ``needs`` are regexes that must each match after the first head's ``\s`` for the pattern to
    match anywhere (one linear scan each); without them there is nothing to try.
    """
    full = re.compile(pattern, flags)
    heads = re.compile(rf"(?:^|(?<=[\s;&|(])){head}\s", flags)
    required = [re.compile(need, flags) for need in needs]

    def search(command: str) -> bool:
        first = heads.search(command)
        if first is None or not all(need.search(command, first.end() - 1) for need in required):
            return False
        segment_end = -1
        for m in heads.finditer(command, first.start()):
            space = m.end() - 1
            if space < segment_end:
                continue   # dominated by the head that opened this segment
            if full.match(command, max(m.start() - 1, 0)):
                return True
            end = _SEGMENT_END.search(command, space + 1)
            segment_end = end.start() if end else len(command)
        return False

    return search


def fork_bomb_matcher(pattern: str, flags: int = re.IGNORECASE) -> Callable[[str], bool]:
    r"""Exact linear search for ``(\w+|:)\s*\(\)\s*\{\s*\1\s*\|...`` (a function calling itself twice).

    Searched from every position, ``\w+`` re-reads the rest of a word at each of its characters (a
    200,000-character word took minutes). The name must end where ``\s*()`` begins and be exactly
    the word between ``{`` and ``|``, so the same shape with the name taken from a word start (or a
    ``:``) and the body word captured instead gives, per match, the one position where the pattern
    can match; it is tried there. A failed try resumes after the body word: the next name cannot
    start earlier, and the tail of this match (the last call) may be the next name.
    """
    full = re.compile(pattern, flags)
    heads = re.compile(r"(?:(?<!\w)(\w+)|(:))\s*\(\)\s*\{\s*(\w+|:)\s*\|\s*\3\s*&\s*\}\s*;?\s*\3", flags)

    def search(command: str) -> bool:
        if "()" not in command:
            return False
        pos = 0
        while (m := heads.search(command, pos)) is not None:
            body = m.group(3)
            start = m.start(2) if m.group(2) is not None else m.end(1) - len(body)
            if start >= m.start() and full.match(command, start):
                return True
            pos = m.end(3)
        return False

    return search


# A target that is the filesystem root or the home directory, as a whole.
_ROOT_TARGET = r"""(?:["']?(?:/|/\*|~|~/|~/\*|\$HOME|\$\{HOME\}|\$HOME/|\$HOME/\*)["']?)(?=\s|$|[;&|)])"""
_RECURSIVE = r"(?=(?:[^;&|\n]*\s)?(?:-[a-zA-Z]*[rR]|--recursive))"
_RM = rf"(?:^|[\s;&|(])rm\s{_RECURSIVE}[^;&|\n]*\s{_ROOT_TARGET}"
_CHMOD_TARGET = r"""["']?/["']?(?=\s|$|[;&|)])"""
_CHMOD = rf"(?:^|[\s;&|(])(?:chmod|chown|chgrp)\s{_RECURSIVE}[^;&|\n]*\s{_CHMOD_TARGET}"
# a recursive flag after a blank, and a target after a blank: both are needed after the first head
_FLAG_AFTER_BLANK = r"\s(?:-[a-zA-Z]*[rR]|--recursive)"
_FORK_BOMB = r"(\w+|:)\s*\(\)\s*\{\s*\1\s*\|\s*\1\s*&\s*\}\s*;?\s*\1"

# Every rule is linear in the command's length: the three whose regex alone is not carry a matcher;
# the others are a literal, or a class or literal followed by a bounded or possessive-equivalent tail.
DEFAULT_RULES: tuple[DenyRule, ...] = (
    DenyRule("recursive delete of the filesystem root or the home directory",
             pattern=_RM,
             matcher=first_per_segment("rm", _RM, needs=(_FLAG_AFTER_BLANK, rf"\s{_ROOT_TARGET}"))),
    DenyRule("--no-preserve-root is never needed by an agent", pattern=r"--no-preserve-root"),
    DenyRule("recursive chmod/chown of the filesystem root",
             pattern=_CHMOD, matcher=first_per_segment("(?:chmod|chown|chgrp)", _CHMOD,
                                                       needs=(_FLAG_AFTER_BLANK, rf"\s{_CHMOD_TARGET}"))),
    DenyRule("fork bomb", pattern=_FORK_BOMB, matcher=fork_bomb_matcher(_FORK_BOMB)),
    DenyRule("creating a filesystem or wiping signatures destroys the data on a device",
             programs=frozenset({"mkfs", "mke2fs", "mkswap", "wipefs"}), pattern=r"(?:^|[\s;&|(])mkfs\.\w+"),
    DenyRule("writing raw data to a disk device destroys its contents",
             pattern=r"(?:\bof=|>\s*)/dev/(?:sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|dm-\d|md\d|disk\d)"),
    DenyRule("shutting down or rebooting the machine ends the session",
             programs=frozenset({"shutdown", "reboot", "halt", "poweroff"})),
)

DEFAULT_POLICY = CommandPolicy(DEFAULT_RULES)

__all__ = ["DEFAULT_POLICY", "DEFAULT_RULES", "CommandPolicy", "DenyRule", "command_programs"]
