"""The agent's display size for in-process turns: the host's computer tool asserts WIDTH/HEIGHT at construction
(as upstream's does); the agent's container sets them (upstream's image: 1024x768)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")  # module scope: before the modules' own module fixtures
def agent_display() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("WIDTH", "1024"), ("HEIGHT", "768")):
            if not os.environ.get(name):
                mp.setenv(name, value)
        yield
