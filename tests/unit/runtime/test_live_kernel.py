"""The live kernel under load, its write-ahead rule, and recovery that reconciles, not re-sends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import anyio
import pytest

from runtime import (
    CODEC,
    Actor,
    ActorSpec,
    Adapter,
    Conflated,
    EffectReconciled,
    Envelope,
    Journal,
    LiveKernel,
    MemoryStore,
    Message,
    RunInfo,
    SimKernel,
)
from runtime._adapter import Reconciliation
from runtime._recovery import recover
from runtime._replay import replay
from tests.unit.runtime.toy import Order, Quote

pytestmark = pytest.mark.anyio


class SlowConsumer(Actor):
    """Take quotes and orders; burn time per message so its mailbox fills."""

    def __init__(self) -> None:
        self.orders: list[int] = []
        self.quotes = 0

    def on_start(self) -> None:
        self.ctx.subscribe(Quote)
        self.ctx.subscribe(Order)

    def on_quote(self, msg: Quote) -> None:
        self.quotes += 1
        sum(range(2000))

    def on_order(self, msg: Order) -> None:
        self.orders.append(msg.n)
        sum(range(2000))


class Flood(Adapter):
    """Feed quotes on 3 keys as fast as the kernel takes them, an order every 10th message."""

    external: ClassVar[bool] = False
    feeds: ClassVar[bool] = True

    def __init__(self, n: int) -> None:
        self.n = n
        self.done = anyio.Event()

    async def run(self) -> None:
        for i in range(self.n):
            if i % 10 == 0:
                await self.port.emit(Order(n=i))
            else:
                await self.port.emit(Quote(instrument=("BTC", "ETH", "SOL")[i % 3], px=i))
        self.done.set()


async def run_until(kernel: LiveKernel, done: anyio.Event) -> None:
    async with anyio.create_task_group() as tg:

        async def stop() -> None:
            await done.wait()
            kernel.request_stop("test")

        tg.start_soon(stop)
        await kernel.run()


async def test_flood_conflates_market_data_keeps_every_order_bounds_mailboxes_and_replays() -> None:
    store = MemoryStore()
    await store.create_run(
        RunInfo(run_id="r", kernel="live", mode="paper", level="full", seed=0, config="{}")
    )
    k = LiveKernel(store=store, journal=Journal(), run_id="r", mailbox_size=16)
    consumer = SlowConsumer()
    k.add_actor(ActorSpec("consumer", lambda: consumer))
    flood = Flood(5000)
    k.add_adapter("flood", flood)
    with anyio.fail_after(60):
        await run_until(k, flood.done)
    stats = k.status()["consumer"]
    assert consumer.orders == list(range(0, 5000, 10)), "no order lost, none reordered"
    assert stats["dropped"] > 0, "market data conflated under load"
    assert consumer.quotes + stats["dropped"] == 4500
    # Ordered depth is bounded by capacity + one burst; conflated slots by the number of keys.
    assert stats["high_water"] <= 16 + 1 + 3
    rows = store._rows["r"]
    assert any(r.type == "kernel.Conflated" for r in rows)

    def build(run: RunInfo, *, sink: object) -> SimKernel:
        sim = SimKernel(run_id="r")
        sim.add_actor(ActorSpec("consumer", SlowConsumer))
        return sim

    report = await replay(store, "r", build=build)
    assert report.ok, report.divergence


class Submit(Message, frozen=True, kw_only=True, tag="test.Submit"):
    effect: ClassVar[bool] = True
    n: int


class Submitted(Message, frozen=True, kw_only=True, tag="test.Submitted"):
    n: int


class Trader(Actor):
    def __init__(self, count: int) -> None:
        self.count = count

    def on_start(self) -> None:
        for n in range(self.count):
            self.ctx.send("venue", Submit(n=n))


class Venue(Adapter):
    """Check, at each execute, that the command's row is already in the store."""

    def __init__(self, store: MemoryStore, run_id: str, *, hang_after: int | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.hang_after = hang_after
        self.executed: list[str] = []
        self.durable_first: list[bool] = []
        self.reconciled: list[str] = []

    async def execute(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Sequence[Message]:
        assert isinstance(cmd, Submit)
        stored = {r.seq for r in self.store._rows[self.run_id]}
        self.durable_first.append(env.seq in stored)
        if self.hang_after is not None and len(self.executed) >= self.hang_after:
            await anyio.sleep_forever()
        self.executed.append(idem_key)
        return [Submitted(n=cmd.n)]

    async def reconcile(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Reconciliation:
        self.reconciled.append(idem_key)
        return Reconciliation("not_done")


async def test_a_command_reaches_its_adapter_only_after_its_row_is_durable() -> None:
    store = MemoryStore()
    await store.create_run(
        RunInfo(run_id="w", kernel="live", mode="paper", level="full", seed=0, config="{}")
    )
    k = LiveKernel(store=store, journal=Journal(), run_id="w")
    k.add_actor(ActorSpec("trader", lambda: Trader(20)))
    venue = Venue(store, "w")
    k.add_adapter("venue", venue)
    done = anyio.Event()

    async def watch() -> None:
        while len(venue.executed) < 20:
            await anyio.sleep(0.001)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        with anyio.fail_after(10):
            await run_until(k, done)
    assert venue.durable_first == [True] * 20
    assert len(set(venue.executed)) == 20
    assert not k.pending_effects


async def test_after_a_crash_unacknowledged_commands_are_reconciled_not_resent() -> None:
    store = MemoryStore()
    await store.create_run(
        RunInfo(run_id="c", kernel="live", mode="paper", level="full", seed=0, config="{}")
    )
    first = Venue(store, "c", hang_after=3)
    k1 = LiveKernel(store=store, journal=Journal(), run_id="c")
    k1.add_actor(ActorSpec("trader", lambda: Trader(5)))
    k1.add_adapter("venue", first)
    # "Crash": cancel the kernel while the venue hangs on the 4th command.
    with anyio.move_on_after(0.5):
        await k1.run()
    assert len(first.executed) == 3

    second = Venue(store, "c")
    k2 = LiveKernel(store=store, journal=Journal(), run_id="c")
    k2.add_actor(ActorSpec("trader", lambda: Trader(5)))
    k2.add_adapter("venue", second)
    report = await recover(k2, store, "c")
    assert report.divergence is None
    assert (
        sorted(k2.pending_effects)
        == sorted(r.seq for r in store._rows["c"] if r.type == "test.Submit")[3:]
    )
    done = anyio.Event()

    async def watch() -> None:
        while len(second.reconciled) < 2:
            await anyio.sleep(0.001)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        with anyio.fail_after(10):
            await run_until(k2, done)
    assert second.executed == [], "never re-sent blindly"
    assert len(second.reconciled) == 2
    outcomes = [
        CODEC.decode(r.data).msg for r in store._rows["c"] if r.type == "kernel.EffectReconciled"
    ]
    assert [o.outcome for o in outcomes if isinstance(o, EffectReconciled)] == ["not_done"] * 2


def test_conflated_marker_is_an_input_message() -> None:
    assert Conflated(actor="a", kept=2, dropped=[1]).dropped == [1]


def test_a_closed_tap_is_removed() -> None:
    from runtime import Daemon

    k = LiveKernel()
    daemon = Daemon(
        kernel=k,
        store=MemoryStore(),
        run=RunInfo(run_id="t", kernel="live", mode="paper", level="full", seed=0, config="{}"),
        config=None,
        data_dir=None,
        tokens=None,
        log=None,  # type: ignore[arg-type]
    )
    for _ in range(3):
        with daemon.tap():
            assert len(k._taps) == 1
    assert k._taps == (), "every tap leaves with its `with` block"


async def test_a_new_runs_timers_fire_once_each_after_recovery() -> None:
    """`recover` on a new run starts the actors, which arm their timers: nothing arms them twice."""
    from tests.unit.runtime.toy import Clocked

    store = MemoryStore()
    await store.create_run(
        RunInfo(run_id="t", kernel="live", mode="paper", level="full", seed=0, config="{}")
    )
    k = LiveKernel(store=store, journal=Journal(), run_id="t")
    k.add_actor(ActorSpec("clock", lambda: Clocked(every_ms=40, once_ms=10)))
    await recover(k, store, "t")
    with anyio.move_on_after(0.3):
        await k.run()
    fired = [
        CODEC.decode(r.data).msg for r in store._rows["t"] if r.type == "kernel.TimerFired"
    ]
    keys = [m.key for m in fired]
    assert keys.count("once") == 1
    periodic = [r.ts for r in store._rows["t"] if r.type == "kernel.TimerFired"]
    assert len(periodic) == len(set(periodic)), "no firing journaled twice"


class _Announcer(Actor):
    """Publish one Ping from `on_start`, before the actors registered after it have subscribed."""

    def on_start(self) -> None:
        from tests.unit.runtime.toy import Ping

        self.ctx.publish(Ping(n=7))


async def test_what_on_start_publishes_reaches_actors_that_start_later_and_replays() -> None:
    from tests.unit.runtime.toy import Ping, Sink

    store = MemoryStore()
    await store.create_run(
        RunInfo(run_id="s", kernel="live", mode="paper", level="full", seed=0, config="{}")
    )
    sink = Sink(Ping)
    k = LiveKernel(store=store, journal=Journal(), run_id="s")
    k.add_actor(ActorSpec("announcer", _Announcer))
    k.add_actor(ActorSpec("sink", lambda: sink))
    done = anyio.Event()

    async def watch() -> None:
        while not sink.got:
            await anyio.sleep(0.001)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        with anyio.fail_after(10):
            await run_until(k, done)
    assert [m for *_, m in sink.got] == [Ping(n=7)]

    def build(run: RunInfo, *, sink: object) -> SimKernel:
        sim = SimKernel(run_id="s")
        sim.add_actor(ActorSpec("announcer", _Announcer))
        sim.add_actor(ActorSpec("sink", lambda: Sink(Ping)))
        return sim

    report = await replay(store, "s", build=build)
    assert report.ok, report.divergence
