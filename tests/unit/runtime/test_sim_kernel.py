"""The sim kernel: (ts, seq) order, timers, routing by type and key, corr/cause, determinism."""

from __future__ import annotations

from runtime import ActorSpec, Journal, SimKernel
from runtime._app import ListSink
from tests.unit.runtime.toy import Clocked, Counter, Forwarder, Order, Ping, Quote, Sink

MS = 1_000_000


def kernel(**kw: object) -> SimKernel:
    return SimKernel(start_ns=0, **kw)  # type: ignore[arg-type]


def test_messages_are_delivered_in_seq_order_with_cause_and_corr() -> None:
    k = kernel()
    k.add_actor(ActorSpec("a", lambda: Forwarder("b")))
    k.add_actor(ActorSpec("b", lambda: Forwarder("sink")))
    sink = Sink()
    k.add_actor(ActorSpec("sink", lambda: sink))
    first = k.emit_input("feed", Ping(n=1), dst="a", corr="order-7")
    second = k.emit_input("feed", Ping(n=10), dst="a", corr="order-8")
    k.run()
    # Each input travels a -> b -> sink; corr is inherited, cause names the handled message.
    assert [(m.n, corr) for _, _, _, corr, _, m in sink.got] == [(3, "order-7"), (12, "order-8")]
    seqs = [s for s, *_ in sink.got]
    assert seqs == sorted(seqs)
    causes = [c for *_, c, _ in sink.got]
    assert all(c > first.seq for c in causes)
    assert sink.got[0][2] == "b"  # src is the sending actor
    assert second.seq == first.seq + 1


def test_subscriptions_by_type_and_by_key() -> None:
    k = kernel()
    btc, every = Sink(Quote, key="BTC"), Sink(Quote)
    k.add_actor(ActorSpec("btc", lambda: btc))
    k.add_actor(ActorSpec("all", lambda: every))
    for inst, px in (("BTC", 1), ("ETH", 2), ("BTC", 3)):
        k.emit_input("feed", Quote(instrument=inst, px=px))
    k.run()
    assert [m.px for *_, m in btc.got] == [1, 3]
    assert [m.px for *_, m in every.got] == [1, 2, 3]


def test_point_to_point_send_reaches_only_its_target() -> None:
    k = kernel()
    a, b = Sink(Order), Sink(Order)
    k.add_actor(ActorSpec("a", lambda: a))
    k.add_actor(ActorSpec("b", lambda: b))
    k.emit_input("op", Order(n=1), dst="b")
    k.run()
    assert a.got == []
    assert [m.n for *_, m in b.got] == [1]


def test_periodic_and_one_shot_timers_fire_on_simulated_time_and_cancel() -> None:
    k = kernel()
    clocked = Clocked(every_ms=10, once_ms=25, stop_after=5)
    k.add_actor(ActorSpec("clock", lambda: clocked))
    k.run(until_ns=1000 * MS)
    # 5 periodic firings at 10..50 ms, one one-shot at 25 ms; then the periodic one is cancelled.
    assert clocked.state.seen == [10 * MS, 20 * MS, 25 * MS, 30 * MS, 40 * MS]
    assert k.now_ns() == 1000 * MS


def test_same_seed_same_journal_different_seed_different() -> None:
    def head(seed: int) -> bytes:
        j = Journal(level="full")
        k = SimKernel(journal=j, seed=seed, sink=ListSink())
        k.add_actor(ActorSpec("clock", lambda: Clocked(every_ms=1)))
        k.add_actor(ActorSpec("counter", lambda: Counter(reply=True)))
        k.run(until_ns=500 * MS)
        k.stop()
        return j.head

    assert head(1) == head(1)
    assert head(1) != head(2)


def test_levels_share_one_head_and_inputs_stores_fewer_rows() -> None:
    sinks = {}
    heads = {}
    for level in ("full", "inputs"):
        sink = ListSink()
        j = Journal(level=level, checkpoint_every=100)  # type: ignore[arg-type]
        k = SimKernel(journal=j, seed=5, sink=sink)
        k.add_actor(ActorSpec("clock", lambda: Clocked(every_ms=1)))
        k.add_actor(ActorSpec("counter", lambda: Counter(reply=True)))
        k.run(until_ns=300 * MS)
        k.stop()
        sinks[level], heads[level] = sink, j.head
    assert heads["full"] == heads["inputs"]
    full, inputs = sinks["full"].rows, sinks["inputs"].rows
    assert len(inputs) < len(full) / 2
    assert {r.kind for r in inputs} == {"in", "ck"}
    assert inputs[-1].hash == full[-1].hash  # the final checkpoint carries the head
