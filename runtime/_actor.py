"""Define the actor API: lifecycle hooks, handlers by message type, snapshot and restore.

An actor is plain, synchronous, deterministic code. It reads its state and a message, updates the
state, and emits messages through its `Context`. It never does I/O, reads the wall clock or uses
the global random module; anything slow or external belongs in an adapter. That is what lets the
same actor run in the live kernel, the sim kernel, replay and recovery.

Handlers are methods named `on_<anything>` whose single parameter is annotated with a message
type; a handler for a base class receives every subclass. `on_start`, `on_stop` are lifecycle
hooks and `on_timer` receives `TimerFired`.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from runtime._message import Message

if TYPE_CHECKING:
    from runtime._context import Context

Handler = Callable[[Message], None]

_LIFECYCLE = frozenset({"on_start", "on_stop"})


class Actor:
    """Base class of every agent actor.

    Subclasses declare handlers as `def on_tick(self, msg: Tick) -> None`. State that must survive
    a restart or a crash lives in `self.state`, a `msgspec.Struct`; the default `snapshot` and
    `restore` encode it. Override both for state of another shape.
    """

    ctx: Context
    state: Any = None
    _handler_names: ClassVar[dict[type[Message], str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handler_names = {}
        # Resolved lazily in `handler_for`, since annotations may reference names defined later.

    @classmethod
    def _collect_handlers(cls) -> dict[type[Message], str]:
        found: dict[type[Message], str] = {}
        for klass in reversed(cls.__mro__):
            for name, fn in vars(klass).items():
                if not name.startswith("on_") or name in _LIFECYCLE or not callable(fn):
                    continue
                try:
                    hints = typing.get_type_hints(fn)
                except Exception as exc:  # pragma: no cover - a broken annotation is a bug
                    raise TypeError(
                        f"cannot resolve annotations of `{klass.__name__}.{name}`"
                    ) from exc
                params = [p for p in hints if p != "return"]
                if len(params) != 1:
                    continue
                mtype = hints[params[0]]
                if isinstance(mtype, type) and issubclass(mtype, Message):
                    found[mtype] = name
        return found

    def handler_for(self, mtype: type[Message], /) -> Handler | None:
        """Return the bound handler for `mtype` (most specific base wins), or None."""
        cls = type(self)
        names = cls.__dict__.get("_resolved")
        if names is None:
            names = cls._collect_handlers()
            cls._resolved = names  # type: ignore[attr-defined]
        for klass in mtype.__mro__:
            name = names.get(klass)
            if name is not None:
                fn: Handler = getattr(self, name)
                return fn
        return None

    def on_start(self) -> None:
        """Subscribe, schedule timers, emit first messages; once per run, not on restart."""

    def on_stop(self) -> None:
        """Release nothing external (actors hold nothing external); emit final messages if any."""

    def snapshot(self) -> bytes | None:
        """Return the state to persist, or None when the actor is stateless."""
        if self.state is None:
            return None
        return msgspec.msgpack.encode(self.state)

    def restore(self, data: bytes, /) -> None:
        """Replace the state with one produced by `snapshot`."""
        self.state = msgspec.msgpack.decode(data, type=type(self.state))
