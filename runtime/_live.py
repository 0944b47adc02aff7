"""Run actors as anyio tasks over wall-clock time: the kernel of the daemon (paper and live).

One task per actor serves its bounded mailbox, taking envelopes without awaiting while any wait
(`get_nowait`) and awaiting only when empty or when a mailbox it filled is full: one loop turn per
message would cost 20x the throughput. Adapters run in their own tasks; their results re-enter the
bus as journaled inputs. A writer task group-commits journal rows; a command with an external
effect reaches its adapter only after its row is durable.

Structured concurrency: every task is owned by the task group in `run`; nothing outlives it.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import msgspec

from runtime._adapter import Adapter
from runtime._cell import Cell
from runtime._context import TimerSpec
from runtime._errors import ActorEscalatedError, KernelClosedError
from runtime._journal import Snapshot, Store
from runtime._kernel import KERNEL, KernelBase
from runtime._kernel_messages import Conflated, EffectAcked, EffectFailed, EffectReconciled
from runtime._mailbox import Mailbox
from runtime._message import Envelope, Message

YIELD_EVERY = 64
"""An actor task yields to the event loop after this many messages in a row."""
CHAIN_SLICE = 512
"""The writer hashes a journal backlog this many envelopes at a time, yielding to the loop in
between (about 1.3 ms each here): a batch of 10,000 in one go held the loop for about 26 ms, and
a kill request waited behind it. Smaller slices cost saturated throughput (median CPU-time
cost on `kernel_live.journal_full`: 256, 5%; 512, 2-3%)."""


class _Port:
    """Let one adapter emit inputs; awaiting `emit` applies backpressure."""

    def __init__(self, kernel: LiveKernel, name: str) -> None:
        self._kernel = kernel
        self._name = name

    async def emit(self, msg: Message, /, *, corr: str = "", dst: str = "") -> None:
        """Journal and route `msg` as an input from this adapter. A cancellation point."""
        await self._kernel.inject(self._name, msg, corr=corr, dst=dst)


class LiveKernel(KernelBase):
    """Drive actors concurrently on an anyio event loop with bounded mailboxes."""

    kind = "live"

    def __init__(
        self,
        *,
        store: Store | None = None,
        mailbox_size: int = 1024,
        flush_interval_ms: float = 2.0,
        batch_max: int = 10_000,
        snapshot_every: int = 0,
        journal_high_water: int = 50_000,
        clock: Callable[[], int] = time.time_ns,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._store = store
        self._mailbox_size = mailbox_size
        self._flush_interval = flush_interval_ms / 1000.0
        self._batch_max = batch_max
        self._snapshot_every = snapshot_every
        self._next_snapshot = self.seq + snapshot_every if snapshot_every else 0
        self._journal_high = journal_high_water
        self._clock = clock
        self._timers: list[tuple[int, int, str, int]] = []
        self._timer_order = 0
        self._timer_wake: anyio.Event | None = None
        self._commands: dict[str, deque[Envelope]] = {}
        self._command_wake: dict[str, anyio.Event | None] = {}
        self._filled: list[Mailbox] = []
        self._flush_now: anyio.Event | None = None
        self._durable_waiters: list[tuple[int, anyio.Event]] = []
        self._journal_room: anyio.Event | None = None
        self._stop: anyio.Event | None = None
        self._stopping = False
        self._running = False
        self._closed = False
        self.stop_reason = ""
        self.started_ns = 0
        self.snapshots = 0

    # -- assembly ----------------------------------------------------------------------------

    def add_actor(self, spec: Any, /) -> Cell:
        """Register an actor with its own bounded mailbox."""
        cell = super().add_actor(spec)
        cell.mailbox = Mailbox(spec.name, spec.mailbox_size or self._mailbox_size)
        return cell

    def add_adapter(self, name: str, adapter: Adapter, /) -> None:
        """Register an adapter with its own command queue."""
        super().add_adapter(name, adapter)
        self._commands[name] = deque()
        self._command_wake[name] = None

    # -- time and delivery -------------------------------------------------------------------

    def now_ns(self) -> int:
        """Return the wall clock in ns (or the injected clock)."""
        return self._clock()

    def add_tap(self, fn: Callable[[Envelope], None], /) -> None:
        """Call `fn` with every envelope as it is journaled and routed (services follow the bus)."""
        self._taps = (*self._taps, fn)

    def remove_tap(self, fn: Callable[[Envelope], None], /) -> None:
        """Stop calling `fn` (idempotent)."""
        self._taps = tuple(t for t in self._taps if t != fn)  # bound methods: equal, not identical

    _taps: tuple[Callable[[Envelope], None], ...] = ()

    def emit_output(self, src: str, msg: Message, dst: str, corr: str, cause: int, ts: int) -> None:
        """Emit an actor's output; the daemon's hot path, so journaling and routing are inlined."""
        if self._diverted:
            KernelBase.emit_output(self, src, msg, dst, corr, cause, ts)
            return
        seq = self.seq + 1
        self.seq = seq
        env = Envelope(seq, ts, src, msg, dst, corr, cause, False)
        journal = self.journal
        if journal is not None:
            journal.append(env)
        if dst and not self._taps and not self._next_snapshot and self._held is None:
            cell = self.cells.get(dst)
            if cell is not None:
                if cell.mailbox.put(env):
                    self._filled.append(cell.mailbox)
                return
        self._route(env)

    _mailboxes: tuple[Mailbox, ...] = ()
    _held: list[Envelope] | None = None
    """While the actors start, what they emit waits here (see `_start_under`)."""

    def _start_under(self, env: Envelope) -> None:
        """Start every actor, then route what their `on_start`s emitted, in seq order.

        Routing waits until every actor has subscribed, so a message published in one actor's
        `on_start` reaches subscribers registered after it too: the sim kernel (replay,
        recovery) delivers it to all of them, and the live kernel must agree with it.
        """
        self._held = []
        try:
            super()._start_under(env)
        finally:
            held, self._held = self._held, None
        for e in held:
            self._route(e)

    def _route(self, env: Envelope, /) -> None:
        held = self._held
        if held is not None:
            held.append(env)
            return
        if self._taps:
            for tap in self._taps:
                tap(env)
        dst = env.dst
        cells = self.cells
        if dst:
            cell = cells.get(dst)
            if cell is not None:
                if cell.mailbox.put(env):
                    self._filled.append(cell.mailbox)
            elif dst in self.adapters:
                self._queue_command(env)
        else:
            for name in self.router.recipients(env.msg):
                mb = cells[name].mailbox
                if mb.put(env):
                    self._filled.append(mb)
        if self._next_snapshot and env.seq >= self._next_snapshot:
            self._next_snapshot = env.seq + self._snapshot_every
            self._snapshot_due = True
            self._kick_writer()

    _snapshot_due = False

    def _queue_command(self, env: Envelope) -> None:
        adapter = self.adapters[env.dst]
        if adapter.external:
            self.note_effect(env)
            self._kick_writer()
        self._commands[env.dst].append(env)
        wake = self._command_wake[env.dst]
        if wake is not None:
            self._command_wake[env.dst] = None
            wake.set()

    def _arm(self, actor: str, timer_id: int, spec: TimerSpec, /) -> None:
        self._timer_order += 1
        heapq.heappush(self._timers, (spec.due, self._timer_order, actor, timer_id))
        wake = self._timer_wake
        if wake is not None and self._timers[0][0] == spec.due:
            self._timer_wake = None
            wake.set()

    # -- inputs from outside -----------------------------------------------------------------

    async def inject(
        self, src: str, msg: Message, /, *, corr: str = "", dst: str = "", cause: int = 0
    ) -> Envelope:
        """Emit an input and wait while its recipients are full. A cancellation point."""
        if self._closed:
            raise KernelClosedError("live kernel has stopped")
        env = self.emit_input(src, msg, dst=dst, corr=corr, cause=cause)
        await self._relieve(None)
        return env

    def request_stop(self, reason: str = "requested") -> None:
        """Ask `run` to drain and stop; safe to call from a signal handler's task."""
        if not self.stop_reason:
            self.stop_reason = reason
        self._stopping = True
        if self._stop is not None:
            self._stop.set()

    # -- backpressure ------------------------------------------------------------------------

    async def _relieve(self, me: Cell | None) -> None:
        """Wait until the mailboxes this step filled have room, and the journal has caught up."""
        journal = self.journal
        if journal is not None and journal.buffered > self._journal_high and self._running:
            self._kick_writer()
            while journal.buffered > self._journal_high and self._running:
                room = self._journal_room
                if room is None:
                    room = self._journal_room = anyio.Event()
                await room.wait()
        if not self._filled:
            return
        filled = self._filled
        self._filled = []
        mine = me.mailbox if me is not None else None
        if mine is not None:
            mine.waiting_for_room = True
        try:
            for mb in filled:
                # Skip our own mailbox and owners that wait themselves: that could deadlock.
                if mb is not mine and mb.full and not mb.waiting_for_room:
                    await mb.wait_room()
        finally:
            if mine is not None:
                mine.waiting_for_room = False

    # -- tasks -------------------------------------------------------------------------------

    async def _actor_loop(self, cell: Cell) -> None:
        mb: Mailbox = cell.mailbox
        get = mb.get_nowait
        dispatch = self.dispatch
        journal = self.journal
        n = 0
        while True:
            item = get()
            if item is None:
                if journal is not None and journal.appended and not any(self._mailboxes):
                    # The kernel went quiet: hash the backlog now, after the tasks this step
                    # woke (an adapter sending an order) have run, rather than in the writer's
                    # next batch, which would hold up whatever message is in flight then.
                    await anyio.lowlevel.checkpoint()
                    if journal.appended and not any(self._mailboxes):
                        journal.chain(CHAIN_SLICE)
                    continue
                await mb.wait()
                continue
            env, dropped = item
            if dropped is not None:
                self.emit_input(KERNEL, Conflated(actor=cell.name, kept=env.seq, dropped=dropped))
            dispatch(cell, env)
            if self.escalated is not None:
                return
            if self._filled:
                await self._relieve(cell)
            n += 1
            if n >= YIELD_EVERY:
                n = 0
                await self._relieve(cell)  # journal pressure, checked every YIELD_EVERY messages
                await anyio.lowlevel.checkpoint()

    async def _timer_loop(self) -> None:
        timers = self._timers
        while True:
            if not timers:
                self._timer_wake = wake = anyio.Event()
                await wake.wait()
                continue
            due = timers[0][0]
            now = self._clock()
            if due > now:
                self._timer_wake = wake = anyio.Event()
                with anyio.move_on_after((due - now) / 1e9):
                    await wake.wait()
                continue
            _, _, actor, timer_id = heapq.heappop(timers)
            self.fire_timer(actor, timer_id, due)
            await self._relieve(None)

    async def _adapter_loop(self, name: str) -> None:
        adapter = self.adapters[name]
        queue = self._commands[name]
        while True:
            if not queue:
                self._command_wake[name] = wake = anyio.Event()
                await wake.wait()
                continue
            env = queue.popleft()
            key = self.effect_key(env)
            if adapter.external:
                await self.wait_durable(env.seq)
            try:
                results = await adapter.execute(env.msg, idem_key=key, env=env)
            except Exception as exc:
                self.log.error("effect_failed", adapter=name, seq=env.seq, error=str(exc))
                self.emit_input(
                    name,
                    EffectFailed(
                        command_seq=env.seq, idem_key=key, error=f"{type(exc).__name__}: {exc}"
                    ),
                    dst=env.src,
                    corr=env.corr,
                    cause=env.seq,
                )
                self.pending_effects.pop(env.seq, None)
                await self._relieve(None)
                continue
            for msg in results:
                self.emit_input(name, msg, corr=env.corr, cause=env.seq)
            if adapter.external:
                self.emit_input(
                    name,
                    EffectAcked(command_seq=env.seq, idem_key=key),
                    corr=env.corr,
                    cause=env.seq,
                )
                self.pending_effects.pop(env.seq, None)
            await self._relieve(None)

    async def reconcile_pending(self) -> int:
        """Settle every command journaled before a crash and never acknowledged; return how many.

        Each goes to its adapter's `reconcile` (never `execute`): the counterparty is asked, by
        the command's idempotency key, whether it happened.
        """
        n = 0
        journaled = self.reconcile_only
        for seq, env in sorted(self.pending_effects.items()):
            if journaled is not None and seq not in journaled:
                continue  # derived during recovery and queued for `execute`: not lost, new
            adapter = self.adapters.get(env.dst)
            key = self.effect_key(env)
            if adapter is None:
                self.log.error("effect_unreconciled", seq=seq, adapter=env.dst)
                continue
            try:
                rec = await adapter.reconcile(env.msg, idem_key=key, env=env)
                results, outcome, detail = rec.messages, rec.outcome, rec.detail
            except Exception as exc:
                results, outcome, detail = (), "unknown", f"{type(exc).__name__}: {exc}"
            for msg in results:
                self.emit_input(env.dst, msg, corr=env.corr, cause=env.seq)
            self.emit_input(
                env.dst,
                EffectReconciled(command_seq=seq, idem_key=key, outcome=outcome, detail=detail),
                corr=env.corr,
                cause=seq,
            )
            self.pending_effects.pop(seq, None)
            self.log.info("effect_reconciled", seq=seq, adapter=env.dst, outcome=outcome)
            n += 1
        return n

    # -- journal writer ----------------------------------------------------------------------

    def _kick_writer(self) -> None:
        ev = self._flush_now
        if ev is not None:
            self._flush_now = None
            ev.set()

    async def wait_durable(self, seq: int, /) -> None:
        """Wait until the journal row of `seq` is durable. A cancellation point."""
        journal = self.journal
        if journal is None or self._store is None or journal.durable_seq >= seq:
            return
        ev = anyio.Event()
        self._durable_waiters.append((seq, ev))
        self._kick_writer()
        await ev.wait()

    async def flush(self) -> None:
        """Write every buffered row now. A cancellation point, but never mid-batch."""
        journal = self.journal
        if journal is None or self._store is None:
            return
        while journal.buffered:
            await self._write_batch()

    async def _write_batch(self) -> None:
        """Take what is buffered and make it durable, shielded from cancellation once taken.

        Invariant: rows taken from the journal are appended before anything else happens; a stop
        that cancelled the writer mid-append would leave a gap in the chain. (Before taking, a
        backlog is hashed in slices with a loop turn after each: a cancellation there leaves
        the rows in the journal for the next batch.)
        """
        journal = self.journal
        store = self._store
        assert journal is not None
        assert store is not None
        # A backlog is hashed in slices, each followed by a loop turn (a cancellation point:
        # nothing is taken yet), until a batch is ready; `take_batch` chains no more than that.
        while (
            journal.appended > CHAIN_SLICE and journal.buffered - journal.appended < self._batch_max
        ):
            journal.chain(CHAIN_SLICE)
            await anyio.lowlevel.checkpoint()
        rows = journal.take_batch(self._batch_max)
        if rows:
            with anyio.CancelScope(shield=True):
                await store.append(self.run_id, rows)
            journal.durable_seq = rows[-1].seq
            journal.durable_head = rows[-1].hash
        self._after_flush()

    def _after_flush(self) -> None:
        journal = self.journal
        assert journal is not None
        durable = journal.durable_seq
        if self._durable_waiters:
            still = []
            for seq, ev in self._durable_waiters:
                if seq <= durable:
                    ev.set()
                else:
                    still.append((seq, ev))
            self._durable_waiters = still
        room = self._journal_room
        if room is not None and journal.buffered <= self._journal_high:
            self._journal_room = None
            room.set()

    async def _writer_loop(self) -> None:
        journal = self.journal
        if journal is None or self._store is None:
            return
        wrote = False
        while True:
            buffered = journal.buffered
            if (
                (not buffered or (wrote and buffered < self._batch_max and self._flush_interval))
                and self._pending_snapshot is None
                and not self._durable_waiters
                and self._journal_room is None
            ):
                # Group commit: after a batch, what trickles in waits for the next interval (or
                # a kick: a command waiting to be durable, a snapshot, journal pressure). Writing
                # whenever rows were there put a writer step between the hops of every message.
                # The interval is `_flush_ticker`'s kick: a timeout here (a cancel scope with a
                # deadline) cost the loop ~20-50 us every interval, in whatever message was in
                # flight then.
                self._flush_now = ev = anyio.Event()
                await ev.wait()
            wrote = False
            if self._snapshot_due:
                self._snapshot_due = False
                self._request_snapshot()  # between handlers: every actor at a consistent point
            if journal.buffered:
                # One batch per turn, so a snapshot is saved even while rows keep arriving.
                await self._write_batch()
                wrote = True
            if (
                self._pending_snapshot is not None
                and journal.durable_seq >= self._pending_snapshot[0].seq
            ):
                await self._save_snapshot()
            await anyio.lowlevel.checkpoint()

    async def _flush_ticker(self) -> None:
        """Kick the writer every flush interval while rows wait for it."""
        journal = self.journal
        if journal is None or self._store is None:
            return
        interval = self._flush_interval
        while True:
            if interval:
                await anyio.sleep(interval)
            else:  # commit at once: look every loop turn
                await anyio.lowlevel.checkpoint()
            if journal.buffered:
                self._kick_writer()

    _pending_snapshot: Any = None

    def _request_snapshot(self) -> None:
        if self._pending_snapshot is None and self.journal is not None:
            # The head at the snapshot's seq comes from the writer's chaining (`mark`), not from
            # `journal.head` here: that would hash the whole backlog at once on the loop, which
            # was a 10-20 ms stall every snapshot under a flood.
            snap = self.capture()
            self.journal.mark(snap.seq)
            self._pending_snapshot = (snap, None)
            self._kick_writer()

    async def _save_snapshot(self) -> None:
        snap, _ = self._pending_snapshot
        self._pending_snapshot = None
        assert self._store is not None
        journal = self.journal
        assert journal is not None
        marked = journal.marked
        if marked is None or marked[0] != snap.seq:  # rows up to it are durable: it was chained
            raise AssertionError(f"no journal head marked at snapshot seq {snap.seq}: {marked}")
        journal.marked = None
        head = marked[1]
        with anyio.CancelScope(shield=True):
            await self._store.save_snapshot(
                Snapshot(
                    run_id=self.run_id, seq=snap.seq, head=head, data=msgspec.msgpack.encode(snap)
                )
            )
        self.snapshots += 1
        self.log.info("snapshot_saved", seq=snap.seq)

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, *, started: Callable[[], Any] | None = None) -> None:
        """Run until `request_stop`, then drain, call `on_stop`, flush and return.

        Actors start here unless `recover` already brought them to their state. Raises
        `ActorEscalatedError` after the kill switch and the escalation are durable.
        """
        self._stop = anyio.Event()
        if self._stopping:
            self._stop.set()
        self.started_ns = self._clock()
        self._running = True
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._writer_loop)
                tg.start_soon(self._flush_ticker)
                for name, adapter in self.adapters.items():
                    await adapter.start(_Port(self, name))
                    tg.start_soon(self._adapter_loop, name)
                await self.reconcile_pending()
                if not self.started:
                    self.start_actors()
                self._mailboxes = tuple(cell.mailbox for cell in self.cells.values())
                for cell in self.cells.values():
                    tg.start_soon(self._actor_loop, cell)
                # Inputs (timers, feeds) live in their own group: a stop cuts them off first.
                async with anyio.create_task_group() as inputs:
                    inputs.start_soon(self._timer_loop)
                    for adapter in self.adapters.values():
                        if adapter.feeds:
                            inputs.start_soon(adapter.run)
                    if started is not None:
                        started()
                    await self._stop.wait()
                    inputs.cancel_scope.cancel()
                await self._drain()
                if self.escalated is None:
                    self.emit_stop(self.stop_reason or "requested")
                    await self._drain()
                tg.cancel_scope.cancel()
        finally:
            self._running = False
            self._closed = True
            with anyio.CancelScope(shield=True):
                for adapter in self.adapters.values():
                    try:
                        await adapter.stop()
                    except Exception as exc:
                        self.log.error("adapter_stop_failed", adapter=adapter.name, error=str(exc))
                await self.flush()
                if self.journal is not None:
                    self.journal.close()
        if self.escalated is not None:
            raise self.escalated

    async def _drain(self) -> None:
        """Wait until every mailbox and command queue is empty (quiescent)."""
        for _ in range(100_000):
            busy = any(len(c.mailbox) for c in self.cells.values()) or any(self._commands.values())
            if not busy:
                await anyio.sleep(0)
                if not any(len(c.mailbox) for c in self.cells.values()):
                    return
            await anyio.sleep(0.001 if busy else 0)

    def _on_escalate(self, err: ActorEscalatedError) -> None:
        self.request_stop("escalated")

    def status(self) -> dict[str, Any]:
        """Return per-actor state, mailbox and counters, for `/status` and `/metrics`.

        `state` is `escalated` (it stopped the kernel), `stopped`, `waiting` (its sender is
        blocked on a full mailbox downstream), `busy` (messages queued) or `idle`.
        """
        out = self.stats()
        escalated = self.escalated.actor if self.escalated is not None else None
        for name, cell in self.cells.items():
            mb: Mailbox = cell.mailbox
            st = out[name]
            st.update(mb.stats())
            if name == escalated:
                st["state"] = "escalated"
            elif self._closed:
                st["state"] = "stopped"
            elif mb.waiting_for_room:
                st["state"] = "waiting"
            else:
                st["state"] = "busy" if st["depth"] else "idle"
        return out
