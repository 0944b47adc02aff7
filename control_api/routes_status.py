"""Serve liveness, the daemon's status and its Prometheus metrics.

`/status` is read often (dashboards, `kinetic ctl status`, a load test asks 2,000 times a
second): it reads counters and projections that are already up to date and does no I/O.
"""

from __future__ import annotations

from litestar import Response, get

from control_api.context import ApiContext
from control_api.errors import responses
from control_api.metrics import CONTENT_TYPE, registry_for, render
from control_api.schemas import ActorStatus, Health, Status, TradingStates

TAGS = ["status"]


@get("/health", opt={"action": "public"}, tags=TAGS, security=[])
async def health() -> Health:
    """Answer that the daemon is up; needs no token."""
    return Health()


@get("/status", opt={"action": "read"}, tags=TAGS, responses=responses())
async def status(api: ApiContext) -> Status:
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


@get("/metrics", opt={"action": "read"}, tags=TAGS, media_type=CONTENT_TYPE, responses=responses())
async def metrics(api: ApiContext) -> Response[bytes]:
    """Return per-actor and journal metrics in the Prometheus text format."""
    return Response(render(registry_for(api)), media_type=CONTENT_TYPE)


ROUTES = [health, status, metrics]
