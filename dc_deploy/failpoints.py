"""Named crash points for the reliability suites.

``DC_FAILPOINT=<name>`` (or ``<name>:<n>`` for the n-th hit) makes the process SIGKILL itself when
``hit(name)`` is reached, like a power cut or ``kill -9`` at that exact step. With the variable unset
``hit`` is one dict lookup of a cached ``None``.
"""

from __future__ import annotations

import os
import signal
from typing import Any

ENV = "DC_FAILPOINT"

ALL: tuple[str, ...] = (
    "after_lock",
    "after_journal",
    "mid_backup",
    "before_replace",
    "after_replace",
    "after_receipt",
    "toggle_after_temp",
    "toggle_after_replace",
    "verify_started",
    "mid_restore",
    "after_commit",
)

_state: dict[str, Any] = {}  # "armed": (name, nth) | None, "count": hits of the armed one so far


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, nth = value.partition(":")
    if name not in ALL:
        raise ValueError(f"{ENV}={value!r}: unknown failpoint; known: {', '.join(ALL)}")
    return name, int(nth) if nth else 1


def reset() -> None:
    """Re-read the environment (tests that set ``DC_FAILPOINT`` in-process call this)."""
    _state.clear()
    _state["armed"] = _parse(os.environ.get(ENV))
    _state["count"] = 0


def hit(name: str) -> None:
    """Crash here (SIGKILL) when this failpoint is armed and this is the chosen hit."""
    if "armed" not in _state:
        reset()
    armed = _state["armed"]
    if armed is None:
        return
    want, nth = armed
    if name != want:
        return
    _state["count"] = int(_state["count"]) + 1
    if _state["count"] == nth:
        os.kill(os.getpid(), signal.SIGKILL)
