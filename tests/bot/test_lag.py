"""The event-loop lag watchdog."""

from __future__ import annotations

import logging
import time

import pytest

from askbot.bot._lag import LagMonitor


async def test_a_blocked_loop_is_measured_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Blocking the loop for 150 ms shows up as a stall warning and in the summary."""
    monitor = LagMonitor(interval=0.001, warn_ms=100)
    monitor.start()
    await monitor.next_sample()  # the watchdog is running
    with caplog.at_level(logging.INFO, logger="askbot.bot._lag"):
        # The monitor is now asleep until its next sample; block the loop under it.
        time.sleep(0.15)  # noqa: ASYNC251 - the stall under test deliberately blocks the loop
        lag = await monitor.next_sample()
        await monitor.stop()
    assert lag >= 100
    assert any("stalled" in r.message for r in caplog.records)
    assert "event loop lag: max" in caplog.records[-1].message


def test_summary_without_samples_says_so() -> None:
    """A monitor that never ran reports no samples."""
    assert LagMonitor().summary() == "event loop lag: no samples"
