"""Define the message base, the envelope and the codec that round-trips them by tag.

Every message is a frozen, keyword-only, tagged `msgspec.Struct`. Subclassing `Message` registers
the type under its tag, so a journal row written by one process decodes in another (and in replay)
as long as the defining module is imported. Tags default to the class name; an agent that might
clash with another sets `tag="agent.Name"` explicitly.
"""

from __future__ import annotations

from typing import Any, ClassVar, Union

import msgspec

from runtime._errors import RegistryError

_REGISTRY: dict[str, type[Message]] = {}
_REGISTRY_VERSION = [0]
_REGISTRY_SEEN = [-1]


class Message(msgspec.Struct, frozen=True, kw_only=True, tag=True, tag_field="type"):
    """Base of every message on the bus.

    Class-level routing traits (not fields, so they are not journaled):

    - `conflate`: the latest message per key replaces an unread one in a mailbox (market data).
      Everything else blocks its sender when a mailbox is full and is never dropped.
    - `key_field`: the field that keys subscriptions and conflation (e.g. `instrument`).
    - `effect`: a command with an external effect; the kernel journals it durably before any
      adapter sees it, and reconciles it after a crash instead of re-sending it.
    - `report`: a result for people (a backtest's summary); see `ReportCollector`.
    """

    conflate: ClassVar[bool] = False
    key_field: ClassVar[str | None] = None
    effect: ClassVar[bool] = False
    report: ClassVar[bool] = False
    """A result for people: `kinetic backtest` writes these to `reports.jsonl` and prints them."""
    artifact: ClassVar[str | None] = None
    """For a report: also write it as this JSON file of the artifacts (a list if several)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # msgspec finalizes the struct config after this hook runs, so the tag is read lazily.
        super().__init_subclass__(**kwargs)
        _REGISTRY_VERSION[0] += 1


def _registry() -> dict[str, type[Message]]:
    """Return tag -> type for every imported `Message` subclass; reject clashing tags."""
    if _REGISTRY_SEEN[0] == _REGISTRY_VERSION[0]:
        return _REGISTRY
    found: dict[str, type[Message]] = {}
    stack: list[type[Message]] = list(Message.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        tag = cls.__struct_config__.tag
        if not isinstance(tag, str):  # pragma: no cover - tag=True always yields a str
            raise RegistryError(f"message `{cls.__qualname__}` has no string tag")
        known = found.get(tag)
        if known is not None and known is not cls:
            if (known.__module__, known.__qualname__) == (cls.__module__, cls.__qualname__):
                continue  # the same class defined again (a reloaded module): keep the first
            raise RegistryError(
                f"message tag `{tag}` is taken by `{known.__module__}.{known.__qualname__}`, "
                f'got `{cls.__module__}.{cls.__qualname__}`; pass tag="<agent>.{tag}"'
            )
        found[tag] = cls
    _REGISTRY.clear()
    _REGISTRY.update(found)
    _REGISTRY_SEEN[0] = _REGISTRY_VERSION[0]
    return _REGISTRY


def message_types() -> dict[str, type[Message]]:
    """Return a copy of the registry: tag -> message type."""
    return dict(_registry())


def message_type(tag: str, /) -> type[Message]:
    """Return the message type registered under `tag`."""
    try:
        return _registry()[tag]
    except KeyError:
        raise RegistryError(f"unknown message tag `{tag}`; is its module imported?") from None


class Envelope(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Wrap one message with its place in the run.

    `seq` is monotonic per run; `ts` is nanoseconds on the kernel's clock; `src` names the actor,
    adapter or operator that emitted it; `dst` is the target of a point-to-point send ("" for a
    publish); `corr` ties a signal to its orders, fills and postings; `cause` is the seq of the
    message whose handler emitted this one (0 for none); `inp` marks inputs (adapters, operators,
    timers) as opposed to outputs re-derived by deterministic actors.
    """

    seq: int
    ts: int
    src: str
    msg: Message
    dst: str = ""
    corr: str = ""
    cause: int = 0
    inp: bool = False


