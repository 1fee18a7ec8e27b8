"""Make the stand-in tree importable as ``computer_use_demo`` (it lives under ``examples/``).

Also provides ``reap_bash``: upstream's bash tool has no close method and ``restart`` leaves the
old shell to the garbage collector, so tests that start shells stop them here, on the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from asyncio.base_subprocess import BaseSubprocessTransport
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

_EXAMPLES = str(Path(__file__).resolve().parents[2])
if _EXAMPLES not in sys.path:
    sys.path.insert(0, _EXAMPLES)


def _open_transports(loop: asyncio.AbstractEventLoop) -> list[BaseSubprocessTransport]:
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, BaseSubprocessTransport) and obj._loop is loop and not obj.is_closing()
    ]


@pytest.fixture(autouse=True, scope="module")  # module scope: before the modules' own module fixtures
def agent_display() -> Iterator[None]:
    """The display size the agent's container sets (upstream's image: 1024x768); the computer tool asserts it."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("WIDTH", "1024"), ("HEIGHT", "768")):
            if not os.environ.get(name):
                mp.setenv(name, value)
        yield


@pytest.fixture
async def reap_bash() -> AsyncIterator[None]:
    """Kill, await and close every subprocess the test left on its loop (shells, old sessions)."""
    yield
    loop = asyncio.get_running_loop()
    for transport in _open_transports(loop):
        # /bin/sh -c /bin/bash: bash is a child of sh, so kill the whole (setsid) group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(transport.get_pid(), signal.SIGKILL)
        await asyncio.wait_for(transport._wait(), timeout=10)
        transport.close()
    await asyncio.sleep(0)
