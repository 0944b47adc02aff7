"""Replay: a recorded run verifies; a tampered row or changed behaviour is named by seq."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import CODEC, ActorSpec, Journal, KernelBase, MemoryStore, RunInfo, SimKernel
from runtime._app import ListSink
from runtime._replay import replay
from tests.unit.runtime.toy import Clocked, Counter

pytestmark = pytest.mark.anyio
MS = 1_000_000


class Recorded:
    """A sim run recorded into a memory store, and the builder replay needs for it."""

    def __init__(self, level: str, *, reply_in_replay: bool = True) -> None:
        self.level = level
        self.reply_in_replay = reply_in_replay
        self.store = MemoryStore()

    def kernel(self, sink: Any, *, reply: bool = True) -> SimKernel:
        j = None if self.level == "off" else Journal(level=self.level, checkpoint_every=64)  # type: ignore[arg-type]
        k = SimKernel(journal=j, sink=sink, seed=11, run_id="bt")
        k.add_actor(ActorSpec("clock", lambda: Clocked(every_ms=1)))
        k.add_actor(ActorSpec("counter", lambda: Counter(reply=reply, fail_on=frozenset({500}))))
        return k

    async def record(self) -> None:
        await self.store.create_run(
            RunInfo(
                run_id="bt",
                kernel="sim",
                mode="backtest",
                level=self.level,
                seed=11,
                config="{}",
                status="closed",
            )  # type: ignore[arg-type]
        )
        sink = ListSink()
        k = self.kernel(sink)
        k.run(until_ns=400 * MS)
        k.stop()
        await self.store.append("bt", sink.rows)

    def build(self, run: RunInfo, *, sink: Any) -> KernelBase:
        k = self.kernel(sink, reply=self.reply_in_replay)

        def run_to_end() -> None:
            k.run(until_ns=400 * MS)
            k.stop()

        k.run_to_end = run_to_end  # type: ignore[attr-defined]
        return k


@pytest.mark.parametrize("level", ["full", "inputs"])
async def test_a_recorded_sim_run_replays_and_verifies(level: str) -> None:
    rec = Recorded(level)
    await rec.record()
    report = await replay(rec.store, "bt", build=rec.build)
    assert report.ok, report.divergence
    assert report.matched == report.rows > 0


@pytest.mark.parametrize("level", ["full", "inputs"])
async def test_changed_behaviour_is_named_by_seq(level: str) -> None:
    rec = Recorded(level, reply_in_replay=False)
    await rec.record()
    report = await replay(rec.store, "bt", build=rec.build)
    assert not report.ok
    d = report.divergence
    assert d is not None
    rows = rec.store._rows["bt"]
    first_pong = next(r for r in rows if r.type == "toy.Pong") if level == "full" else None
    if first_pong is not None:
        assert d.seq == first_pong.seq
        assert d.actor == "counter"
    else:
        assert "between seq" in d.detail


async def test_a_tampered_row_is_named_by_replay() -> None:
    rec = Recorded("full")
    await rec.record()
    rows = rec.store._rows["bt"]
    env = CODEC.decode(rows[40].data)
    rows[40] = rows[40]._replace(
        data=CODEC.encode(
            env.__class__(env.seq, env.ts, env.src, env.msg, env.dst, "forged", env.cause, env.inp)
        )
    )
    report = await replay(rec.store, "bt", build=rec.build)
    assert report.divergence is not None
    assert report.divergence.seq == rows[40].seq
    assert report.divergence.actor == "journal"
