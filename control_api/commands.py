"""Turn an HTTP mutation into an operator command on the bus and wait for the answer.

Nothing in the API changes state itself: a request becomes a message journaled as an input from
`operator:<token name>` with a fresh correlation id, the actor that owns the state answers on the
bus with that id, and the API reports what the actor said (DESIGN.md §4: every mutation is
journaled with who, what and why, and replays).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from litestar.exceptions import ServiceUnavailableException

from control_api.context import ApiContext
from control_api.projections import tag_of
from control_api.schemas import Event
from runtime import CODEC, Envelope, Message

ANSWER_TIMEOUT_SECS = 5.0
"""How long a command waits for the actor that owns the state to answer."""
NO_CHANGE_WAIT_SECS = 1.0
"""How long an idempotent command waits before concluding that nothing changed."""


def new_corr() -> str:
    """Return a fresh correlation id for one operator command."""
    return f"op-{uuid.uuid4().hex}"


def event_of(env: Envelope, /) -> Event:
    """Return the JSON view of an envelope seen on the bus."""
    data = CODEC.envelope_to_builtins(env)
    return Event(kind="in" if env.inp else "out", **data)


async def issue(
    api: ApiContext,
    msg: Message,
    /,
    *,
    by: str,
    corr: str,
    until: Callable[[Envelope], bool],
    timeout_secs: float = ANSWER_TIMEOUT_SECS,
    required: bool = True,
) -> tuple[Envelope, Envelope | None]:
    """Journal `msg` from `operator:<by>` and wait for the envelope `until` accepts.

    Raise 503 before journaling anything when no actor subscribes to the command, and, when
    `required`, when no answer came within `timeout_secs`. A cancellation point.
    """
    daemon = api.daemon
    if not daemon.kernel.router.recipients(msg):
        raise ServiceUnavailableException(
            f"no actor handles `{tag_of(type(msg))}`; is its agent configured?"
        )
    sent, answer = await daemon.command_and_wait(
        msg, by=by, corr=corr, until=until, timeout_secs=timeout_secs
    )
    if answer is None and required:
        raise ServiceUnavailableException(
            f"no actor answered `{tag_of(type(msg))}` within {timeout_secs:g} s "
            f"(command seq {sent.seq}, corr `{corr}`)"
        )
    return sent, answer


def answer_to(corr: str, *types: type[Message]) -> Callable[[Envelope], bool]:
    """Return a predicate accepting the first envelope of one of `types` carrying `corr`."""

    def until(env: Envelope) -> bool:
        return env.corr == corr and isinstance(env.msg, types)

    return until


def collect(corr: str, want: dict[type[Message], Any], /) -> Callable[[Envelope], bool]:
    """Return a predicate that fills `want[type]` with each envelope and accepts once all are in."""

    def until(env: Envelope) -> bool:
        if env.corr == corr and type(env.msg) in want and want[type(env.msg)] is None:
            want[type(env.msg)] = env
        return all(v is not None for v in want.values())

    return until
