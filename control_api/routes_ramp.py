"""Serve ramp orders and wallets: create and cancel (operator), list, show with history, balances.

The ramp desk (`agents/ramp`) owns every decision; the API journals a command and waits for the
desk's answer on the bus: the order's first `RampOrderUpdated`, or a `RampOrderRefused` mapped
to a status code (400 malformed, 404 unknown, 409 duplicate, too late or not enough funds). The
views come from the projections, folded from the journal.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from litestar import Request, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import Parameter

from agents.ramp.messages import (
    CancelRampOrder,
    CreateRampOrder,
    RampOrderRefused,
    RampOrderUpdated,
)
from control_api.auth import principal_of
from control_api.commands import answer_to, issue
from control_api.context import ApiContext
from control_api.errors import responses
from control_api.schemas_ramp import (
    RampCancel,
    RampCreate,
    RampOrders,
    RampOrderView,
    RampResult,
    Wallet,
)

TAGS = ["ramp"]
RampId = Annotated[str, Parameter(min_length=1, max_length=80, description="The ramp order id")]
_REFUSED = {"invalid": 400, "unknown_order": 404, "duplicate": 409, "too_late": 409,
            "insufficient_funds": 409}  # fmt: skip
MAX_AMOUNT = Decimal(10) ** 12
MAX_PLACES = 18


def _check_amount(name: str, value: Decimal | None) -> None:
    if value is None:
        return
    if not value.is_finite() or value <= 0 or value > MAX_AMOUNT:
        raise HTTPException(status_code=400, detail=f"`{name}` must be > 0 and <= 10^12")
    exp = value.as_tuple().exponent
    if isinstance(exp, int) and exp < -MAX_PLACES:
        raise HTTPException(
            status_code=400, detail=f"`{name}` has more than {MAX_PLACES} decimal places"
        )


async def _answer(
    api: ApiContext, request: Request[Any, Any, Any], msg: CreateRampOrder | CancelRampOrder
) -> RampResult:
    who = principal_of(request).name
    corr = msg.ramp_id
    sent, answer = await issue(
        api, msg, by=who, corr=corr, until=answer_to(corr, RampOrderUpdated, RampOrderRefused)
    )
    assert answer is not None  # `issue` raises 503 when no answer came
    # Money: answer only once the command and the desk's answer are durable, so an accepted
    # order survives a crash right after the response.
    await api.daemon.kernel.wait_durable(answer.seq)
    if isinstance(answer.msg, RampOrderRefused):
        code = _REFUSED.get(answer.msg.code, 409)
        raise HTTPException(
            status_code=code, detail=f"{answer.msg.code}: {answer.msg.detail}"
        )
    view = api.projections.ramp_orders.get(msg.ramp_id)
    assert view is not None  # the projection folded the answer before the tap returned it
    return RampResult(corr=corr, command_seq=sent.seq, order=view)


@post("/ramp/orders", opt={"action": "ramp"}, tags=TAGS, responses=responses(400, 403, 409, 503))
async def create_ramp_order(
    api: ApiContext, request: Request[Any, Any, Any], data: RampCreate
) -> RampResult:
    """Start an on-ramp (fiat -> the user's wallet) or an off-ramp (wallet -> fiat) (operator)."""
    _check_amount("fiat_amount", data.fiat_amount)
    _check_amount("coin_amount", data.coin_amount)
    ramp_id = data.ramp_id or f"ramp-{uuid.uuid4().hex[:20]}"
    existing = api.projections.ramp_orders.get(ramp_id)
    if existing is not None:
        raise HTTPException(status_code=409, detail=f"duplicate: ramp order `{ramp_id}` exists")
    msg = CreateRampOrder(
        ramp_id=ramp_id,
        side=data.side,
        user=data.user,
        fiat=data.fiat,
        coin=data.coin,
        network=data.network,
        fiat_amount=data.fiat_amount,
        coin_amount=data.coin_amount,
        requested_by=principal_of(request).name,
    )
    return await _answer(api, request, msg)


@post(
    "/ramp/orders/{ramp_id:str}/cancel",
    opt={"action": "ramp"},
    tags=TAGS,
    status_code=200,
    responses=responses(400, 403, 404, 409, 503),
)
async def cancel_ramp_order(
    api: ApiContext, request: Request[Any, Any, Any], ramp_id: RampId, data: RampCancel
) -> RampResult:
    """Give up a ramp order not yet placed at the provider (awaiting an address or approval)."""
    if ramp_id not in api.projections.ramp_orders:
        raise NotFoundException(f"no ramp order `{ramp_id}`")
    who = principal_of(request).name
    return await _answer(
        api, request, CancelRampOrder(ramp_id=ramp_id, reason=data.reason, by=who)
    )


@get("/ramp/orders", opt={"action": "read"}, tags=TAGS, responses=responses(400))
async def list_ramp_orders(
    api: ApiContext,
    user: Annotated[str | None, Parameter(max_length=80, description="Only this user's")] = None,
    side: Annotated[Literal["buy", "sell"] | None, Parameter(description="buy or sell")] = None,
    stage: Annotated[str | None, Parameter(max_length=40, description="Only this stage")] = None,
) -> RampOrders:
    """Return ramp orders, oldest first, filtered by user, side and stage."""
    orders = [
        o
        for o in api.projections.ramp_orders.values()
        if (user is None or o.user == user)
        and (side is None or o.side == side)
        and (stage is None or o.stage == stage)
    ]
    return RampOrders(count=len(orders), orders=orders)


@get(
    "/ramp/orders/{ramp_id:str}", opt={"action": "read"}, tags=TAGS, responses=responses(400, 404)
)
async def show_ramp_order(api: ApiContext, ramp_id: RampId) -> RampOrderView:
    """Return one ramp order with its whole history."""
    view = api.projections.ramp_orders.get(ramp_id)
    if view is None:
        raise NotFoundException(f"no ramp order `{ramp_id}`")
    return view


@get("/wallets/{user:str}", opt={"action": "read"}, tags=TAGS, responses=responses(400, 404))
async def show_wallet(
    api: ApiContext,
    user: Annotated[str, Parameter(min_length=1, max_length=80, description="The user")],
) -> Wallet:
    """Return a user's custodial balances per asset."""
    balances = api.projections.wallets.get(user)
    if balances is None:
        raise NotFoundException(f"no wallet for `{user}`")
    return Wallet(user=user, balances=[balances[a] for a in sorted(balances)])


ROUTES = [create_ramp_order, cancel_ramp_order, list_ramp_orders, show_ramp_order, show_wallet]
