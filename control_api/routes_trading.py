"""Serve the kill switches and the paper-only guard: the operator's brakes.

A kill publishes `SetTradingState(HALTED)`; the response comes back only once the risk gate has
announced the state (`TradingStateChanged`) and asked execution to cancel open orders
(`CancelOpenOrders`), so a 200 means the brakes are on, not that a request was queued.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post, put
from litestar.exceptions import HTTPException

from agents.risk.messages import CancelOpenOrders, PaperGuardChanged, SetPaperGuard, SetTradingState
from control_api.auth import permit, principal_of
from control_api.commands import answer_to, collect, event_of, issue, new_corr
from control_api.context import ApiContext
from control_api.errors import responses
from control_api.schemas import (
    CONFIRM_LIVE,
    Guard,
    GuardBody,
    GuardResult,
    ScopeCommand,
    TradingResult,
    TradingStates,
)
from runtime import CREDENTIAL_VARS, Envelope, TradingState, TradingStateChanged

TAGS = ["trading"]


async def _set_state(
    api: ApiContext, request: Request[Any, Any, Any], data: ScopeCommand, state: TradingState
) -> TradingResult:
    if data.scope != "global" and data.target in ("", "*"):
        raise HTTPException(
            status_code=400, detail=f"`target` is required for scope `{data.scope}`"
        )
    who = principal_of(request).name
    corr = new_corr()
    want: dict[type, Envelope | None] = {TradingStateChanged: None}
    if state == "HALTED":
        want[CancelOpenOrders] = None
    target = "*" if data.scope == "global" else data.target
    msg = SetTradingState(scope=data.scope, target=target, state=state, reason=data.reason, by=who)
    sent, _ = await issue(api, msg, by=who, corr=corr, until=collect(corr, want))
    changed = want[TradingStateChanged]
    assert changed is not None  # `issue` raised 503 otherwise
    cancel = want.get(CancelOpenOrders)
    return TradingResult(
        corr=corr,
        command_seq=sent.seq,
        state_seq=changed.seq,
        cancel_seq=cancel.seq if cancel is not None else None,
        event=event_of(changed),
    )


@post(
    "/kill", status_code=200, opt={"action": "kill"}, tags=TAGS, responses=responses(400, 403, 503)
)
async def kill(
    api: ApiContext, request: Request[Any, Any, Any], data: ScopeCommand
) -> TradingResult:
    """Halt a scope and cancel its open orders (operator)."""
    return await _set_state(api, request, data, "HALTED")


@post(
    "/reduce",
    status_code=200,
    opt={"action": "reduce"},
    tags=TAGS,
    responses=responses(400, 403, 503),
)
async def reduce(
    api: ApiContext, request: Request[Any, Any, Any], data: ScopeCommand
) -> TradingResult:
    """Let only position-reducing orders through in a scope (operator)."""
    return await _set_state(api, request, data, "REDUCING")


@post(
    "/resume",
    status_code=200,
    opt={"action": "resume"},
    tags=TAGS,
    responses=responses(400, 403, 503),
)
async def resume(
    api: ApiContext, request: Request[Any, Any, Any], data: ScopeCommand
) -> TradingResult:
    """Set a scope back to ACTIVE (admin)."""
    return await _set_state(api, request, data, "ACTIVE")


@get("/trading-state", opt={"action": "read"}, tags=TAGS, responses=responses())
async def trading_state(api: ApiContext) -> TradingStates:
    """Return the trading state in force per scope."""
    p = api.projections
    return TradingStates(global_state=p.global_state(), scopes=p.scopes())


def guard_view(api: ApiContext, /) -> Guard:
    """Return the guard as projected from the journal."""
    g = api.projections.guard
    return Guard(
        paper_only=g.paper_only,
        credentials_present=api.daemon.credentials_present(),
        by=g.by,
        reason=g.reason,
        seq=g.seq,
    )


@get("/guard", opt={"action": "read"}, tags=TAGS, responses=responses())
async def get_guard(api: ApiContext) -> Guard:
    """Return the paper-only guard and whether exchange credentials are present."""
    return guard_view(api)


@put("/guard", opt={"action": "guard_on"}, tags=TAGS, responses=responses(400, 403, 409, 503))
async def put_guard(
    api: ApiContext, request: Request[Any, Any, Any], data: GuardBody
) -> GuardResult:
    """Turn the guard on (operator), or off (admin, credentials present, explicit `confirm`)."""
    principal = principal_of(request)
    if not data.paper_only:
        permit(principal, "guard_off")
        missing = []
        if not api.daemon.credentials_present():
            names = ", ".join(f"`{v}`" for v in CREDENTIAL_VARS)
            missing.append(f"exchange credentials (set {names})")
        if data.confirm != CONFIRM_LIVE:
            missing.append(f'`confirm` = "{CONFIRM_LIVE}"')
        if missing:
            raise HTTPException(
                status_code=409,
                detail="the paper-only guard stays on: missing " + " and ".join(missing),
            )
    corr = new_corr()
    msg = SetPaperGuard(paper_only=data.paper_only, reason=data.reason, by=principal.name)
    sent, changed = await issue(
        api, msg, by=principal.name, corr=corr, until=answer_to(corr, PaperGuardChanged)
    )
    assert changed is not None
    return GuardResult(
        corr=corr, command_seq=sent.seq, guard=guard_view(api), event=event_of(changed)
    )


ROUTES = [kill, reduce, resume, trading_state, get_guard, put_guard]
