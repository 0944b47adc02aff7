"""Share what both kernels do: emit and journal envelopes, dispatch to actors, supervise, redeliver.

The sim kernel and the live kernel differ only in how envelopes wait for their recipients (a
time-ordered heap, or bounded mailboxes served by tasks) and where time comes from. Everything that
decides the content of the journal lives here, once, so both produce the same chain for the same
inputs.

Redelivery (recovery and replay) runs the same dispatch with `_redeliver` set: outputs the actors
produce are not routed but matched against the recorded ones, by (src, cause) in order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from runtime._actor import Actor
from runtime._adapter import Adapter
from runtime._cell import ActorSpec, Cell
from runtime._context import Context, ContextState, TimerSpec
from runtime._errors import ActorEscalatedError, KineticError
from runtime._journal import Journal
from runtime._kernel_messages import (
    ActorEscalated,
    ActorRestarted,
    DeadLetter,
    EffectAcked,
    EffectFailed,
    EffectReconciled,
    Start,
    Stop,
    TimerFired,
    TradingStateChanged,
)
from runtime._message import CODEC, Envelope, Message
from runtime._router import Router

_MISSING: Any = object()
KERNEL = "kernel"
"""The `src` of envelopes the kernel itself emits (supervision, kill switch on escalation)."""


class Divergence(msgspec.Struct, frozen=True, kw_only=True):
    """Name the first output that replay could not reproduce."""

    seq: int
    actor: str
    expected: str
    got: str
    detail: str


class KernelSnapshot(msgspec.Struct, kw_only=True):
    """Persist every actor's state and position, and the effects still awaiting an ack."""

    seq: int
    actors: dict[str, tuple[bytes | None, ContextState]]
    pending_effects: list[bytes]


