"""Test doubles that ship with Kinetic, for our tests and yours (as `trio.testing` ships MockClock).

- `ManualClock`: a clock a test advances by hand, for the live kernel.
- `Recorder`: an actor that keeps what it receives, to assert on.
- `EffectEmitter` + `CountingAdapter`: a write-ahead command every few ms, and an adapter that
  performs each by appending its idempotency key to a file (fsync'd). The crash tests kill a
  daemon running these at random points and count the keys: none may appear twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from runtime._actor import Actor
from runtime._adapter import Adapter, Reconciliation
from runtime._kernel_messages import EffectReconciled, TimerFired
from runtime._message import Envelope, Message, message_type
from runtime.config import ConfigBase


class ManualClock:
    """Return a time that moves only when told to; pass it as `LiveKernel(clock=...)`."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self.ns = start_ns

    def __call__(self) -> int:
        return self.ns

    def advance(self, ns: int, /) -> None:
        """Move the clock forward by `ns`."""
        self.ns += ns


class RecorderConfig(ConfigBase, frozen=True, kw_only=True):
    """Which message tags a `Recorder` subscribes to."""

    tags: list[str] = msgspec.field(default_factory=list)


class RecorderState(msgspec.Struct, kw_only=True):
    """What a recorder saw: (seq, tag) per message, in arrival order."""

    seen: list[tuple[int, str]] = msgspec.field(default_factory=list)


class Recorder(Actor):
    """Subscribe to `tags` and keep (seq, tag) of everything received."""

    Params = RecorderConfig

    def __init__(self, params: RecorderConfig | None = None) -> None:
        self.params = params or RecorderConfig()
        self.state = RecorderState()
        self.messages: list[Message] = []

    def on_start(self) -> None:
        for tag in self.params.tags:
            self.ctx.subscribe(message_type(tag))

    def on_message(self, msg: Message) -> None:
        env = self.ctx.current
        assert env is not None
        self.state.seen.append((env.seq, str(type(msg).__struct_config__.tag)))
        self.messages.append(msg)


class Effect(Message, frozen=True, kw_only=True, tag="testing.Effect"):
    """A command with an external effect, numbered by its emitter."""

    effect: ClassVar[bool] = True
    n: int
    idem_key: str


class EffectDone(Message, frozen=True, kw_only=True, tag="testing.EffectDone"):
    """The counting adapter's result: command `n` was performed."""

    n: int
    idem_key: str


class EffectEmitterConfig(ConfigBase, frozen=True, kw_only=True):
    """Where an `EffectEmitter` sends its commands and how often."""

    target: str = "counter"
    interval_ms: int = 20


class EffectEmitterState(msgspec.Struct, kw_only=True):
    """How many commands were sent, acknowledged by a result, and settled by reconciliation."""

    sent: int = 0
    done: int = 0
    reconciled: int = 0


class EffectEmitter(Actor):
    """Send `Effect(n)` to `target` every `interval_ms`; count results and reconciliations."""

    Params = EffectEmitterConfig

    def __init__(self, params: EffectEmitterConfig | None = None) -> None:
        self.params = params or EffectEmitterConfig()
        self.state = EffectEmitterState()

    def on_start(self) -> None:
        self.ctx.subscribe(EffectDone)
        self.ctx.subscribe(EffectReconciled)
        self.ctx.schedule(self.params.interval_ms * 1_000_000, key="effect", every=True)

    def on_timer(self, msg: TimerFired) -> None:
        st = self.state
        st.sent += 1
        self.ctx.send(self.params.target, Effect(n=st.sent, idem_key=self.ctx.idem_key(st.sent)))

    def on_done(self, msg: EffectDone) -> None:
        self.state.done += 1

    def on_reconciled(self, msg: EffectReconciled) -> None:
        self.state.reconciled += 1


class CountingAdapterConfig(ConfigBase, frozen=True, kw_only=True):
    """The file a `CountingAdapter` appends performed idempotency keys to."""

    path: str


class CountingAdapter(Adapter):
    """Perform an `Effect` by appending its key to a file (fsync'd): a counterparty that counts.

    `reconcile` reads the file: a key present means the effect happened before the crash.
    """

    Params = CountingAdapterConfig

    def __init__(self, params: CountingAdapterConfig) -> None:
        self.path = Path(params.path)
        self.executed = 0

    def keys(self) -> list[str]:
        """Return every key performed so far, in order (duplicates included)."""
        if not self.path.exists():
            return []
        return [line for line in self.path.read_text().splitlines() if line]

    async def execute(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Sequence[Message]:
        assert isinstance(cmd, Effect)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{idem_key}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self.executed += 1
        return [EffectDone(n=cmd.n, idem_key=idem_key)]

    async def reconcile(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Reconciliation:
        assert isinstance(cmd, Effect)
        if idem_key in self.keys():
            return Reconciliation("done", [EffectDone(n=cmd.n, idem_key=idem_key)])
        return Reconciliation("not_done", (), "no record of the key at the counterparty")


def run_sim(
    actors: dict[str, Actor], /, *, seed: int = 0, until_ns: int | None = None, **kernel: Any
) -> Any:
    """Build a `SimKernel` with `actors` (name -> instance), run it, stop it; return the kernel."""
    from runtime._cell import ActorSpec
    from runtime._sim import SimKernel

    k = SimKernel(seed=seed, **kernel)
    for name, actor in actors.items():
        k.add_actor(ActorSpec(name, _returning(actor)))
    k.run(until_ns=until_ns)
    k.stop()
    return k


def _returning(actor: Actor) -> Callable[[], Actor]:
    def factory() -> Actor:
        return actor

    return factory
