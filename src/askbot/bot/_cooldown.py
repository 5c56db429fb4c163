"""Per-user rate limit shared by /ask and chat questions: ``rate`` questions per ``per`` seconds."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

# Forget users idle for a whole window once this many are tracked, so memory stays bounded.
_PRUNE_AT = 4096


class Cooldown:
    """A sliding window per user: at most ``rate`` questions in any ``per`` seconds."""

    def __init__(self, rate: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = max(1, rate)
        self.per = max(0.0, per)
        self._clock = clock
        self._hits: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}

    def acquire(self, user_id: int) -> float:
        """0.0 and the question counts if the user may ask now; else seconds until they may."""
        if self.per <= 0:
            return 0.0
        now = self._clock()
        if len(self._hits) >= _PRUNE_AT:
            self._prune(now)
        hits = self._hits.setdefault(user_id, deque(maxlen=self.rate))
        if len(hits) == self.rate:
            wait = hits[0] + self.per - now
            if wait > 0:
                return wait
        hits.append(now)
        return 0.0

    def should_warn(self, user_id: int) -> bool:
        """True once per window for a refused user, so a busy user is told once, not every time."""
        hits = self._hits.get(user_id)
        if not hits:
            return True
        window = hits[0]
        if self._warned.get(user_id) == window:
            return False
        self._warned[user_id] = window
        return True

    def _prune(self, now: float) -> None:
        idle = [u for u, h in self._hits.items() if not h or h[-1] + self.per <= now]
        for user in idle:
            del self._hits[user]
            self._warned.pop(user, None)