class KernelBase(ABC):
    """Emit, journal, dispatch and supervise; subclasses decide delivery and time."""

    kind = "base"

    def __init__(
        self,
        *,
        run_id: str = "run",
        seed: int = 0,
        journal: Journal | None = None,
        logger: Any = None,
        restart_max: int = 5,
        restart_window_ns: int = 60_000_000_000,
        effect_namespace: str = "",
    ) -> None:
        self.run_id = run_id
        self.seed = seed
        self.journal = journal
        self.log = logger if logger is not None else _NullLogger()
        self.restart_max = restart_max
        self.restart_window_ns = restart_window_ns
        self.effect_namespace = effect_namespace
        self.router = Router()
        self.cells: dict[str, Cell] = {}
        self.adapters: dict[str, Adapter] = {}
        self.seq = journal.last_seq if journal is not None else 0
        self.pending_effects: dict[int, Envelope] = {}
        self.reconcile_only: frozenset[int] | None = None
        """Seqs of the commands journaled before a crash (set by `emit_recovered`)."""
        self.escalated: ActorEscalatedError | None = None
        self.started = False
        self.dead_letters = 0
        # Redelivery state (recovery, replay).
        self._redeliver = False
        self._suppress: str | None = None
        self._diverted = False
        """Whether outputs are suppressed or matched instead of routed (restart, redelivery)."""
        self._produced: dict[tuple[str, int], deque[Envelope]] = {}
        self._produced_order: list[Envelope] = []
        self._start_pos: dict[str, int] = {}
        self._min_start = 0
        self.divergence: Divergence | None = None
        self.matched = 0

    # -- assembly ----------------------------------------------------------------------------

    def add_actor(self, spec: ActorSpec, /) -> Cell:
        """Build and register an actor; its `on_start` runs when the kernel starts."""
        if spec.name in self.cells or spec.name in self.adapters or spec.name == KERNEL:
            raise KineticError(f"name `{spec.name}` is taken")
        ctx = Context(self, spec.name, seed=self.seed, log=self.log.bind(actor=spec.name))
        cell = Cell(spec, ctx)
        self.cells[spec.name] = cell
        return cell

    def add_adapter(self, name: str, adapter: Adapter, /) -> None:
        """Register an adapter under `name`; commands sent to that name go to it."""
        if name in self.cells or name in self.adapters or name == KERNEL:
            raise KineticError(f"name `{name}` is taken")
        adapter.name = name
        self.adapters[name] = adapter

    def actor(self, name: str, /) -> Actor:
        """Return the live instance of actor `name` (tests and the status endpoint read it)."""
        return self.cells[name].actor

    # -- time and delivery: subclasses -------------------------------------------------------

    @abstractmethod
    def now_ns(self) -> int:
        """Return the kernel clock in ns."""

    @abstractmethod
    def _route(self, env: Envelope, /) -> None:
        """Queue `env` for its recipients (actors, or an adapter for a command)."""

    @abstractmethod
    def _arm(self, actor: str, timer_id: int, spec: TimerSpec, /) -> None:
        """Make the timer fire at `spec.due`."""

    # -- emission ----------------------------------------------------------------------------

    def emit_output(self, src: str, msg: Message, dst: str, corr: str, cause: int, ts: int) -> None:
        """Emit an actor's output: journal it, then route it (or match it, when redelivering)."""
        if self._diverted and self._suppress == src:
            return
        if self._redeliver:
            self._produce(Envelope(0, ts, src, msg, dst, corr, cause, False))
            return
        seq = self.seq + 1
        self.seq = seq
        env = Envelope(seq, ts, src, msg, dst, corr, cause, False)
        journal = self.journal
        if journal is not None:
            journal.append(env)
        self._route(env)

    def emit_input(
        self,
        src: str,
        msg: Message,
        /,
        *,
        dst: str = "",
        corr: str = "",
        cause: int = 0,
        ts: int | None = None,
    ) -> Envelope:
        """Emit an input (adapter result, operator command, timer): journal it, then route it."""
        seq = self.seq + 1
        self.seq = seq
        env = Envelope(seq, self.now_ns() if ts is None else ts, src, msg, dst, corr, cause, True)
        journal = self.journal
        if journal is not None:
            journal.append(env)
        self._route(env)
        return env

    def recipients(self, env: Envelope, /) -> Iterable[str]:
        """Return the actors `env` goes to: its `dst`, or the subscribers of its message."""
        if env.dst:
            return (env.dst,) if env.dst in self.cells else ()
        return self.router.recipients(env.msg)

    # -- timers ------------------------------------------------------------------------------

    def arm_timer(self, actor: str, timer_id: int, spec: TimerSpec, /) -> None:
        """Arm a timer an actor scheduled (not while redelivering: recorded firings drive it)."""
        if self._redeliver or self._suppress is not None:
            return
        self._arm(actor, timer_id, spec)

    def fire_timer(self, actor: str, timer_id: int, due: int, /, *, ts: int | None = None) -> None:
        """Emit `TimerFired` to `actor` if the timer is still pending with that due time."""
        cell = self.cells.get(actor)
        if cell is None:
            return
        spec = cell.ctx.state.timers.get(timer_id)
        if spec is None or spec.due != due:
            return  # cancelled or already fired: stale heap entry
        self.emit_input(KERNEL, TimerFired(timer_id=timer_id, key=spec.key), dst=actor, ts=ts)

    # -- dispatch and supervision ------------------------------------------------------------

    def dispatch(self, cell: Cell, env: Envelope, /) -> None:
        """Run `cell`'s handler for `env` under supervision; never raises but for escalation."""
        msg = env.msg
        try:
            handler = cell.handlers[type(msg)]
        except KeyError:
            handler = self._resolve(cell, type(msg))
        ctx = cell.ctx
        ctx.current = env
        if handler is not None:
            try:
                handler(msg)
            except Exception as exc:
                ctx.current = None
                ctx.position = env.seq
                self._fail(cell, env, exc)
                return
        ctx.current = None
        ctx.position = env.seq
        cell.handled += 1
        log = cell.log
        if log is not None:
            log.append(env)
            if len(log) >= cell.snap_every:
                cell.take_local_snapshot()

    def _resolve(self, cell: Cell, mtype: type[Message]) -> Any:
        """Find and cache `cell`'s handler for `mtype`; timers get their bookkeeping wrapped in."""
        handler: Any = cell.actor.handler_for(mtype)
        if mtype is TimerFired:
            inner = handler

            def on_timer(msg: TimerFired) -> None:
                h = self._timer_due(cell, msg, inner)
                if h is not None:
                    h(msg)

            handler = on_timer
        cell.handlers[mtype] = handler
        return handler

    def _timer_due(self, cell: Cell, msg: TimerFired, handler: Any) -> Any:
        timers = cell.ctx.state.timers
        spec = timers.get(msg.timer_id)
        if spec is None:
            return None  # cancelled after it fired
        if spec.every_ns:
            # After downtime, skip the missed periods instead of firing them in a burst; the
            # rule reads only the recorded fire time, so replay takes the same decision.
            fired = cell.ctx.now
            nxt = spec.due + spec.every_ns
            if nxt <= fired:
                nxt = fired - (fired - spec.due) % spec.every_ns + spec.every_ns
            spec.due = nxt
            self.arm_timer(cell.name, msg.timer_id, spec)
        else:
            del timers[msg.timer_id]
        return handler

    def _fail(self, cell: Cell, env: Envelope, exc: Exception) -> None:
        """Apply `cell`'s policy to a handler that raised while handling `env`."""
        cell.failures += 1
        err = f"{type(exc).__name__}: {exc}"
        name = cell.name
        self.log.error("actor_failed", actor=name, seq=env.seq, error=err, policy=cell.spec.policy)
        policy = cell.spec.policy
        if policy == "restart":
            window = cell.restart_times
            window.append(env.ts)
            while window and window[0] <= env.ts - self.restart_window_ns:
                window.popleft()
            if len(window) > self.restart_max:
                policy = "escalate"
        if policy == "resume":
            self.dead_letters += 1
            self._kernel_output(DeadLetter(actor=name, seq=env.seq, error=err), env)
        elif policy == "restart":
            self._restart(cell, env)
            cell.restarts += 1
            self.log.warning("actor_restarted", actor=name, seq=env.seq, restarts=cell.restarts)
            self._kernel_output(
                ActorRestarted(actor=name, seq=env.seq, error=err, restarts=cell.restarts), env
            )
        else:
            if cell.spec.critical:
                # A crash in risk or execution trips the kill switch before anything else happens.
                self._kernel_output(
                    TradingStateChanged(
                        scope="global",
                        target="*",
                        state="HALTED",
                        reason=f"actor `{name}` escalated: {err}",
                        by=KERNEL,
                    ),
                    env,
                )
            self._kernel_output(ActorEscalated(actor=name, seq=env.seq, error=err), env)
            self.log.error("actor_escalated", actor=name, seq=env.seq, error=err)
            if self._redeliver:
                # The recorded run stopped here; the next start continues with a fresh actor.
                cell.rebuild()
                cell.restart_times.clear()
                return
            self.escalated = ActorEscalatedError(f"actor `{name}` escalated: {err}", actor=name)
            self._on_escalate(self.escalated)

    def _on_escalate(self, err: ActorEscalatedError) -> None:
        raise err

    def _kernel_output(self, msg: Message, cause: Envelope) -> None:
        self.emit_output(KERNEL, msg, "", cause.corr, cause.seq, cause.ts)

    def _restart(self, cell: Cell, failed: Envelope) -> None:
        """Rebuild `cell` and bring it back to its state just before `failed`."""
        snap = cell.snap
        log = list(cell.log) if cell.log is not None else []
        cell.rebuild()
        if snap is None:
            return  # stateless: a fresh instance is the state
        state, ctx_state = snap
        if state is not None:
            cell.actor.restore(state)
        self._reinstate_ctx(cell, ctx_state)
        self._suppress = cell.name
        self._diverted = True
        try:
            for env in log:
                if env.seq != failed.seq:
                    self._replay_handle(cell, env)
        finally:
            self._suppress = None
            self._diverted = self._redeliver
        cell.take_local_snapshot()

    def _replay_handle(self, cell: Cell, env: Envelope) -> None:
        handler = self._resolve(cell, type(env.msg))
        ctx = cell.ctx
        ctx.current = env
        try:
            if handler is not None:
                handler(env.msg)
        except Exception as exc:  # it failed the first time too and was supervised then
            self.log.debug("actor_restore_skipped", actor=cell.name, seq=env.seq, error=str(exc))
        finally:
            ctx.current = None
            ctx.position = env.seq

    def _reinstate_ctx(self, cell: Cell, st: ContextState) -> None:
        self.router.remove_actor(cell.name)
        cell.ctx.reinstate(st)
        from runtime._message import message_type

        for tag, key in cell.ctx.state.subscriptions:
            self.router.subscribe(cell.name, message_type(tag), key)

    # -- starting ----------------------------------------------------------------------------

    def start_actors(self) -> None:
        """Journal a `Start` input and call every `on_start` under it, in registration order."""
        self._start_under(self.emit_input(KERNEL, Start()))

    def _start_under(self, env: Envelope) -> None:
        self.started = True
        for cell in self.cells.values():
            cell.ctx.current = env
            try:
                cell.actor.on_start()
            except Exception as exc:
                raise KineticError(f"actor `{cell.name}` failed in on_start: {exc}") from exc
            finally:
                cell.ctx.current = None
            cell.ctx.position = env.seq
            cell.take_local_snapshot()

    def stop_actors(self, stop: Envelope | None, /) -> None:
        """Call every actor's `on_stop` as if handling the journaled `Stop` input `stop`.

        Their outputs then carry `cause=stop.seq`, so replay reproduces them when it meets the
        recorded `Stop`. Failures are logged, not raised: a stop always completes.
        """
        for cell in self.cells.values():
            cell.ctx.current = stop
            try:
                cell.actor.on_stop()
            except Exception as exc:
                self.log.error("actor_stop_failed", actor=cell.name, error=str(exc))
            finally:
                cell.ctx.current = None

    def emit_stop(self, reason: str, /) -> Envelope:
        """Journal a `Stop` input and run every `on_stop` under it; return its envelope."""
        env = self.emit_input(KERNEL, Stop(reason=reason))
        self.stop_actors(env)
        return env

    # -- effects -----------------------------------------------------------------------------

    def effect_key(self, env: Envelope, /) -> str:
        """Return the idempotency key of a command: its own, or `<run>:<seq>`."""
        own = getattr(env.msg, "idem_key", None)
        return own if isinstance(own, str) and own else f"{self.run_id}:{env.seq}"

    def note_effect(self, env: Envelope, /) -> None:
        """Track a journaled external command until it is acknowledged."""
        self.pending_effects[env.seq] = env

    def settle_effect(self, msg: Message, /) -> None:
        """Forget a command once its acknowledgement, failure or reconciliation is journaled."""
        if isinstance(msg, EffectAcked | EffectFailed | EffectReconciled):
            self.pending_effects.pop(msg.command_seq, None)

    # -- snapshots ---------------------------------------------------------------------------

    def capture(self) -> KernelSnapshot:
        """Capture every actor's state and position at once (between handlers: consistent)."""
        return KernelSnapshot(
            seq=self.seq,
            actors={n: (c.actor.snapshot(), c.ctx.capture()) for n, c in self.cells.items()},
            pending_effects=[CODEC.encode(e) for e in self.pending_effects.values()],
        )

    def install(self, snap: KernelSnapshot, /) -> None:
        """Restore actors (by name) and pending effects from a snapshot."""
        for name, (state, ctx_state) in snap.actors.items():
            cell = self.cells.get(name)
            if cell is None:
                self.log.warning("snapshot_actor_unknown", actor=name)
                continue
            if state is not None:
                cell.actor.restore(state)
            self._reinstate_ctx(cell, ctx_state)
            cell.take_local_snapshot()
        for data in snap.pending_effects:
            env = CODEC.decode(data)
            self.pending_effects[env.seq] = env

    # -- redelivery --------------------------------------------------------------------------

    def _produce(self, env: Envelope) -> None:
        key = (env.src, env.cause)
        q = self._produced.get(key)
        if q is None:
            q = self._produced[key] = deque()
        q.append(env)
        self._produced_order.append(env)

    def begin_redelivery(self) -> None:
        """Switch to redelivery: outputs are matched against the journal, not routed.

        Actors start from a snapshot (installed before) or from nothing; in the latter case the
        recorded `Start` input runs their `on_start`.
        """
        self._redeliver = True
        self._diverted = True
        self._start_pos = {n: c.ctx.position for n, c in self.cells.items()}
        self._min_start = min(self._start_pos.values(), default=0)
        self._produced.clear()
        self._produced_order.clear()

    def _derived_here(self, env: Envelope) -> bool:
        """Return whether redelivery re-derives `env` (its cause is handled after the start)."""
        if env.src == KERNEL:
            return env.cause > self._min_start
        start = self._start_pos.get(env.src)
        return start is not None and env.cause > start

    def redeliver(
        self, env: Envelope, data: bytes | None, skip: frozenset[tuple[str, int]]
    ) -> bool:
        """Re-drive one recorded envelope; return False at the first divergence.

        An output is first compared with what its producer derived when it handled the cause;
        then, like an input, it goes to its recipients (unless they handled it before the
        snapshot, or it was conflated away for them in the recorded run).
        """
        if not env.inp and self._derived_here(env) and not self._match(env, data):
            return False
        self.seq = env.seq
        msg = env.msg
        if msg.effect:
            self.note_effect(env)
        else:
            self.settle_effect(msg)
        if env.src == KERNEL and env.inp:
            if type(msg) is Start:
                self._start_under(env)
                return self.divergence is None
            if type(msg) is Stop:
                self.stop_actors(env)
                return self.divergence is None
        for name in self.recipients(env):
            cell = self.cells.get(name)
            if cell is None or cell.ctx.position >= env.seq or (name, env.seq) in skip:
                continue
            self.dispatch(cell, env)
        return self.divergence is None

    def _match(self, rec: Envelope, data: bytes | None) -> bool:
        q = self._produced.get((rec.src, rec.cause))
        if not q:
            self.divergence = Divergence(
                seq=rec.seq,
                actor=rec.src,
                expected=_describe(rec),
                got="nothing",
                detail=f"replayed `{rec.src}` did not emit this output of seq {rec.cause}",
            )
            return False
        got = q.popleft()
        got = Envelope(rec.seq, got.ts, got.src, got.msg, got.dst, got.corr, got.cause, False)
        got_data = CODEC.encode(got)
        expected_data = data if data is not None else CODEC.encode(rec)
        if got_data != expected_data:
            self.divergence = Divergence(
                seq=rec.seq,
                actor=rec.src,
                expected=_describe(rec),
                got=_describe(got),
                detail="replayed output differs from the recorded one",
            )
            return False
        self.matched += 1
        return True

    def end_redelivery(self) -> list[Envelope]:
        """Leave redelivery; return the outputs derived past the end of the journal, in order."""
        self._redeliver = False
        self._diverted = self._suppress is not None
        pending = {id(e) for q in self._produced.values() for e in q}
        leftovers = [e for e in self._produced_order if id(e) in pending]
        self._produced.clear()
        self._produced_order.clear()
        return leftovers

    def emit_recovered(self, envs: Iterable[Envelope], /) -> None:
        """Emit outputs derived during recovery that the journal did not have yet.

        Commands among them are new (never journaled): they go to their adapters' `execute`.
        Only the commands pending before this call, journaled before the crash, are left for
        `reconcile`: `reconcile_only` records which.
        """
        self.reconcile_only = frozenset(self.pending_effects)
        for e in envs:
            self.emit_output(e.src, e.msg, e.dst, e.corr, e.cause, e.ts)

    def rearm_timers(self) -> None:
        """Arm every pending timer of every actor (after recovery)."""
        for cell in self.cells.values():
            for timer_id, spec in cell.ctx.state.timers.items():
                self._arm(cell.name, timer_id, spec)

    def stats(self) -> dict[str, Any]:
        """Return per-actor counters for status and metrics."""
        return {
            name: {
                "handled": c.handled,
                "failures": c.failures,
                "restarts": c.restarts,
                "position": c.ctx.position,
            }
            for name, c in self.cells.items()
        }


def _describe(env: Envelope) -> str:
    body = msgspec.json.encode(env.msg).decode()
    if len(body) > 300:
        body = body[:297] + "..."
    return f"seq={env.seq} src={env.src} dst={env.dst or '-'} cause={env.cause} ts={env.ts} {body}"


class _NullLogger:
    def bind(self, **_: Any) -> _NullLogger:
        return self

    def __getattr__(self, _name: str) -> Callable[..., None]:
        return _noop


def _noop(*_a: Any, **_k: Any) -> None:
    return None
