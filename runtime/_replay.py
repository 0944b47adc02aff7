"""Verify a recorded run by re-deriving it with fresh actors in the sim kernel.

Two ways, chosen by the kernel that recorded the run:

- **sim runs** (backtests) are re-executed: the same config and seed, the recorded source inputs
  fed back in, timers and in-process adapters regenerated. Every stored row (inputs, outputs at
  level `full`, checkpoints at level `inputs`) is compared with the re-derived one; the first
  difference is the divergence. At level `inputs` a checkpoint names the window of outputs.
- **live runs** (the daemon) are redelivered: every recorded input goes to the actors in journal
  order; each output they derive is compared with the recorded output of the same producer and
  cause. Adapters are not involved; their results are recorded inputs.

Both first verify the stored chain, so a tampered row is named even where its content would
replay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from runtime._errors import JournalBrokenError, KineticError
from runtime._journal import JournalRow, RunInfo, Store, VerifyResult, verify_rows
from runtime._kernel import Divergence, KernelBase, _describe
from runtime._message import CODEC
from runtime._recovery import conflation_skips
from runtime._sim import SimKernel


class ReplayReport(msgspec.Struct, kw_only=True):
    """The outcome of `kinetic replay RUN_ID --verify`."""

    run_id: str
    kernel: str
    level: str
    rows: int = 0
    matched: int = 0
    head: str = ""
    derived_past_end: int = 0
    divergence: Divergence | None = None

    @property
    def ok(self) -> bool:
        """Return whether every output matched."""
        return self.divergence is None


class _StopReplayError(Exception):
    pass


class _ComparingSink:
    """Compare the rows a re-executed sim kernel writes with the stored ones, in order."""

    def __init__(self, stored: Sequence[JournalRow], checkpoint_every: int) -> None:
        self.stored = stored
        self.i = 0
        self.matched = 0
        self.extra = 0
        self.divergence: Divergence | None = None
        self._ckpt = checkpoint_every
        self._prev_seq = 0

    def write(self, rows: Sequence[JournalRow], /) -> None:
        for row in rows:
            if self.i >= len(self.stored):
                self.extra += 1
                continue
            rec = self.stored[self.i]
            self.i += 1
            if (
                rec.seq == row.seq
                and rec.kind == row.kind
                and rec.hash == row.hash
                and rec.data == row.data
            ):
                self.matched += 1
                self._prev_seq = rec.seq
                continue
            self.divergence = _row_divergence(rec, row, self._prev_seq, self._ckpt)
            raise _StopReplayError

    def snapshot(self, seq: int, head: bytes, data: bytes, /) -> None:
        """Snapshots are not compared: they are derived from the same state."""


def _row_divergence(rec: JournalRow, got: JournalRow, prev_seq: int, ckpt: int) -> Divergence:
    window = (
        f"an output between seq {prev_seq + 1} and {rec.seq} differs (level `inputs` keeps only "
        f"the chain of outputs, checkpointed every {ckpt}; record at level `full` to pin it)"
    )
    if rec.kind == "ck" or got.kind == "ck":
        return Divergence(
            seq=rec.seq,
            actor="*",
            expected=f"checkpoint head {rec.hash.hex()} at seq {rec.seq}",
            got=f"{got.kind} row at seq {got.seq} head {got.hash.hex()}",
            detail=window,
        )
    rec_env = CODEC.decode(rec.data)
    try:
        got_env = CODEC.decode(got.data)
    except Exception:
        got_env = None
    got_desc = _describe(got_env) if got_env is not None else got.data.hex()
    if (
        rec.prev is not None
        and got_env is not None
        and (rec_env.src, rec_env.dst, rec_env.msg, rec_env.ts)
        == (got_env.src, got_env.dst, got_env.msg, got_env.ts)
    ):
        # The same input, but the chain before it (or its seq) moved: an output changed.
        return Divergence(
            seq=rec.seq, actor="*", expected=_describe(rec_env), got=got_desc, detail=window
        )
    return Divergence(
        seq=rec.seq,
        actor=rec_env.src,
        expected=_describe(rec_env),
        got=got_desc,
        detail="replayed output differs from the recorded one"
        if rec.kind == "out"
        else "replayed input differs from the recorded one",
    )


async def _stored_rows(store: Store, run_id: str) -> tuple[list[JournalRow], VerifyResult]:
    rows: list[JournalRow] = []
    state = None
    async for batch in store.read(run_id):
        state = verify_rows(run_id, batch, state=state)
        rows.extend(batch)
    return rows, state or VerifyResult(0, 0, b"")


async def replay(
    store: Store,
    run_id: str,
    /,
    *,
    build: Callable[..., KernelBase],
    sources: Sequence[str] = (),
    progress: Callable[[int], Any] | None = None,
) -> ReplayReport:
    """Replay `run_id` from `store` and compare; see the module docstring.

    `build(run, sink=...)` returns a fresh kernel for the run's config: a `SimKernel` with the
    run's actors (and, for sim runs, its in-process adapters and a `run_to_end()` driver).
    `sources` names the inputs to feed back from the journal rather than regenerate.
    """
    run = await store.get_run(run_id)
    if run is None:
        raise KineticError(f"unknown run `{run_id}`")
    report = ReplayReport(run_id=run_id, kernel=run.kernel, level=run.level)
    if run.level == "off":
        raise KineticError(f"run `{run_id}` was recorded at journal level `off`: nothing to replay")
    try:
        stored, state = await _stored_rows(store, run_id)
    except JournalBrokenError as exc:
        report.divergence = Divergence(
            seq=exc.seq,
            actor="journal",
            expected="an intact hash chain",
            got=str(exc),
            detail="the stored journal is broken (tampered or truncated)",
        )
        return report
    report.rows = len(stored)
    report.head = state.head.hex()
    if run.kernel == "sim":
        await _reexecute(run, stored, report, build=build, sources=sources, progress=progress)
    else:
        await _redeliver(store, run, stored, report, build=build, progress=progress)
    return report


async def _reexecute(
    run: RunInfo,
    stored: list[JournalRow],
    report: ReplayReport,
    *,
    build: Callable[..., KernelBase],
    sources: Sequence[str],
    progress: Callable[[int], Any] | None,
) -> None:
    ckpt = getattr(build, "checkpoint_every", 1024)
    sink = _ComparingSink(stored, ckpt)
    kernel = build(run, sink=sink)
    assert isinstance(kernel, SimKernel)
    if sources:
        wanted = set(sources)
        for name in sources:
            feed = []
            for row in stored:
                if row.kind == "in" and row.src in wanted:
                    env = CODEC.decode(row.data)
                    if env.src == name:
                        feed.append((env.ts, env.msg))
            kernel.add_source(name, feed)
    try:
        driver = getattr(kernel, "run_to_end", None)
        if driver is not None:
            driver()
        else:
            kernel.run()
            kernel.stop()
    except _StopReplayError:
        pass
    report.matched = sink.matched
    if sink.divergence is not None:
        report.divergence = sink.divergence
    elif sink.i < len(stored):
        rec = stored[sink.i]
        report.divergence = Divergence(
            seq=rec.seq,
            actor=rec.src,
            expected=f"{rec.kind} row seq {rec.seq}",
            got="nothing",
            detail=f"replay ended after {sink.i} of {len(stored)} stored rows",
        )
    elif sink.extra and run.status == "closed":
        report.derived_past_end = sink.extra
    if progress is not None:
        progress(sink.i)


async def _redeliver(
    store: Store,
    run: RunInfo,
    stored: list[JournalRow],
    report: ReplayReport,
    *,
    build: Callable[..., KernelBase],
    progress: Callable[[int], Any] | None,
) -> None:
    kernel = build(run, sink=None)
    kernel.begin_redelivery()
    skips = await conflation_skips(store, run.run_id, after_seq=0)
    for i, row in enumerate(stored):
        if row.kind == "ck":
            continue
        env = CODEC.decode(row.data)
        if not kernel.redeliver(env, row.data, skips):
            report.divergence = kernel.divergence
            break
        if progress is not None and i % 10_000 == 0:
            progress(i)
    leftovers = kernel.end_redelivery()
    report.matched = kernel.matched
    if report.divergence is None and leftovers:
        report.derived_past_end = len(leftovers)
        if run.status == "closed":
            first = leftovers[0]
            report.divergence = Divergence(
                seq=first.cause,
                actor=first.src,
                expected="nothing (the run closed cleanly)",
                got=_describe(first),
                detail=f"replay derived {len(leftovers)} outputs the recorded run never journaled",
            )
