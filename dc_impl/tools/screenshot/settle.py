"""Waiting for the screen to settle after an action, instead of upstream's fixed 2.0 s sleep.

Settled means: the screen content changed after the action (the pointer is excluded: comparison
frames are grabbed without it) and then stayed the same for ``quiet_s``; or nothing changed within
``cap_s`` (upstream's delay, so we are never slower than upstream). A screen that never stops
changing (a video, a spinner) ends the wait at ``cap_s`` too. Nothing is returned before the cap
unless a change was seen, so an application that takes most of a second to react is still caught.

Only two frames are ever held (the last one and the one being compared): memory stays bounded
whatever the wait. ``grab``, ``clock`` and ``sleep`` are injected; the real ones come from
``capture`` and ``asyncio``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ...contract import ENV_SCREENSHOT_SETTLE_MS

DEFAULT_QUIET_MS = 300
DEFAULT_POLL_MS = 50
DEFAULT_CAP_S = 2.0  # upstream's ``_screenshot_delay``

ENV_QUIET_MS = ENV_SCREENSHOT_SETTLE_MS
ENV_POLL_MS = "DC_SCREENSHOT_POLL_MS"
ENV_CAP_S = "DC_SCREENSHOT_SETTLE_CAP_S"


@dataclass(frozen=True)
class SettleConfig:
    quiet_s: float = DEFAULT_QUIET_MS / 1000
    poll_s: float = DEFAULT_POLL_MS / 1000
    cap_s: float = DEFAULT_CAP_S

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, default_cap_s: float = DEFAULT_CAP_S) -> SettleConfig:
        """Read the three settings; a missing, malformed or out-of-range value keeps its default."""
        env = os.environ if environ is None else environ

        def number(name: str, default: float, low: float, high: float) -> float:
            try:
                value = float(env.get(name, ""))
            except ValueError:
                return default
            return value if low <= value <= high else default

        return cls(quiet_s=number(ENV_QUIET_MS, DEFAULT_QUIET_MS, 0, 10_000) / 1000,
                   poll_s=number(ENV_POLL_MS, DEFAULT_POLL_MS, 5, 1000) / 1000,
                   cap_s=number(ENV_CAP_S, default_cap_s, 0, 60))


@dataclass(frozen=True)
class SettleOutcome:
    outcome: str            # "settled" | "unchanged" (cap, nothing changed) | "still_changing" (cap)
    elapsed_s: float        # from the action's end to the end of the wait
    frames: int             # frames compared
    first_change_s: float | None  # when the first change was seen, from the action's end


Progress = Callable[[str, dict[str, object]], Awaitable[None]]


async def wait_until_settled(grab: Callable[[], Awaitable[bytes]], before: bytes, *,
                             clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
                             config: SettleConfig, start: float,
                             progress: Progress | None = None) -> SettleOutcome:
    """Poll ``grab`` every ``poll_s`` after an action that ended at ``start`` (``clock`` time).

    ``before`` is a frame grabbed just before the action. ``await progress("frames_compared", {...})``
    runs after every comparison, so a front end can show the wait as it goes.
    """
    last = before
    frames = 0
    first_change: float | None = None
    last_change: float | None = None
    while True:
        now = clock()
        if now - start >= config.cap_s:
            outcome = "unchanged" if first_change is None else "still_changing"
            break
        await sleep(min(config.poll_s, max(0.0, config.cap_s - (now - start))))
        frame = await grab()
        frames += 1
        now = clock()
        if frame != last:
            last = frame
            last_change = now
            if first_change is None:
                first_change = now
        if progress is not None:
            await progress("frames_compared", {"frames": frames, "changed": first_change is not None,
                                         "quiet_ms": round(1000 * (now - last_change), 1) if last_change else 0.0})
        if last_change is not None and now - last_change >= config.quiet_s:
            outcome = "settled"
            break
    return SettleOutcome(outcome, clock() - start, frames, None if first_change is None else first_change - start)
