"""Route a published message to its subscribers, by type (and base type) and by key.

Resolution is cached per concrete message type, so the hot path is two dict lookups. A
subscription to a base class (say `MarketData`) receives every subclass.
"""

from __future__ import annotations

from typing import Any

from runtime._message import Message

_EMPTY: tuple[str, ...] = ()


class Router:
    """Keep subscriptions and answer `recipients(msg)` in subscription order."""

    def __init__(self) -> None:
        self._subs: list[tuple[str, type[Message], Any]] = []
        self._cache: dict[
            type[Message], tuple[tuple[str, ...], dict[Any, tuple[str, ...]] | None]
        ] = {}
        self.plans: dict[type[Message], Any] = {}
        """What a kernel derives from `recipients` per message type (its delivery plans); cleared
        with the cache whenever a subscription changes."""

    def subscribe(self, actor: str, mtype: type[Message], key: Any = None) -> None:
        """Add a subscription; adding one twice changes nothing."""
        entry = (actor, mtype, key)
        if entry not in self._subs:
            self._subs.append(entry)
            self._changed()

    def unsubscribe(self, actor: str, mtype: type[Message], key: Any = None) -> None:
        """Remove a subscription if present."""
        entry = (actor, mtype, key)
        if entry in self._subs:
            self._subs.remove(entry)
            self._changed()

    def remove_actor(self, actor: str) -> None:
        """Drop every subscription of `actor`."""
        self._subs = [s for s in self._subs if s[0] != actor]
        self._changed()

    def _changed(self) -> None:
        self._cache.clear()
        self.plans.clear()

    def resolved(
        self, mtype: type[Message], /
    ) -> tuple[tuple[str, ...], dict[Any, tuple[str, ...]] | None]:
        """Return `mtype`'s unkeyed subscribers and, per key, the further ones (or None)."""
        res = self._cache.get(mtype)
        return res if res is not None else self._resolve(mtype)

    def _resolve(
        self, mtype: type[Message]
    ) -> tuple[tuple[str, ...], dict[Any, tuple[str, ...]] | None]:
        everyone: list[str] = []
        keyed: dict[Any, list[str]] = {}
        for actor, stype, key in self._subs:
            if not issubclass(mtype, stype):
                continue
            if key is None:
                if actor not in everyone:
                    everyone.append(actor)
            else:
                keyed.setdefault(key, []).append(actor)
        keyed_t = (
            {k: tuple(a for a in v if a not in everyone) for k, v in keyed.items()}
            if keyed
            else None
        )
        res = (tuple(everyone), keyed_t)
        self._cache[mtype] = res
        return res

    def recipients(self, msg: Message, /) -> tuple[str, ...]:
        """Return the actors subscribed to `msg`, in subscription order, each once."""
        mtype = type(msg)
        res = self._cache.get(mtype)
        if res is None:
            res = self._resolve(mtype)
        everyone, keyed = res
        if keyed is None:
            return everyone
        field = mtype.key_field
        extra = keyed.get(getattr(msg, field) if field is not None else None, _EMPTY)
        return everyone + extra if extra else everyone
