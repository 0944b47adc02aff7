"""Small actors and messages the kernel tests drive: a counter, a forwarder, a flaky handler."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from runtime import Actor, Message, TimerFired


class Ping(Message, frozen=True, kw_only=True, tag="toy.Ping"):
    n: int


class Pong(Message, frozen=True, kw_only=True, tag="toy.Pong"):
    n: int
    by: str


class Quote(Message, frozen=True, kw_only=True, tag="toy.Quote"):
    conflate: ClassVar[bool] = True
    key_field: ClassVar[str | None] = "instrument"
    instrument: str
    px: int


class Order(Message, frozen=True, kw_only=True, tag="toy.Order"):
    n: int


class CountState(msgspec.Struct, kw_only=True):
    total: int = 0
    seen: list[int] = msgspec.field(default_factory=list)


class Counter(Actor):
    """Sum every Ping; fail on the values in `fail_on` (each time it sees them)."""

    def __init__(self, *, fail_on: frozenset[int] = frozenset(), reply: bool = False) -> None:
        self.state = CountState()
        self.fail_on = fail_on
        self.reply = reply

    def on_start(self) -> None:
        self.ctx.subscribe(Ping)

    def on_ping(self, msg: Ping) -> None:
        self.state.total += msg.n
        self.state.seen.append(msg.n)
        if msg.n in self.fail_on:
            raise RuntimeError(f"bad ping {msg.n}")
        if self.reply:
            self.ctx.publish(Pong(n=msg.n, by=self.ctx.name))


class Forwarder(Actor):
    """Send each Ping on to `dst` as Ping(n+1)."""

    def __init__(self, dst: str) -> None:
        self.dst = dst

    def on_ping(self, msg: Ping) -> None:
        self.ctx.send(self.dst, Ping(n=msg.n + 1))


class Sink(Actor):
    """Keep every envelope received (not in state: tests read it directly)."""

    def __init__(self, *types: type[Message], key: object = None) -> None:
        self.types = types or (Ping,)
        self.key = key
        self.got: list[tuple[int, int, str, str, int, Message]] = []

    def on_start(self) -> None:
        for t in self.types:
            self.ctx.subscribe(t, key=self.key)

    def on_any(self, msg: Message) -> None:
        env = self.ctx.current
        assert env is not None
        self.got.append((env.seq, env.ts, env.src, env.corr, env.cause, msg))


class Clocked(Actor):
    """Publish a Ping per timer (`every_ms` periodic, `once_ms` once); stop after `stop_after`."""

    def __init__(self, *, every_ms: int = 10, once_ms: int = 0, stop_after: int = 0) -> None:
        self.state = CountState()
        self.every_ms = every_ms
        self.once_ms = once_ms
        self.stop_after = stop_after
        self.periodic = 0

    def on_start(self) -> None:
        self.periodic = self.ctx.schedule(self.every_ms * 1_000_000, key="every", every=True)
        if self.once_ms:
            self.ctx.schedule(self.once_ms * 1_000_000, key="once")

    def on_timer(self, msg: TimerFired) -> None:
        self.state.total += 1
        self.state.seen.append(self.ctx.now)
        self.ctx.publish(Ping(n=self.ctx.rng.randrange(1000)))
        if self.stop_after and self.state.total >= self.stop_after:
            self.ctx.cancel(self.periodic)
