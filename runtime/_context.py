"""Give an actor its only window on the world: emit, timers, clock, seeded rng, logger.

Everything an actor may do that is not pure computation goes through here, so the kernel can
journal it, replay it and restore it. The context's own state (timers, subscriptions, the rng, the
count of messages handled) is snapshotted with the actor's state.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING, Any

import msgspec

from runtime._message import Envelope, Message

if TYPE_CHECKING:
    from runtime._kernel import KernelBase


class TimerSpec(msgspec.Struct, array_like=True):
    """A pending timer: when it fires (ns, kernel clock), its key, and its period (0: once)."""

    due: int
    key: str
    every_ns: int = 0


class ContextState(msgspec.Struct, kw_only=True):
    """What the context persists: timers, subscriptions, counters and the rng state."""

    position: int = 0
    """The seq of the last message this actor handled (or skipped); recovery resumes after it."""
    next_timer_id: int = 1
    timers: dict[int, TimerSpec] = msgspec.field(default_factory=dict)
    subscriptions: list[tuple[str, Any]] = msgspec.field(default_factory=list)
    rng: list[Any] = msgspec.field(default_factory=list)


def derive_seed(seed: int, name: str, /) -> int:
    """Return a per-actor seed: stable across processes and Python versions (no `hash()`)."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Context:
    """Emit messages, manage timers and read the clock on behalf of one actor.

    `publish` and `send` inherit `corr` from the message being handled unless told otherwise, and
    set `cause` to its seq. None of the methods block or await: a handler stays synchronous.
    """

    __slots__ = ("_emit", "_kernel", "_sim", "current", "log", "name", "position", "rng", "state")

    def __init__(self, kernel: KernelBase, name: str, *, seed: int, log: Any) -> None:
        self._kernel = kernel
        self.name = name
        self.current: Envelope | None = None
        """The envelope being handled, or None in `on_start`; set by the kernel only (a plain
        attribute rather than a property: handlers read it on every message)."""
        self.rng = random.Random(derive_seed(seed, name))
        self.log = log
        self.state = ContextState()
        self.position = 0
        """The seq of the last message this actor handled; kept here, off the state, for speed."""
        self._emit = kernel.emit_output
        self._sim: Any = kernel if getattr(kernel, "direct_emit", False) else None
        """The sim kernel, whose `emit_output` `publish` and `send` inline (see there)."""

    @property
    def now(self) -> int:
        """Return the time of the message being handled, in ns on the kernel's clock."""
        env = self.current
        return env.ts if env is not None else self._kernel.now_ns()

    def publish(self, msg: Message, /, *, corr: str | None = None) -> None:
        """Publish `msg` to every subscriber of its type (and key)."""
        env = self.current
        if env is None:
            self._emit(self.name, msg, "", corr or "", 0, self._kernel.now_ns())
            return
        k = self._sim
        if k is None or k._diverted:
            self._emit(self.name, msg, "", env.corr if corr is None else corr, env.seq, env.ts)
            return
        # `SimKernel.emit_output`, inlined: a backtest emits every output through here.
        seq = k.seq + 1
        k.seq = seq
        out = Envelope(seq, env.ts, self.name, msg, "", env.corr if corr is None else corr,
                       env.seq, False)  # fmt: skip
        journal = k.journal
        if journal is not None:
            journal.append(out)
        k._ready.append(out)

    def send(self, dst: str, msg: Message, /, *, corr: str | None = None) -> None:
        """Send `msg` to the actor or adapter named `dst` only."""
        env = self.current
        if env is None:
            self._emit(self.name, msg, dst, corr or "", 0, self._kernel.now_ns())
            return
        k = self._sim
        if k is None or k._diverted:
            self._emit(self.name, msg, dst, env.corr if corr is None else corr, env.seq, env.ts)
            return
        seq = k.seq + 1  # `SimKernel.emit_output`, inlined, as in `publish`
        k.seq = seq
        out = Envelope(seq, env.ts, self.name, msg, dst, env.corr if corr is None else corr,
                       env.seq, False)  # fmt: skip
        journal = k.journal
        if journal is not None:
            journal.append(out)
        k._ready.append(out)

    def new_corr(self) -> str:
        """Return a fresh correlation id, deterministic for this run (`<actor>-<seq>`)."""
        env = self.current
        return f"{self.name}-{env.seq if env is not None else 0}"

    def subscribe(self, mtype: type[Message], /, *, key: Any = None) -> None:
        """Receive published messages of `mtype` (and its subclasses), only for `key` if given."""
        entry = (str(mtype.__struct_config__.tag), key)
        if entry not in self.state.subscriptions:
            self.state.subscriptions.append(entry)
            self._kernel.router.subscribe(self.name, mtype, key)

    def unsubscribe(self, mtype: type[Message], /, *, key: Any = None) -> None:
        """Stop receiving what `subscribe(mtype, key=key)` asked for."""
        entry = (str(mtype.__struct_config__.tag), key)
        if entry in self.state.subscriptions:
            self.state.subscriptions.remove(entry)
            self._kernel.router.unsubscribe(self.name, mtype, key)

    def schedule(self, delay_ns: int, /, *, key: str, every: bool = False) -> int:
        """Fire `TimerFired(key=key)` at this actor after `delay_ns`; repeat if `every`.

        Return the timer id, for `cancel`. Timer ids are deterministic per actor.
        """
        if delay_ns < 0:
            raise ValueError(f"`delay_ns` must be >= 0, got {delay_ns}")
        st = self.state
        timer_id = st.next_timer_id
        st.next_timer_id += 1
        spec = TimerSpec(self.now + delay_ns, key, delay_ns if every else 0)
        st.timers[timer_id] = spec
        self._kernel.arm_timer(self.name, timer_id, spec)
        return timer_id

    def cancel(self, timer_id: int, /) -> bool:
        """Cancel a pending timer; return whether it was pending."""
        return self.state.timers.pop(timer_id, None) is not None

    def idem_key(self, *parts: object) -> str:
        """Return a deterministic idempotency key for a command emitted by this handler."""
        env = self.current
        cause = env.seq if env is not None else 0
        tail = ":".join(str(p) for p in parts)
        return f"{self._kernel.effect_namespace}{self.name}:{cause}:{tail}"

    # -- kernel side -------------------------------------------------------------------------

    def capture(self) -> ContextState:
        """Return a copy of the persistent context state, rng included."""
        st = self.state
        version, internal, gauss = self.rng.getstate()
        return ContextState(
            position=self.position,
            next_timer_id=st.next_timer_id,
            timers={k: TimerSpec(v.due, v.key, v.every_ns) for k, v in st.timers.items()},
            subscriptions=list(st.subscriptions),
            rng=[version, list(internal), gauss],
        )

    def reinstate(self, st: ContextState, /) -> None:
        """Install a captured state (the caller re-arms timers and subscriptions)."""
        self.position = st.position
        self.state = ContextState(
            position=st.position,
            next_timer_id=st.next_timer_id,
            timers=dict(st.timers),
            subscriptions=[(tag, key) for tag, key in st.subscriptions],
            rng=[],
        )
        if st.rng:
            version, internal, gauss = st.rng
            self.rng.setstate((version, tuple(internal), gauss))
