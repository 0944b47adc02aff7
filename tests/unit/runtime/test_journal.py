"""The hash chain: one head per content, verified row by row, the first broken link named."""

from __future__ import annotations

import hashlib

import pytest

from runtime import CODEC, GENESIS, ActorSpec, Journal, JournalBrokenError, SimKernel, verify_rows
from runtime._app import ListSink
from tests.unit.runtime.toy import Clocked, Counter, Ping

MS = 1_000_000


def recorded(level: str = "full") -> ListSink:
    sink = ListSink()
    k = SimKernel(journal=Journal(level=level, checkpoint_every=50), sink=sink, seed=3)  # type: ignore[arg-type]
    k.add_actor(ActorSpec("clock", lambda: Clocked(every_ms=1)))
    k.add_actor(ActorSpec("counter", lambda: Counter(reply=True)))
    k.run(until_ns=200 * MS)
    k.stop()
    return sink


def test_head_is_sha256_of_previous_head_and_envelope_bytes() -> None:
    rows = recorded().rows
    head = GENESIS
    for row in rows:
        head = hashlib.sha256(head + CODEC.encode(CODEC.decode(row.data))).digest()
        assert row.hash == head
    assert verify_rows("r", rows).head == head


@pytest.mark.parametrize("level", ["full", "inputs"])
def test_a_tampered_row_is_named(level: str) -> None:
    rows = list(recorded(level).rows)
    victim = next(i for i, r in enumerate(rows) if r.kind == "in" and i > 10)
    env = CODEC.decode(rows[victim].data)
    forged = env.__class__(
        env.seq, env.ts + 1, env.src, env.msg, env.dst, env.corr, env.cause, env.inp
    )
    rows[victim] = rows[victim]._replace(data=CODEC.encode(forged))
    with pytest.raises(JournalBrokenError) as err:
        verify_rows("r", rows)
    assert err.value.seq == rows[victim].seq


def test_a_recomputed_forgery_breaks_the_next_link() -> None:
    rows = list(recorded().rows)
    i = 20
    env = CODEC.decode(rows[i].data)
    forged = env.__class__(
        env.seq, env.ts, "mallory", env.msg, env.dst, env.corr, env.cause, env.inp
    )
    data = CODEC.encode(forged)
    rows[i] = rows[i]._replace(data=data, hash=hashlib.sha256(rows[i - 1].hash + data).digest())
    with pytest.raises(JournalBrokenError) as err:
        verify_rows("r", rows)
    assert err.value.seq == rows[i + 1].seq


def test_a_missing_row_is_named() -> None:
    rows = list(recorded().rows)
    del rows[30]
    with pytest.raises(JournalBrokenError, match="missing") as err:
        verify_rows("r", rows)
    assert err.value.seq == rows[30].seq


def test_level_off_keeps_no_journal_but_runs() -> None:
    k = SimKernel(journal=None, seed=3)
    k.add_actor(ActorSpec("clock", lambda: Clocked(every_ms=1)))
    assert k.run(until_ns=10 * MS) > 0


def test_a_stopped_kernel_refuses_further_journal_appends() -> None:
    from runtime import JournalClosedError

    k = SimKernel(journal=Journal(), sink=ListSink(), seed=3)
    k.add_actor(ActorSpec("clock", lambda: Clocked(every_ms=1)))
    k.run(until_ns=5 * MS)
    k.stop()
    with pytest.raises(JournalClosedError):
        k.emit_input("late", Ping(n=1))
