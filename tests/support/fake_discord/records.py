"""Recorded traffic (REST requests, gateway frames) and an awaitable append-only log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")

# Every wait in this package takes an explicit `timeout` argument (hence the ASYNC109 noqa
# markers): a bot that never answers must fail its test quickly with a description of what
# was recorded instead, not hang until a global timeout.


@dataclass
class _Waiter(Generic[T]):
    predicate: Callable[[T], bool]
    start: int
    future: asyncio.Future[T]


class WaitableLog(Sequence[T]):
    """Append-only list that lets tests await the first item matching a predicate.

    Waiting is event driven (futures resolved on append), never sleep-polling.
    """

    def __init__(self, describe: Callable[[T], str] = repr) -> None:
        self._items: list[T] = []
        self._waiters: list[_Waiter[T]] = []
        self._describe = describe

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items))

    def __repr__(self) -> str:
        return f"WaitableLog({self._items!r})"

    def append(self, item: T) -> None:
        """Add an item and wake every waiter it satisfies."""
        index = len(self._items)
        self._items.append(item)
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            if index >= waiter.start and waiter.predicate(item):
                waiter.future.set_result(item)
                self._waiters.remove(waiter)

    def clear(self) -> None:
        """Forget recorded items (pending waiters stay registered)."""
        self._items.clear()

    def find(self, predicate: Callable[[T], bool], *, start: int = 0) -> T | None:
        """Return the first already-recorded item at index >= start matching predicate."""
        for item in self._items[start:]:
            if predicate(item):
                return item
        return None

    async def wait_for(
        self,
        predicate: Callable[[T], bool],
        *,
        start: int = 0,
        timeout: float = 5.0,
        what: str = "item",
    ) -> T:
        """Return the first item at index >= start matching predicate, waiting if needed.

        Raises TimeoutError listing what *was* recorded, so failing tests explain themselves.
        """
        found = self.find(predicate, start=start)
        if found is not None:
            return found
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(predicate, start, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            seen = (
                "\n  ".join(self._describe(item) for item in self._items[start:][-25:])
                or "(nothing)"
            )
            raise TimeoutError(
                f"no {what} within {timeout}s; recorded since #{start}:\n  {seen}"
            ) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


@dataclass
class RecordedFile:
    """One file part of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    """One REST request the client made, and what the fake answered."""

    method: str
    path: str  # without the /api/vN prefix, e.g. "/channels/1/messages"
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None  # parsed JSON body, or the parsed payload_json of a multipart body
    files: list[RecordedFile] = field(default_factory=list)
    form: dict[str, str] = field(
        default_factory=dict
    )  # non-file multipart fields other than payload_json
    status: int = 0
    response: Any = None

    def describe(self) -> str:
        """One-line summary for error messages."""
        return f"{self.method} {self.path} -> {self.status}"


@dataclass
class GatewayFrame:
    """One gateway payload the client sent (op, d) on a given connection."""

    connection: int
    op: int
    d: Any

    def describe(self) -> str:
        """One-line summary for error messages."""
        return f"conn#{self.connection} op={self.op}"
