"""The settle loop on scripted frames and a fake clock: when it returns, and what it never does."""

from __future__ import annotations

import pytest

from dc_impl.tools.screenshot.settle import SettleConfig, wait_until_settled


class Screen:
    """Frames as a function of fake time: ``changes`` are (time, content) steps after the action."""

    def __init__(self, changes: list[tuple[float, bytes]], busy_from: float | None = None) -> None:
        self.now = 0.0
        self.changes = changes
        self.busy_from = busy_from
        self.grabs = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds

    async def grab(self) -> bytes:
        self.grabs += 1
        if self.busy_from is not None and self.now >= self.busy_from:
            return f"busy-{self.grabs}".encode()
        content = b"before"
        for at, frame in self.changes:
            if self.now >= at:
                content = frame
        return content


CFG = SettleConfig(quiet_s=0.3, poll_s=0.05, cap_s=2.0)


async def run(screen: Screen, cfg: SettleConfig = CFG):
    events: list[tuple[str, dict]] = []

    async def progress(phase: str, detail: dict) -> None:
        events.append((phase, detail))

    out = await wait_until_settled(screen.grab, b"before", clock=screen.clock, sleep=screen.sleep, config=cfg,
                                   start=0.0, progress=progress)
    return out, events


async def test_change_then_quiet_returns_after_the_quiet_window() -> None:
    screen = Screen([(0.15, b"after")])
    out, events = await run(screen)
    assert out.outcome == "settled"
    assert out.first_change_s == pytest.approx(0.15, abs=0.051)
    assert out.elapsed_s == pytest.approx(0.15 + 0.3, abs=0.11)
    assert len(events) == out.frames and events[-1][1]["changed"] is True


async def test_a_late_effect_is_still_caught() -> None:
    """An application that takes 900 ms to react: nothing returns before its change."""
    screen = Screen([(0.9, b"after")])
    out, _ = await run(screen)
    assert out.outcome == "settled" and out.first_change_s is not None and out.first_change_s >= 0.9
    assert out.elapsed_s >= 0.9 + 0.3


async def test_effect_just_before_the_cap_is_waited_for_until_the_cap() -> None:
    screen = Screen([(1.95, b"after")])
    out, _ = await run(screen)
    assert out.outcome == "still_changing" and out.first_change_s is not None
    assert out.elapsed_s == pytest.approx(2.0, abs=0.06)


async def test_nothing_changes_returns_at_the_cap_like_upstream() -> None:
    screen = Screen([])
    out, _ = await run(screen)
    assert out.outcome == "unchanged" and out.first_change_s is None
    assert out.elapsed_s == pytest.approx(2.0, abs=0.06)


async def test_a_screen_that_never_stops_changing_returns_at_the_cap() -> None:
    screen = Screen([], busy_from=0.0)
    out, _ = await run(screen)
    assert out.outcome == "still_changing"
    assert out.elapsed_s == pytest.approx(2.0, abs=0.06)
    assert out.frames == screen.grabs <= 2.0 / 0.05 + 2


async def test_two_step_change_waits_for_the_second_step_when_it_lands_inside_the_quiet_window() -> None:
    screen = Screen([(0.1, b"half"), (0.3, b"done")])
    out, _ = await run(screen)
    assert out.outcome == "settled" and out.elapsed_s >= 0.3 + 0.3


def test_config_from_env_reads_and_bounds_values() -> None:
    cfg = SettleConfig.from_env({"DC_SCREENSHOT_SETTLE_MS": "150", "DC_SCREENSHOT_POLL_MS": "20",
                                 "DC_SCREENSHOT_SETTLE_CAP_S": "1.5"})
    assert (cfg.quiet_s, cfg.poll_s, cfg.cap_s) == (0.15, 0.02, 1.5)
    bad = SettleConfig.from_env({"DC_SCREENSHOT_SETTLE_MS": "soon", "DC_SCREENSHOT_POLL_MS": "0",
                                 "DC_SCREENSHOT_SETTLE_CAP_S": "-1"})
    assert bad == SettleConfig()
