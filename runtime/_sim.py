"""Run actors on one thread over simulated time: the kernel of backtests, replay and most tests.

Events wait in two queues: a FIFO of envelopes due *now*, and a heap of future work (timers, source
data, scheduled operator calls) ordered by (ts, insertion order). Everything emitted at the current
time has a larger seq than anything already queued, so the FIFO preserves (ts, seq) order without
paying for a heap push per message. Same actors, config, inputs and seed: the same journal, byte
for byte.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, Protocol

from runtime._context import TimerSpec
from runtime._errors import KernelClosedError, KineticError
from runtime._journal import JournalRow
from runtime._kernel import KernelBase
from runtime._kernel_messages import EffectAcked, EffectFailed
from runtime._message import Envelope, Message

_TIMER, _SOURCE, _CALL = 0, 1, 2


class JournalSink(Protocol):
    """Make journal rows and snapshots durable for a kernel that runs synchronously."""

    def write(self, rows: Sequence[JournalRow], /) -> None: ...

    def snapshot(self, seq: int, head: bytes, data: bytes, /) -> None: ...


def run_now(coro: Coroutine[Any, Any, Any], /, *, what: str) -> Any:
    """Drive a coroutine that must finish without suspending; the sim kernel has no event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise KineticError(f"{what} awaited inside the sim kernel; only in-process adapters run there")


