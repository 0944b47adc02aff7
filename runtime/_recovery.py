"""Bring a kernel's actors to the end of their journal: the one start path, clean or after a crash.

    start = latest snapshot (if any)
          + redelivery of the journal tail through the actors (adapters untouched; outputs are
            re-derived and matched against the recorded ones, so a code change that alters
            behaviour is caught before it trades)
          + outputs derived past the end of the journal, emitted now (they were lost in the crash)
          + reconciliation of write-ahead commands that have no acknowledgement
          + resume

A clean first start is the degenerate case: no snapshot, an empty tail, `on_start` emits live.
"""

from __future__ import annotations

from typing import Any

import msgspec

from runtime._errors import KineticError
from runtime._journal import GENESIS, Store, VerifyResult, verify_rows
from runtime._kernel import Divergence, KernelBase, KernelSnapshot
from runtime._kernel_messages import Conflated
from runtime._message import CODEC


class RecoveryReport(msgspec.Struct, kw_only=True):
    """What a start did: where it resumed from and how much it re-derived."""

    run_id: str
    snapshot_seq: int = 0
    replayed: int = 0
    matched: int = 0
    recovered_outputs: int = 0
    last_seq: int = 0
    head: str = ""
    divergence: Divergence | None = None


class RecoveryDivergedError(KineticError):
    """Refuse to resume a run whose journal the current actors do not reproduce."""

    def __init__(self, message: str, *, divergence: Divergence) -> None:
        super().__init__(message)
        self.divergence = divergence


_SNAP = msgspec.msgpack.Decoder(KernelSnapshot)
_CONFLATED_TAG = str(Conflated.__struct_config__.tag)


async def conflation_skips(
    store: Store, run_id: str, /, *, after_seq: int
) -> frozenset[tuple[str, int]]:
    """Return the (actor, seq) pairs the recorded run conflated away, so replay skips them too."""
    skips: set[tuple[str, int]] = set()
    async for batch in store.read(run_id, after_seq=after_seq):
        for row in batch:
            if row.type == _CONFLATED_TAG:
                msg = CODEC.decode(row.data).msg
                assert isinstance(msg, Conflated)
                skips.update((msg.actor, d) for d in msg.dropped)
    return frozenset(skips)


async def recover(
    kernel: KernelBase, store: Store, run_id: str, /, *, log: Any = None
) -> RecoveryReport:
    """Restore `kernel`'s actors from `run_id`'s snapshot and journal tail; see the module doc.

    Raises `RecoveryDivergedError` naming the first recorded output the actors do not reproduce,
    and `JournalBrokenError` at a broken link in the tail. Outputs lost in a crash are emitted
    (journaled) before returning; pending commands are left in `kernel.pending_effects` for the
    kernel to reconcile once its adapters are up.
    """
    report = RecoveryReport(run_id=run_id)
    raw = await store.latest_snapshot(run_id)
    snap = _SNAP.decode(raw.data) if raw is not None else None
    if snap is not None:
        kernel.install(snap)
        kernel.started = True
        report.snapshot_seq = snap.seq
        start = min([snap.seq, *(st.position for _, st in snap.actors.values())])
        state = VerifyResult(0, snap.seq, raw.head) if raw is not None else None
    else:
        start = 0
        state = VerifyResult(0, 0, GENESIS)
    kernel.begin_redelivery()
    skips = await conflation_skips(store, run_id, after_seq=start)
    last = None
    async for batch in store.read(run_id, after_seq=start):
        # The chain is checked from the snapshot's head on; rows before it were checked then.
        tail = [r for r in batch if state is None or r.seq > state.last_seq]
        if tail and state is not None:
            state = verify_rows(run_id, tail, state=state)
        for row in batch:
            if row.kind == "ck":
                continue
            env = CODEC.decode(row.data)
            report.replayed += 1
            if not kernel.redeliver(env, row.data, skips):
                assert kernel.divergence is not None
                kernel.end_redelivery()
                report.divergence = kernel.divergence
                raise RecoveryDivergedError(
                    f"run `{run_id}` diverges at seq {kernel.divergence.seq} "
                    f"(actor `{kernel.divergence.actor}`): {kernel.divergence.detail}",
                    divergence=kernel.divergence,
                )
            last = row
    leftovers = kernel.end_redelivery()
    report.matched = kernel.matched
    journal = kernel.journal
    if last is not None:
        kernel.seq = last.seq
        if journal is not None:
            journal.head = last.hash
            journal.last_seq = journal.durable_seq = last.seq
            journal.durable_head = last.hash
    elif raw is not None and snap is not None:
        kernel.seq = snap.seq
        if journal is not None:
            journal.head = raw.head
            journal.last_seq = journal.durable_seq = kernel.seq
            journal.durable_head = raw.head
    kernel.emit_recovered(leftovers)
    if not kernel.started and snap is None:
        kernel.start_actors()  # a new run: nothing recorded yet, `on_start` runs live (and arms)
    else:
        kernel.rearm_timers()  # redelivery armed nothing: recorded firings drove the timers
    report.recovered_outputs = len(leftovers)
    report.last_seq = kernel.seq
    report.head = journal.head.hex() if journal is not None else ""
    if log is not None:
        log.info(
            "runtime_recovered",
            run_id=run_id,
            snapshot_seq=report.snapshot_seq,
            replayed=report.replayed,
            matched=report.matched,
            recovered_outputs=report.recovered_outputs,
            last_seq=report.last_seq,
        )
    return report
