"""The sim kernel's housekeeping: bounded restart logs, journal batches, identical rows."""

from __future__ import annotations

from collections.abc import Sequence

from runtime import ActorSpec, Journal, JournalRow, SimKernel
from runtime._app import ListSink
from tests.unit.runtime.toy import Counter, Ping


class CountingSink(ListSink):
    """A `ListSink` that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, rows: Sequence[JournalRow], /) -> None:
        self.writes += 1
        super().write(rows)


def pings(k: SimKernel, values: list[int]) -> None:
    k.add_source("feed", [(i, Ping(n=v)) for i, v in enumerate(values)])


def test_the_restart_log_stays_short_and_a_restart_still_restores_the_state() -> None:
    k = SimKernel(journal=Journal(level="inputs"), sink=ListSink())
    k.add_actor(ActorSpec("counter", lambda: Counter(fail_on=frozenset({-1})), policy="restart"))
    pings(k, [1] * 3000 + [-1, 5])
    k.run(until_ns=2999)
    log = k.cells["counter"].log
    # A small state (3,000 one-byte ints) is renewed every 1024 events, not every 4096.
    assert log is not None and len(log) < 2048
    k.run()
    k.stop()
    counter = k.actor("counter")
    assert counter.state.total == 3005  # type: ignore[attr-defined]
    assert counter.state.seen == [1] * 3000 + [5]  # type: ignore[attr-defined]


def test_inputs_level_flushes_every_batch_max_envelopes_and_batching_changes_no_row() -> None:
    def run(batch_max: int) -> CountingSink:
        sink = CountingSink()
        k = SimKernel(journal=Journal(level="inputs"), sink=sink, batch_max=batch_max)
        k.add_actor(ActorSpec("counter", lambda: Counter(reply=True)))
        pings(k, list(range(5000)))
        k.run()
        k.stop()
        return sink

    small, large = run(1000), run(10**9)
    assert small.writes >= 5  # 10,000 envelopes in batches of about 1,000 (and the last one)
    assert large.writes == 1
    assert small.rows == large.rows
