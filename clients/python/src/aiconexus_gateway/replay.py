"""The client's replay memory: the (sender DID, frame id) pairs of the signaling frames it has
delivered, each kept until its window has passed, and never dropped earlier.

Memory is bounded by refusing, not by forgetting: one sender may hold at most ``per_sender`` ids
inside their windows, all senders together at most ``total``. A frame that would need an id beyond
either bound is refused (the client drops it) until older ids expire. Forgetting a live id instead
would let whoever can flood the memory (a hostile gateway, with frames signed by DIDs it mints)
deliver a frame a second time inside its window: the memory cannot be flushed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Literal

__all__ = ["ReplayLimits", "ReplayMemory", "ReplayVerdict"]

#: ``new``: not seen, and there is room. ``replay``: seen, still inside its window.
#: ``sender-full``: the sender holds ``per_sender`` live ids. ``full``: ``total`` live ids are held.
ReplayVerdict = Literal["new", "replay", "sender-full", "full"]


@dataclass(frozen=True)
class ReplayLimits:
    """Bounds of a :class:`ReplayMemory`."""

    per_sender: int = 1000
    total: int = 100_000

    def __post_init__(self) -> None:
        for name in ("per_sender", "total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"replay limit {name} must be a positive integer (got {value!r})")


class ReplayMemory:
    """Live (sender, id) pairs with their deadlines; a min-heap of deadlines expires them in O(log n)."""

    def __init__(self, limits: ReplayLimits | None = None) -> None:
        self.limits = limits or ReplayLimits()
        self._senders: dict[str, dict[str, int]] = {}
        self._heap: list[tuple[int, str, str]] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def sender_count(self) -> int:
        return len(self._senders)

    def check(self, sender: str, frame_id: str, now_ms: int) -> ReplayVerdict:
        """Forgets the ids whose window ended before ``now_ms``, then says whether (sender, id) may be added."""
        self.expire(now_ms)
        ids = self._senders.get(sender)
        if ids is not None and frame_id in ids:
            return "replay"
        if ids is not None and len(ids) >= self.limits.per_sender:
            return "sender-full"
        if self._count >= self.limits.total:
            return "full"
        return "new"

    def add(self, sender: str, frame_id: str, expires_ms: int) -> None:
        """Remembers (sender, id) until ``expires_ms`` inclusive; call after :meth:`check` answered ``new``."""
        ids = self._senders.setdefault(sender, {})
        previous = ids.get(frame_id)
        if previous is not None:
            if previous >= expires_ms:
                return  # never shorten a deadline
        else:
            self._count += 1
        ids[frame_id] = expires_ms
        heapq.heappush(self._heap, (expires_ms, sender, frame_id))

    def expire(self, now_ms: int) -> None:
        """Forgets every id whose window ended before ``now_ms`` (an id is kept while now <= expires)."""
        heap = self._heap
        while heap and heap[0][0] < now_ms:
            expires, sender, frame_id = heapq.heappop(heap)
            ids = self._senders.get(sender)
            if ids is None or ids.get(frame_id) != expires:
                continue  # a stale node: the deadline was extended later
            del ids[frame_id]
            self._count -= 1
            if not ids:
                del self._senders[sender]
