"""_cooldown.Cooldown: a sliding window per user, driven by a fake clock."""

from __future__ import annotations

import pytest

from askbot.bot._cooldown import Cooldown


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_allows_rate_questions_then_says_how_long_to_wait() -> None:
    """Three per ten seconds: the fourth waits until the first leaves the window."""
    clock = Clock()
    cooldown = Cooldown(3, 10, clock)
    assert [cooldown.acquire(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 4
    assert cooldown.acquire(1) == pytest.approx(6.0)


def test_window_slides() -> None:
    """Once the oldest question is older than the window, the user may ask again."""
    clock = Clock()
    cooldown = Cooldown(1, 10, clock)
    cooldown.acquire(1)
    clock.now += 10
    assert cooldown.acquire(1) == 0.0


def test_users_are_independent() -> None:
    """One user's questions do not slow another down."""
    cooldown = Cooldown(1, 10, Clock())
    cooldown.acquire(1)
    assert cooldown.acquire(2) == 0.0


def test_zero_seconds_disables_it() -> None:
    """ASKBOT_COOLDOWN_SECONDS=0 means no limit."""
    cooldown = Cooldown(1, 0, Clock())
    assert all(cooldown.acquire(1) == 0.0 for _ in range(50))


def test_warns_once_per_window() -> None:
    """A refused user is told once, not on every further message in the same window."""
    clock = Clock()
    cooldown = Cooldown(1, 10, clock)
    cooldown.acquire(1)
    cooldown.acquire(1)
    assert cooldown.should_warn(1) and not cooldown.should_warn(1)
    clock.now += 10
    cooldown.acquire(1)
    cooldown.acquire(1)
    assert cooldown.should_warn(1)
