"""Queue envelopes for one actor in the live kernel, bounded, conflating market data per key.

Order: a mailbox holds envelopes in seq order, always. The kernel therefore never delays a put;
it bounds a mailbox by making the *sender* wait after its handler returns until the mailboxes it
filled drop below their capacity (see `LiveKernel._relieve`). So the depth of ordered messages is
at most `capacity` plus one handler's burst per sender, nothing is dropped but superseded market
data, and per-actor order equals journal order, which is what makes a live run replayable.

Conflation: a market data message (`Message.conflate`) whose (type, key) is already waiting
replaces it; the replaced seqs are reported when the actor takes the slot, so the kernel can journal
them (replay must know what a busy actor skipped). The newer message must not overtake anything
queued after the old one, so unless the old slot is last it is marked dead and the new one appended;
dead slots are compacted away once they outnumber the live ones (amortized O(1), bounded memory).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import anyio

from runtime._message import Envelope


class _Slot:
    __slots__ = ("dead", "dropped", "env", "key")

    def __init__(self, env: Envelope, key: Any, dropped: list[int]) -> None:
        self.env = env
        self.key = key
        self.dropped = dropped
        self.dead = False


class Mailbox:
    """Hold an actor's pending envelopes; see the module docstring for the bounds."""

    __slots__ = (
        "_dead",
        "_q",
        "_room",
        "_slots",
        "_waiter",
        "capacity",
        "dropped",
        "high_water",
        "name",
        "ordered",
        "received",
        "waiting_for_room",
    )

    def __init__(self, name: str, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"`mailbox_size` must be > 0, got {capacity}")
        self.name = name
        self.capacity = capacity
        self._q: deque[Envelope | _Slot] = deque()
        self._slots: dict[Any, _Slot] = {}
        self._dead = 0
        self._waiter: anyio.Event | None = None
        self._room: anyio.Event | None = None
        self.ordered = 0
        """Ordered (non-conflated) envelopes waiting: the figure the capacity bounds."""
        self.dropped = 0
        self.received = 0
        self.high_water = 0
        self.waiting_for_room = False
        """Whether this mailbox's owner is itself blocked on another mailbox (no deadlock waits)."""

    def __len__(self) -> int:
        return len(self._q) - self._dead

    @property
    def full(self) -> bool:
        """Return whether ordered envelopes reached the capacity."""
        return self.ordered >= self.capacity

    def put(self, env: Envelope) -> bool:
        """Queue `env` without waiting; return True when the mailbox is now at or over capacity."""
        self.received += 1
        if env.msg.conflate:
            return self._put_conflated(env)
        q = self._q
        q.append(env)
        ordered = self.ordered = self.ordered + 1
        depth = len(q) - self._dead
        if depth > self.high_water:  # noqa: PLR1730 - the hot path: no call to max()
            self.high_water = depth
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set()
        return ordered >= self.capacity

    def _put_conflated(self, env: Envelope) -> bool:
        """Queue market data, replacing an unread message of the same (type, key)."""
        msg = env.msg
        field = msg.key_field
        key = (type(msg), getattr(msg, field) if field is not None else None)
        slot = self._slots.get(key)
        self.dropped += slot is not None
        if slot is not None:
            slot.dropped.append(slot.env.seq)
            if self._q[-1] is slot:
                slot.env = env
                return False
            slot.dead = True
            self._dead += 1
            slot = _Slot(env, key, slot.dropped)
            if self._dead > 64 and self._dead * 2 > len(self._q):
                self._q = deque(x for x in self._q if type(x) is not _Slot or not x.dead)
                self._dead = 0
        else:
            slot = _Slot(env, key, [])
        self._slots[key] = slot
        self._q.append(slot)
        depth = len(self._q) - self._dead
        self.high_water = max(self.high_water, depth)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set()
        return self.ordered >= self.capacity

    def get_nowait(self) -> tuple[Envelope, list[int] | None] | None:
        """Take the next envelope and the seqs it superseded, or None when empty."""
        q = self._q
        while q:
            item = q.popleft()
            if type(item) is not _Slot:
                break
            if item.dead:
                self._dead -= 1
                continue
            del self._slots[item.key]
            return item.env, item.dropped or None
        else:
            return None
        self.ordered -= 1
        room = self._room
        if room is not None and self.ordered < self.capacity:
            self._room = None
            room.set()
        return item, None  # type: ignore[return-value]

    async def wait(self) -> None:
        """Wait until something is queued. A cancellation point."""
        if self._q:
            return
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = anyio.Event()
        await waiter.wait()

    async def wait_room(self) -> None:
        """Wait until ordered envelopes drop below the capacity. A cancellation point."""
        while self.ordered >= self.capacity:
            room = self._room
            if room is None:
                room = self._room = anyio.Event()
            await room.wait()

    def stats(self) -> dict[str, int]:
        """Return depth, capacity, high-water mark, received and conflated-away counts."""
        return {
            "depth": len(self._q) - self._dead,
            "capacity": self.capacity,
            "high_water": self.high_water,
            "received": self.received,
            "dropped": self.dropped,
        }