class Codec:
    """Encode and decode envelopes and messages by tag, in msgpack (journal) and JSON (API).

    The decoder is rebuilt lazily when new message types register, so plugins that import late
    still decode. Encoding is deterministic: the same envelope always gives the same bytes.
    """

    def __init__(self) -> None:
        self._msgpack_enc = msgspec.msgpack.Encoder()
        self.raw_encoder = self._msgpack_enc
        """The msgpack encoder itself, for hot loops that cannot afford a wrapper call."""
        self._json_enc = msgspec.json.Encoder()
        self._version = -1
        self._env_dec: msgspec.msgpack.Decoder[Any] | None = None
        self._msg_dec: msgspec.msgpack.Decoder[Any] | None = None
        self._json_msg_dec: msgspec.json.Decoder[Any] | None = None

    def _refresh(self) -> None:
        if self._version == _REGISTRY_VERSION[0]:
            return
        union: Any = Union[tuple(_registry().values())]  # noqa: UP007 - dynamic union
        env_type = msgspec.defstruct(
            "Envelope",
            [
                ("seq", int),
                ("ts", int),
                ("src", str),
                ("msg", union),
                ("dst", str, ""),
                ("corr", str, ""),
                ("cause", int, 0),
                ("inp", bool, False),
            ],
            array_like=True,
            frozen=True,
        )
        self._env_dec = msgspec.msgpack.Decoder(env_type)
        self._msg_dec = msgspec.msgpack.Decoder(union)
        self._json_msg_dec = msgspec.json.Decoder(union)
        self._version = _REGISTRY_VERSION[0]

    def encode(self, env: Envelope, /) -> bytes:
        """Return the canonical msgpack bytes of `env` (what the hash chain covers)."""
        return self._msgpack_enc.encode(env)

    def decode(self, data: bytes, /) -> Envelope:
        """Decode msgpack bytes written by `encode` back into an `Envelope`."""
        self._refresh()
        assert self._env_dec is not None
        raw = self._env_dec.decode(data)
        return Envelope(
            seq=raw.seq,
            ts=raw.ts,
            src=raw.src,
            msg=raw.msg,
            dst=raw.dst,
            corr=raw.corr,
            cause=raw.cause,
            inp=raw.inp,
        )

    def encode_message(self, msg: Message, /) -> bytes:
        """Return the msgpack bytes of one message (tag included)."""
        return self._msgpack_enc.encode(msg)

    def decode_message(self, data: bytes, /) -> Message:
        """Decode msgpack bytes of one tagged message."""
        self._refresh()
        assert self._msg_dec is not None
        msg: Message = self._msg_dec.decode(data)
        return msg

    def message_to_json(self, msg: Message, /) -> bytes:
        """Return the JSON bytes of one message (tag included)."""
        return self._json_enc.encode(msg)

    def message_from_json(self, data: bytes | str, /) -> Message:
        """Decode JSON of one tagged message; raises `msgspec.ValidationError` on bad input."""
        self._refresh()
        assert self._json_msg_dec is not None
        msg: Message = self._json_msg_dec.decode(data)
        return msg

    def envelope_to_builtins(self, env: Envelope, /) -> dict[str, Any]:
        """Return a JSON-ready dict of `env` for the API and the CLI."""
        return {
            "seq": env.seq,
            "ts": env.ts,
            "src": env.src,
            "dst": env.dst,
            "corr": env.corr,
            "cause": env.cause,
            "inp": env.inp,
            "msg": msgspec.to_builtins(env.msg),
        }


class EnvelopeHeader(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """An envelope with its message left undecoded: what chain checks need, with no types."""

    seq: int
    ts: int
    src: str
    msg: msgspec.Raw
    dst: str = ""
    corr: str = ""
    cause: int = 0
    inp: bool = False


HEADER_DECODER = msgspec.msgpack.Decoder(EnvelopeHeader)
"""Decode any journal row's envelope without knowing its message type."""

CODEC = Codec()
"""The process-wide codec; stateless apart from its lazily rebuilt decoders."""