class SimKernel(KernelBase):
    """Drive actors deterministically in simulated time."""

    kind = "sim"

    def __init__(
        self,
        *,
        start_ns: int = 0,
        sink: JournalSink | None = None,
        batch_max: int = 10_000,
        snapshot_every: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._now = start_ns
        self._ready: deque[Envelope] = deque()
        self._heap: list[tuple[int, int, int, Any]] = []
        self._order = 0
        self._sink = sink
        self._batch_max = batch_max
        self._snapshot_every = snapshot_every
        self._next_snapshot = self.seq + snapshot_every if snapshot_every else 0
        self._started = False
        self._stopped = False
        self.events = 0

    def now_ns(self) -> int:
        """Return the simulated clock in ns."""
        return self._now

    def _route(self, env: Envelope, /) -> None:
        self._ready.append(env)

    def emit_output(self, src: str, msg: Message, dst: str, corr: str, cause: int, ts: int) -> None:
        """Emit an actor's output; the hot path of every backtest, so routing is inlined."""
        if self._diverted:
            KernelBase.emit_output(self, src, msg, dst, corr, cause, ts)
            return
        seq = self.seq + 1
        self.seq = seq
        env = Envelope(seq, ts, src, msg, dst, corr, cause, False)
        journal = self.journal
        if journal is not None:
            journal.append(env)
        self._ready.append(env)

    def _push(self, ts: int, kind: int, payload: Any) -> None:
        self._order += 1
        heapq.heappush(self._heap, (ts, self._order, kind, payload))

    def _arm(self, actor: str, timer_id: int, spec: TimerSpec, /) -> None:
        self._push(spec.due, _TIMER, (actor, timer_id, spec.due))

    def add_source(
        self, name: str, events: Iterable[tuple[int, Message]], /, *, dst: str = ""
    ) -> None:
        """Feed `(ts_ns, message)` pairs, in ts order, as inputs from `name`.

        With `dst` every message goes to that actor only instead of being published (a simulated
        venue that matches market data before it publishes it).
        """
        it = iter(events)
        first = next(it, None)
        if first is not None:
            self._push(first[0], _SOURCE, (name, first[1], it, dst))

    def call_at(self, ts: int, fn: Callable[[], None], /) -> None:
        """Run `fn` (say, an operator command through `emit_input`) when the clock reaches `ts`."""
        self._push(ts, _CALL, fn)

    def start(self) -> None:
        """Start the actors (once); `run` calls it when needed.

        Not after `recover` redelivered the run's `Start`: a resumed run does not start again
        (as in the live kernel), the daemon announces `Resumed` instead.
        """
        if not self._started:
            self._started = True
            if not self.started:
                self.start_actors()

    def run(self, *, until_ns: int | None = None, ready_only: bool = False) -> int:
        """Process events until none remain or the clock would pass `until_ns`; return how many.

        Raises `ActorEscalatedError` when an actor escalates (after the kill switch and the
        escalation are journaled and flushed).
        """
        if self._stopped:
            raise KernelClosedError("sim kernel has stopped")
        self.start()
        ready = self._ready
        popleft = ready.popleft
        heap = self._heap
        heappop = heapq.heappop
        cells = self.cells
        adapters = self.adapters
        recipients = self.router.recipients
        dispatch = self.dispatch
        journal = self.journal
        check = (journal is not None and self._sink is not None) or bool(self._next_snapshot)
        n = 0
        while True:
            while ready:
                env = popleft()
                n += 1
                dst = env.dst
                if dst:
                    cell = cells.get(dst)
                    if cell is not None:
                        dispatch(cell, env)
                    elif dst in adapters:
                        self._execute(env)
                else:
                    for name in recipients(env.msg):
                        dispatch(cells[name], env)
                if check and not n & 1023:
                    self._housekeep()
            if not heap or ready_only:
                break
            ts = heap[0][0]
            if until_ns is not None and ts > until_ns:
                break
            ts, _, kind, payload = heappop(heap)
            self._now = max(self._now, ts)
            if kind == _TIMER:
                actor, timer_id, due = payload
                self.fire_timer(actor, timer_id, due)
            elif kind == _SOURCE:
                name, msg, it, to = payload
                self.emit_input(name, msg, dst=to)
                nxt = next(it, None)
                if nxt is not None:
                    self._push(nxt[0], _SOURCE, (name, nxt[1], it, to))
            else:
                payload()
        if until_ns is not None and until_ns > self._now:
            self._now = until_ns
        self.events += n
        return n

    def _housekeep(self) -> None:
        """Flush a full batch and take a due snapshot; the run loop calls it every 1024 events."""
        journal = self.journal
        if journal is not None and self._sink is not None and journal.buffered >= self._batch_max:
            self.flush()
        if self._next_snapshot and self.seq >= self._next_snapshot:
            self.save_snapshot()

    def _execute(self, env: Envelope) -> None:
        adapter = self.adapters[env.dst]
        key = self.effect_key(env)
        if adapter.external:
            self.note_effect(env)
            self.flush()  # write-ahead: durable before the adapter acts
        try:
            results = run_now(
                adapter.execute(env.msg, idem_key=key, env=env), what=f"adapter `{env.dst}`"
            )
        except KineticError:
            raise
        except Exception as exc:
            self.emit_input(
                env.dst,
                EffectFailed(
                    command_seq=env.seq, idem_key=key, error=f"{type(exc).__name__}: {exc}"
                ),
                dst=env.src,
                corr=env.corr,
                cause=env.seq,
            )
            self.pending_effects.pop(env.seq, None)
            return
        for msg in results:
            self.emit_input(env.dst, msg, corr=env.corr, cause=env.seq)
        if adapter.external:
            self.emit_input(
                env.dst,
                EffectAcked(command_seq=env.seq, idem_key=key),
                corr=env.corr,
                cause=env.seq,
            )
            self.pending_effects.pop(env.seq, None)

    def flush(self) -> None:
        """Hand buffered journal rows to the sink (durable when it returns)."""
        journal = self.journal
        if journal is None or self._sink is None:
            return
        rows = journal.take_batch()
        if rows:
            self._sink.write(rows)
            journal.durable_seq = rows[-1].seq
            journal.durable_head = rows[-1].hash

    def save_snapshot(self) -> None:
        """Flush, then persist a snapshot of every actor at the current seq."""
        import msgspec

        self._next_snapshot = self.seq + self._snapshot_every if self._snapshot_every else 0
        if self._sink is None or self.journal is None:
            return
        self.flush()
        snap = self.capture()
        self._sink.snapshot(snap.seq, self.journal.head, msgspec.msgpack.encode(snap))

    def stop(self, reason: str = "end of run") -> None:
        """Journal `Stop`, call `on_stop`, process what it emitted, seal and flush the journal.

        Future work (timers, unread source data) is abandoned: the run ends at the current time.
        """
        if self._stopped:
            return
        self.start()
        self.emit_stop(reason)
        self.run(ready_only=True)
        self._finish()

    def _on_escalate(self, err: Any) -> None:
        self._finish()
        raise err

    def _finish(self) -> None:
        """Seal and flush the journal, then close it: a late append fails instead of vanishing."""
        self._stopped = True
        if self.journal is not None:
            self.journal.seal()
        self.flush()
        if self.journal is not None:
            self.journal.close()
