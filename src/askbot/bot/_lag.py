"""A watchdog for the event loop: how late it wakes a sleeping task, logged when it stalls."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

INTERVAL = 0.05
WARN_MS = 100.0


@dataclass
class LagMonitor:
    """Samples the loop's lag every INTERVAL seconds; warns on stalls, summarises at stop."""

    interval: float = INTERVAL
    warn_ms: float = WARN_MS
    samples_ms: list[float] = field(default_factory=list)
    gc_max_ms: float = 0.0
    _task: asyncio.Task[None] | None = None
    _sampled: asyncio.Event = field(default_factory=asyncio.Event)
    _gc_started: float = 0.0

    def start(self) -> None:
        """Begin sampling on the running loop (and timing the garbage collector's pauses)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="askbot-lag")
            gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # A collection stops every thread of the process: a long one is a loop stall of its own.
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        pause = (time.perf_counter() - self._gc_started) * 1000.0
        self.gc_max_ms = max(self.gc_max_ms, pause)
        if pause > self.warn_ms / 4:
            log.warning(
                "garbage collection of generation %s took %.0f ms", info.get("generation"), pause
            )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            lag = max(0.0, (loop.time() - started - self.interval) * 1000.0)
            self.samples_ms.append(lag)
            self._sampled.set()
            if len(self.samples_ms) > 100_000:
                del self.samples_ms[:50_000]  # bounded memory for a bot that runs for months
            if lag > self.warn_ms:
                log.warning("event loop stalled for %.0f ms", lag)

    async def next_sample(self) -> float:
        """Wait for the next sample and return it (ms)."""
        self._sampled.clear()
        await self._sampled.wait()
        return self.samples_ms[-1]

    def summary(self) -> str:
        """Max and 99th percentile lag so far, as one log line."""
        if not self.samples_ms:
            return "event loop lag: no samples"
        ordered = sorted(self.samples_ms)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return (
            f"event loop lag: max {ordered[-1]:.1f} ms, p99 {p99:.1f} ms, "
            f"median {ordered[len(ordered) // 2]:.1f} ms over {len(ordered)} samples; "
            f"longest garbage collection {self.gc_max_ms:.1f} ms"
        )

    async def stop(self) -> None:
        """Stop sampling and log the summary."""
        if self._task is not None:
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(self._on_gc)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            log.info("%s", self.summary())
