"""Build the 4-actor chain every kernel benchmark drives, so their figures count the same thing.

An input to `a` is forwarded a -> b -> c -> d, each hop sending a new small message: one input
makes 4 deliveries (1 input envelope, 3 outputs), and a "message" in every figure is one delivery.
The handlers do nothing else, so what the figures measure is the kernel, not the actors.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import msgspec

from runtime import Actor, ActorSpec, KernelBase, Message

HOPS = ("a", "b", "c", "d")
DELIVERIES_PER_INPUT = len(HOPS)
FEED = "feed"
"""The `src` of the inputs the benchmarks inject."""


class Ping(Message, frozen=True, kw_only=True, tag="bench.Ping"):
    """Carry a sequence number down the chain."""

    n: int


class Forward(Actor):
    """Send every `Ping` on to the next actor as a new `Ping`: the least a handler can do."""

    def __init__(self, nxt: str) -> None:
        self.nxt = nxt

    def on_ping(self, msg: Ping) -> None:
        """Forward `msg`."""
        self.ctx.send(self.nxt, Ping(n=msg.n))


class Last(Actor):
    """Count arrivals at the end of the chain and call `arrived` when `target` is reached.

    The callback is how a benchmark observes the live kernel from outside; an agent would never
    hold one (it is state the journal cannot replay).
    """

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.arrived: Callable[[], object] | None = None

    def on_ping(self, msg: Ping) -> None:
        """Count `msg`; signal the benchmark at the target."""
        self.count += 1
        if self.count == self.target and self.arrived is not None:
            self.arrived()


class Tally(msgspec.Struct):
    """What a stateful hop remembers: how many pings it handled and the sum of their numbers."""

    handled: int = 0
    total: int = 0


class CountingForward(Forward):
    """Forward like `Forward`, keeping a `Tally`: state for snapshots and recovery to restore."""

    def __init__(self, nxt: str) -> None:
        super().__init__(nxt)
        self.state = Tally()

    def on_ping(self, msg: Ping) -> None:
        """Count `msg`, then forward it."""
        self.state.handled += 1
        self.state.total += msg.n
        self.ctx.send(self.nxt, Ping(n=msg.n))


class CountingLast(Last):
    """End the chain like `Last`, keeping a `Tally`."""

    def __init__(self) -> None:
        super().__init__()
        self.state = Tally()

    def on_ping(self, msg: Ping) -> None:
        """Count `msg` in the tally, then as `Last` does."""
        self.state.handled += 1
        self.state.total += msg.n
        super().on_ping(msg)


def add_chain(kernel: KernelBase, /, *, stateful: bool = False) -> Last:
    """Add the chain's actors to `kernel`; return the last one (to observe arrivals)."""
    hop = CountingForward if stateful else Forward
    for name, nxt in itertools.pairwise(HOPS):
        kernel.add_actor(ActorSpec(name, lambda nxt=nxt: hop(nxt)))  # type: ignore[misc]
    kernel.add_actor(ActorSpec(HOPS[-1], CountingLast if stateful else Last))
    last = kernel.actor(HOPS[-1])
    assert isinstance(last, Last)
    return last
