"""Serve liveness, the daemon's status and its Prometheus metrics.

`/status` is read often (dashboards, `kinetic ctl status`, a load test asks 2,000 times a
second): it reads counters and projections that are already up to date and does no I/O, and it
answers from a rendered snapshot (`control_api.status_cache`) at most 50 ms old.
"""

from __future__ import annotations

from typing import cast

from litestar import Response, get
from litestar.enums import MediaType

from control_api.context import ApiContext
from control_api.errors import responses
from control_api.metrics import CONTENT_TYPE, registry_for, render
from control_api.schemas import Health, Status

TAGS = ["status"]


@get("/health", opt={"action": "public"}, tags=TAGS, security=[])
async def health() -> Health:
    """Answer that the daemon is up; needs no token."""
    return Health()


@get("/status", opt={"action": "read"}, tags=TAGS, responses=responses())
async def status(api: ApiContext) -> Response[Status]:
    """Return the run, the journal head, every actor's counters and mailbox, and the controls.

    Counters may be up to 50 ms old; trading states, the guard, quarantine and approvals are
    always current.
    """
    # Pre-encoded: the schema still says `Status` (the annotation); the body is one.
    return cast("Response[Status]", Response(api.status.body(api), media_type=MediaType.JSON))


@get("/metrics", opt={"action": "read"}, tags=TAGS, media_type=CONTENT_TYPE, responses=responses())
async def metrics(api: ApiContext) -> Response[bytes]:
    """Return per-actor and journal metrics in the Prometheus text format."""
    return Response(render(registry_for(api)), media_type=CONTENT_TYPE)


ROUTES = [health, status, metrics]
