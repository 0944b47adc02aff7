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

from runtime._cell import Cell
from runtime._context import TimerSpec
from runtime._errors import KernelClosedError, KineticError
from runtime._journal import JournalRow
from runtime._kernel import KernelBase
from runtime._kernel_messages import EffectAcked, EffectFailed
from runtime._message import Envelope, Message

_TIMER, _SOURCE, _CALL = 0, 1, 2
_LOG_MIN = 1024
"""The restart log length at which the sim kernel renews a small state's local snapshot."""
_SMALL_STATE = 4096
"""A state of at most this many bytes is small: snapshotting it every `_LOG_MIN` messages costs
a few bytes a message. A larger one keeps `Cell.snap_every` (its size over 64, at least 4096)."""
_MISSING: Any = object()
_Plan = tuple[tuple[Cell, ...], dict[Any, tuple[Cell, ...]] | None, str | None]


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
    direct_emit = True
    """`Context.publish` and `send` inline `emit_output` (outside a restart or redelivery);
    a subclass that overrides `emit_output` or `_route` sets this to False."""

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
        cls = type(self)
        if cls.emit_output is not SimKernel.emit_output or cls._route is not SimKernel._route:
            self.direct_emit = False  # the override must see every output
        self._now = start_ns
        self._ready: deque[Envelope] = deque()
        self._heap: list[tuple[Any, ...]] = []
        """`(ts, order, kind, payload)` of timers and calls, `(ts, order, _SOURCE, name, msg,
        it, dst)` of sources: ordered by (ts, order), `order` unique."""
        self._order = 0
        self._sink = sink
        self._batch_max = batch_max
        self._snapshot_every = snapshot_every
        self._next_snapshot = self.seq + snapshot_every if snapshot_every else 0
        self._started = False
        self._stopped = False
        self.events = 0
        self._flushed_seq = self.seq
        """The seq when the journal was last flushed."""
        self._solo: dict[str, tuple[Cell, ...]] = {}
        """The one-cell target tuple of a send, by the actor's name (built once per name)."""

    def now_ns(self) -> int:
        """Return the simulated clock in ns."""
        return self._now

    def _route(self, env: Envelope, /) -> None:
        self._ready.append(env)

    def emit_output(self, src: str, msg: Message, dst: str, corr: str, cause: int, ts: int) -> None:
        """Emit an actor's output; the hot path of every backtest, so routing is inlined.

        `Context.publish` and `send` inline this in turn: keep the three in step.
        """
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

    def arm_timer(self, actor: str, timer_id: int, spec: TimerSpec, /) -> None:
        """`KernelBase.arm_timer` with `_arm` inlined: every `ctx.schedule` comes here."""
        if self._redeliver or self._suppress is not None:
            return
        order = self._order + 1
        self._order = order
        due = spec.due
        heapq.heappush(self._heap, (due, order, _TIMER, (actor, timer_id, due)))

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
            # A source's entry is flat, `(ts, order, _SOURCE, name, msg, it, dst)`: the run loop
            # replaces it with the source's next one in place (`heapreplace`), once per point.
            self._order += 1
            heapq.heappush(self._heap, (first[0], self._order, _SOURCE, name, first[1], it, dst))

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
        heapreplace = heapq.heapreplace
        solo = self._solo
        plans = self.router.plans
        plan_for = self._plan
        resolve = self._resolve
        fail = self._fail
        missing = _MISSING
        journal = self.journal
        now = self._now
        n = 0
        while True:
            while ready:
                env = popleft()
                n += 1
                msg = env.msg
                mtype = type(msg)
                dst = env.dst
                if dst:
                    targets = solo.get(dst)
                    if targets is None:
                        targets = self._solo_plan(env)
                else:
                    plan = plans.get(mtype)
                    if plan is None:
                        plan = plan_for(mtype)
                    targets, keyed, field = plan
                    if keyed is not None:
                        targets = keyed.get(
                            getattr(msg, field) if field is not None else None, targets
                        )
                # `KernelBase.dispatch`, inlined: it runs for every delivery of a backtest. The
                # restart log's length is checked every 1024 events (`_housekeep`), not here.
                seq = env.seq
                for cell in targets:
                    handler = cell.handlers.get(mtype, missing)
                    if handler is missing:
                        handler = resolve(cell, mtype)
                    ctx = cell.ctx
                    if handler is not None:
                        ctx.current = env
                        try:
                            handler(msg)
                        except Exception as exc:
                            ctx.current = None
                            ctx.position = seq
                            fail(cell, env, exc)
                            continue
                        ctx.current = None
                    ctx.position = seq
                    cell.handled += 1
                    log = cell.log
                    if log is not None:
                        log.append(env)
                if not n & 1023:
                    self._housekeep()
            if not heap or ready_only:
                break
            top = heap[0]
            ts = top[0]
            if until_ns is not None and ts > until_ns:
                break
            if ts > now:
                now = self._now = ts
            kind = top[2]
            if kind == _SOURCE:
                # `emit_input(name, msg, dst=to)` and `_push`, inlined: once per data point.
                _, _, _, name, msg, it, to = top
                seq = self.seq + 1
                self.seq = seq
                env = Envelope(seq, now, name, msg, to, "", 0, True)
                if journal is not None:
                    journal.append(env)
                ready.append(env)
                try:
                    nxt = next(it, None)
                except BaseException:
                    heappop(heap)  # a source that fails is done, as when it ends
                    raise
                if nxt is not None:
                    order = self._order + 1
                    self._order = order
                    heapreplace(heap, (nxt[0], order, _SOURCE, name, nxt[1], it, to))
                else:
                    heappop(heap)
            else:
                heappop(heap)
                if kind == _TIMER:
                    actor, timer_id, due = top[3]
                    self.fire_timer(actor, timer_id, due)
                else:
                    top[3]()
                    now = self._now
        if until_ns is not None and until_ns > self._now:
            self._now = until_ns
        self.events += n
        return n

    def _solo_plan(self, env: Envelope, /) -> tuple[Cell, ...]:
        """Return (and cache, for an actor) the cells a send to `env.dst` goes to; run the
        command of a send to an adapter, which goes to no cell."""
        dst = env.dst
        cell = self.cells.get(dst)
        if cell is not None:
            targets = self._solo[dst] = (cell,)
            return targets
        if dst in self.adapters:
            self._execute(env)
        return ()

    def _plan(self, mtype: type[Message], /) -> _Plan:
        """Return (and cache) the cells a published `mtype` goes to: everyone's, and per key.

        The order is `Router.recipients`' (the unkeyed subscribers, then the key's); the cache
        lives on the router, which clears it whenever a subscription changes.
        """
        everyone, keyed = self.router.resolved(mtype)
        cells = self.cells
        base = tuple(cells[name] for name in everyone)
        by_key = (
            {k: base + tuple(cells[name] for name in extra) for k, extra in keyed.items()}
            if keyed is not None
            else None
        )
        plan: _Plan = (base, by_key, mtype.key_field)
        self.router.plans[mtype] = plan
        return plan

    def _housekeep(self) -> None:
        """Keep what waits small; the run loop calls it every 1024 events.

        Flush a full batch (else hash what is queued), take a due snapshot, and renew the local
        snapshot of an actor whose restart log is long enough. Envelopes then die young, while
        their memory is still in the CPU caches: the journal queue no longer holds up to a
        batch of them, and the restart log of an actor with a small state holds about
        `_LOG_MIN` of them (a larger state keeps `Cell.snap_every`, so its encoding still
        costs at most 64 bytes a message). A local snapshot's timing changes nothing a
        restart restores.
        """
        journal = self.journal
        if journal is not None and self._sink is not None:
            batch = self._batch_max
            if journal.buffered >= batch or self.seq - self._flushed_seq >= batch:
                self.flush()  # every `batch_max` envelopes, at level `inputs` too
            elif journal.appended:
                journal.chain(journal.appended)
        if self._next_snapshot and self.seq >= self._next_snapshot:
            self.save_snapshot()
        for cell in self.cells.values():
            cell.renew_snapshot_if_due(_LOG_MIN, _SMALL_STATE)

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
        self._flushed_seq = self.seq
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
