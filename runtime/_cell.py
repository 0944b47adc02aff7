"""Hold one actor inside a kernel: instance, factory, context, policy, counters, restart log.

The supervisor's decisions live in `KernelBase._fail`; this module keeps what they need: how many
restarts happened in the window, and a local snapshot plus the messages handled since it, so a
restarted actor gets back exactly the state it had before the message that failed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from runtime._actor import Actor, Handler
from runtime._context import Context, ContextState
from runtime._message import Envelope, Message

Policy = Literal["restart", "resume", "escalate"]

LOCAL_SNAPSHOT_EVERY = 4096
"""How many handled messages a stateful actor's restart log holds, at least, before a new local
snapshot."""
SNAPSHOT_BYTES_PER_MESSAGE = 64
"""A state of `n` bytes is snapshotted again after `n / 64` messages at the earliest: encoding a
large state (a venue remembers every client id) costs as much as handling that many messages,
and a restart replays the log since the snapshot anyway, so the interval grows with the state."""


class ActorSpec:
    """Describe an actor to start: its name, how to build it, and how to supervise it."""

    __slots__ = ("critical", "factory", "mailbox_size", "name", "policy", "role")

    def __init__(
        self,
        name: str,
        factory: Callable[[], Actor],
        /,
        *,
        role: str = "",
        policy: Policy = "restart",
        critical: bool | None = None,
        mailbox_size: int | None = None,
    ) -> None:
        self.name = name
        self.factory = factory
        self.role = role
        self.policy: Policy = policy
        self.critical = critical if critical is not None else role in ("risk", "execution")
        self.mailbox_size = mailbox_size


class Cell:
    """Keep one running actor and the bookkeeping its supervision and metrics need."""

    __slots__ = (
        "actor",
        "ctx",
        "failures",
        "handled",
        "handlers",
        "log",
        "mailbox",
        "restart_times",
        "restarts",
        "snap",
        "snap_every",
        "spec",
        "stateful",
    )

    def __init__(self, spec: ActorSpec, ctx: Context) -> None:
        self.spec = spec
        self.ctx = ctx
        self.actor = self._build()
        self.handlers: dict[type[Message], Handler | None] = {}
        """Handler per concrete message type, resolved once (None: the actor ignores it)."""
        self.handled = 0
        self.failures = 0
        self.restarts = 0
        self.restart_times: deque[int] = deque()
        self.stateful = self.actor.snapshot() is not None
        self.snap: tuple[bytes | None, ContextState] | None = None
        self.snap_every = LOCAL_SNAPSHOT_EVERY
        """The restart log's length that triggers the next local snapshot."""
        self.log: list[Envelope] | None = [] if self.stateful else None
        self.mailbox: Any = None

    @property
    def name(self) -> str:
        """Return the actor's name."""
        return self.spec.name

    def _build(self) -> Actor:
        actor = self.spec.factory()
        actor.ctx = self.ctx
        return actor

    def rebuild(self) -> None:
        """Replace the instance with a fresh one from the factory (state not yet restored)."""
        self.actor = self._build()
        self.handlers = {}

    def renew_snapshot_if_due(self, small_every: int, small_bytes: int, /) -> None:
        """Take a local snapshot when the restart log is due: at `small_every` messages for a
        state of at most `small_bytes` (cheap to encode), else at `snap_every`."""
        log = self.log
        if log is None or len(log) < small_every:
            return
        snap = self.snap
        small = snap is None or snap[0] is None or len(snap[0]) <= small_bytes
        if small or len(log) >= self.snap_every:
            self.take_local_snapshot()

    def take_local_snapshot(self) -> None:
        """Remember the current state so a restart can start from here."""
        state = self.actor.snapshot()
        self.snap = (state, self.ctx.capture())
        if self.log is not None:
            self.log.clear()
            size = len(state) if state is not None else 0
            self.snap_every = max(LOCAL_SNAPSHOT_EVERY, size // SNAPSHOT_BYTES_PER_MESSAGE)
