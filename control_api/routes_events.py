"""Serve the journal to people: pages of events, a live stream, and the audit trail.

Pages come from the store (`Store.query`), so they show what is durable; the stream follows the
bus through a tap, so it shows what happens now. The audit trail is the journal's operator rows
(src `operator:<name>`): who, what, why and when, for every command that ever entered the bus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
import msgspec
from litestar import get
from litestar.exceptions import HTTPException
from litestar.params import Parameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from control_api.context import ApiContext
from control_api.errors import responses
from control_api.schemas import AuditEntry, AuditPage, Event, EventPage
from runtime import CODEC, OPERATOR, JournalRow, message_types

TAGS = ["events"]
HEARTBEAT_SECS = 15.0
STREAM_POLL_SECS = 0.5
"""How often an idle stream checks whether the server is shutting down."""
MAX_TYPES = 50

After = Annotated[int, Parameter(ge=0, le=2**62, description="Return events with a seq above this")]
Limit = Annotated[int, Parameter(ge=1, le=1000, description="At most this many (1..1000)")]
Types = Annotated[
    list[str] | None,
    QueryParameter(
        name="type", description="Only these message tags (repeatable), e.g. `risk.OrderDenied`"
    ),
]
Corr = Annotated[str | None, Parameter(max_length=200, description="Only this correlation id")]


def _check_types(types: list[str] | None) -> tuple[str, ...]:
    if not types:
        return ()
    if len(types) > MAX_TYPES:
        raise HTTPException(
            status_code=400, detail=f"`type` takes at most {MAX_TYPES} values, got {len(types)}"
        )
    known = message_types()
    for t in types:
        if t not in known:
            raise HTTPException(status_code=400, detail=f"unknown message type `{t}` - at `$.type`")
    return tuple(types)


def row_event(row: JournalRow, /) -> Event:
    """Return the JSON view of a stored row; a row that no longer decodes keeps its header."""
    kind: Literal["in", "out"] = "in" if row.kind == "in" else "out"
    try:
        env = CODEC.decode(row.data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Event(
            seq=row.seq,
            ts=row.ts,
            src=row.src,
            dst="",
            corr=row.corr,
            cause=0,
            inp=kind == "in",
            kind=kind,
            msg={"type": row.type},
        )
    return Event(kind=kind, **CODEC.envelope_to_builtins(env))


@get("/events", opt={"action": "read"}, tags=TAGS, responses=responses(400))
async def events(
    api: ApiContext,
    after: After = 0,
    limit: Limit = 100,
    type_: Types = None,
    corr: Corr = None,
) -> EventPage:
    """Return journaled events in seq order, after `after`, filtered by type and corr."""
    daemon = api.daemon
    rows = await daemon.store.query(
        daemon.run.run_id, types=_check_types(type_), corr=corr, after_seq=after, limit=limit
    )
    return EventPage(
        events=[row_event(r) for r in rows], next_after=rows[-1].seq if rows else after
    )


@get("/audit", opt={"action": "read"}, tags=TAGS, responses=responses(400))
async def audit(api: ApiContext, after: After = 0, limit: Limit = 100) -> AuditPage:
    """Return every operator command: who, what, why and when."""
    daemon = api.daemon
    rows = await daemon.store.query(
        daemon.run.run_id, src_prefix=OPERATOR, after_seq=after, limit=limit
    )
    entries = []
    for row in rows:
        ev = row_event(row)
        entries.append(
            AuditEntry(
                seq=row.seq,
                ts=row.ts,
                who=row.src.removeprefix(OPERATOR),
                what=row.type,
                why=str(ev.msg.get("reason", "")),
                corr=row.corr,
                msg=ev.msg,
            )
        )
    return AuditPage(entries=entries, next_after=rows[-1].seq if rows else after)


@get(
    "/events/stream",
    opt={"action": "read"},
    tags=TAGS,
    responses=responses(400),
    media_type="text/event-stream",
)
async def stream(api: ApiContext, type_: Types = None) -> ServerSentEvent:
    """Stream events as they are journaled (server-sent events, one JSON `data:` each)."""
    wanted = frozenset(_check_types(type_))
    return ServerSentEvent(_follow(api, wanted))


async def _follow(api: ApiContext, wanted: frozenset[str]) -> AsyncIterator[Any]:
    """Yield one SSE message per envelope, a comment every `HEARTBEAT_SECS` of silence."""
    encode = msgspec.json.encode
    with api.daemon.tap() as tap:
        yield ServerSentEventMessage(comment="kinetic event stream", data=None)
        quiet_since = anyio.current_time()
        while not api.closing.is_set():
            env = None
            with anyio.move_on_after(STREAM_POLL_SECS):
                env = await tap.next()
            if env is not None and (
                not wanted or str(type(env.msg).__struct_config__.tag) in wanted
            ):
                data = CODEC.envelope_to_builtins(env)
                data["kind"] = "in" if env.inp else "out"
                yield ServerSentEventMessage(data=encode(data).decode(), id=str(env.seq))
                quiet_since = anyio.current_time()
            elif anyio.current_time() - quiet_since >= HEARTBEAT_SECS:
                yield ServerSentEventMessage(comment="heartbeat", data=None)
                quiet_since = anyio.current_time()


ROUTES = [events, audit, stream]
