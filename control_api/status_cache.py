"""Render `/status` at most every `STATUS_MAX_AGE_SECS`, and never stale on the controls.

Rendering walks every actor's counters and encodes about a kilobyte of JSON; under load the same
answer would be rebuilt hundreds of times within a few milliseconds, so the API keeps the last
body and serves it until it is too old or until an event changed what the projections show.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec

from control_api.schemas import ActorStatus, Status, TradingStates

if TYPE_CHECKING:
    from control_api.context import ApiContext

STATUS_MAX_AGE_SECS = 0.05
"""How stale `/status` counters may be (`seq`, `durable_seq`, `head`, `uptime_secs`, the actors').

The controls (trading states, the guard, quarantine, approvals) are never stale: any event that
changes them makes the next request render anew."""

_encode = msgspec.json.Encoder().encode


class StatusCache:
    """Keep the last rendered `/status` body; render again once it is too old or controls moved.

    "Controls moved" is read from `Projections.last_seq`, which every folded event advances.
    """

    def __init__(self, *, max_age_secs: float = STATUS_MAX_AGE_SECS) -> None:
        self.max_age_secs = max_age_secs
        self._body = b""
        self._until = 0.0
        self._controls_seq = -1

    def body(self, api: ApiContext, /) -> bytes:
        """Return the JSON body of `/status`, rendered at most `max_age_secs` ago."""
        now = time.monotonic()
        controls_seq = api.projections.last_seq
        if now >= self._until or controls_seq != self._controls_seq:
            self._body = _encode(render_status(api))
            self._until = now + self.max_age_secs
            self._controls_seq = controls_seq
        return self._body


def render_status(api: ApiContext, /) -> Status:
    """Return the run, the journal head, every actor's counters and mailbox, and the controls."""
    daemon = api.daemon
    kernel = daemon.kernel
    rates = api.throughput.rates()
    actors = {
        name: ActorStatus(
            state=st["state"],
            handled=st["handled"],
            handled_per_sec=rates.get(name, 0.0),
            failures=st["failures"],
            restarts=st["restarts"],
            position=st["position"],
            depth=st["depth"],
            capacity=st["capacity"],
            high_water=st["high_water"],
            received=st["received"],
            dropped=st["dropped"],
        )
        for name, st in kernel.status().items()
    }
    journal = kernel.journal
    p = api.projections
    return Status(
        run_id=daemon.run.run_id,
        mode=daemon.config.mode,
        store=daemon.store.name,
        uptime_secs=round(daemon.uptime_secs, 3),
        seq=kernel.seq,
        durable_seq=journal.durable_seq if journal is not None else 0,
        # The head at `durable_seq`: reading `journal.head` would hash the pending rows here.
        head=journal.durable_head.hex() if journal is not None else "",
        actors=actors,
        trading=TradingStates(global_state=p.global_state(), scopes=p.scopes()),
        paper_only=p.guard.paper_only,
        quarantined=len(p.quarantined),
        pending_approvals=p.pending,
    )
