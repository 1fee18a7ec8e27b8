"""Side effects the library needs, gathered in one injectable object.

Nothing here runs at import time: the CLI (or a test) builds a ``Context`` and passes it down.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


@dataclass
class Context:
    """Console (stderr: progress, logs), clock, environment, identity, project root."""

    err: Console = field(default_factory=lambda: Console(stderr=True))
    clock: Callable[[], _dt.datetime] = _utcnow
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    user: str = field(default_factory=_user)
    host: str = field(default_factory=socket.gethostname)
    project_root: Path = PROJECT_ROOT
    command: str = field(default_factory=lambda: " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))
    progress: bool = True
    debug: bool = False
    agent_python: str | None = None  # the interpreter verification runs the agent loop in (None: ours)
    metrics_dir: Path | None = None  # where deploy metrics go (--metrics-dir / DC_METRICS_DIR); None: nowhere

    def now_iso(self) -> str:
        return self.clock().astimezone(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def log(self, message: str) -> None:
        self.err.print(message, highlight=False, soft_wrap=True)
