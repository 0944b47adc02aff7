"""Supervision: restart restores state, resume dead-letters, escalation trips the kill switch."""

from __future__ import annotations

import pytest

from runtime import (
    CODEC,
    ActorEscalated,
    ActorEscalatedError,
    ActorRestarted,
    ActorSpec,
    DeadLetter,
    Journal,
    SimKernel,
    TradingStateChanged,
)
from runtime._app import ListSink
from runtime._cell import LOCAL_SNAPSHOT_EVERY
from tests.unit.runtime.toy import Counter, Ping

SEC = 1_000_000_000


def journaled(sink: ListSink) -> list[object]:
    return [CODEC.decode(r.data).msg for r in sink.rows]


def run_pings(k: SimKernel, values: list[int], *, gap_ns: int = SEC) -> None:
    k.add_source("feed", [(i * gap_ns, Ping(n=v)) for i, v in enumerate(values)])
    k.run()


@pytest.mark.parametrize("before", [3, LOCAL_SNAPSHOT_EVERY + 7])
def test_restart_rebuilds_the_actor_with_its_state_before_the_failure(before: int) -> None:
    sink = ListSink()
    k = SimKernel(journal=Journal(), sink=sink)
    k.add_actor(ActorSpec("counter", lambda: Counter(fail_on=frozenset({-1})), policy="restart"))
    first = k.actor("counter")
    values = [1] * before + [-1, 5]
    run_pings(k, values, gap_ns=1)
    k.stop()
    counter = k.actor("counter")
    assert counter is not first  # rebuilt from the factory
    # The failed message's partial effect is gone; everything before and after it counts.
    assert counter.state.total == before + 5  # type: ignore[attr-defined]
    assert counter.state.seen == [1] * before + [5]  # type: ignore[attr-defined]
    restarted = [m for m in journaled(sink) if isinstance(m, ActorRestarted)]
    assert len(restarted) == 1
    assert restarted[0].actor == "counter"
    assert "bad ping -1" in restarted[0].error


def test_resume_skips_the_message_and_journals_a_dead_letter() -> None:
    sink = ListSink()
    k = SimKernel(journal=Journal(), sink=sink)
    k.add_actor(ActorSpec("counter", lambda: Counter(fail_on=frozenset({7})), policy="resume"))
    run_pings(k, [1, 7, 2])
    k.stop()
    dead = [m for m in journaled(sink) if isinstance(m, DeadLetter)]
    assert [(d.actor, "bad ping 7" in d.error) for d in dead] == [("counter", True)]
    assert k.dead_letters == 1


def test_restarts_past_the_intensity_bound_escalate_and_are_journaled() -> None:
    sink = ListSink()
    k = SimKernel(journal=Journal(), sink=sink, restart_max=2, restart_window_ns=10 * SEC)
    k.add_actor(ActorSpec("counter", lambda: Counter(fail_on=frozenset({9})), role="data"))
    with pytest.raises(ActorEscalatedError, match="counter"):
        run_pings(k, [9, 9, 9, 1])
    msgs = journaled(sink)  # flushed before the error propagated
    assert sum(isinstance(m, ActorRestarted) for m in msgs) == 2
    assert any(isinstance(m, ActorEscalated) and m.actor == "counter" for m in msgs)
    # Not critical (role data): no kill switch.
    assert not any(isinstance(m, TradingStateChanged) for m in msgs)


def test_failures_spread_out_in_time_stay_within_the_intensity_bound() -> None:
    k = SimKernel(restart_max=2, restart_window_ns=10 * SEC)
    k.add_actor(ActorSpec("counter", lambda: Counter(fail_on=frozenset({9}))))
    run_pings(k, [9, 1, 9, 1, 9, 1, 9], gap_ns=6 * SEC)  # never 3 within 10 s
    assert k.cells["counter"].restarts == 4


def test_a_critical_actor_escalating_publishes_halted_first() -> None:
    sink = ListSink()
    k = SimKernel(journal=Journal(), sink=sink)
    k.add_actor(
        ActorSpec("risk", lambda: Counter(fail_on=frozenset({3})), role="risk", policy="escalate")
    )
    with pytest.raises(ActorEscalatedError):
        run_pings(k, [1, 3])
    msgs = journaled(sink)
    kinds = [type(m).__name__ for m in msgs]
    halted = kinds.index("TradingStateChanged")
    assert halted < kinds.index("ActorEscalated")
    state = msgs[halted]
    assert isinstance(state, TradingStateChanged)
    assert (state.scope, state.state, state.by) == ("global", "HALTED", "kernel")
