"""`kinetic ctl ramp ...` and `kinetic ctl wallet`: ramp orders and custodial wallets.

Thin over the control API (`/ramp/orders`, `/wallets/{user}`); amounts are passed as exact
decimal strings and printed as the API returns them.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import click

from runtime._ctl import (
    Ctl,
    Json,
    _api_call,
    _print,
    _segment,
    _table,
    _text,
    _ts,
    ctl,
    pass_ctl,
)


def _amount(_ctx: Any, _param: Any, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"`{value}` is not a decimal amount") from None
    if not d.is_finite() or d <= 0:
        raise click.BadParameter(f"`{value}` must be a positive amount")
    return value


def _order_line(o: Json) -> str:
    amount = (
        f"{o['fiat_amount']} {o['fiat']} -> {o['coin']}"
        if o["side"] == "buy"
        else f"{o['coin_amount']} {o['coin']} -> {o['fiat']}"
    )
    status = o["provider_status"] or "-"
    return f"{o['ramp_id']} {o['side']} {o['user']} {amount}: {o['stage']} ({status})"


@ctl.group()
def ramp() -> None:
    """Create, list and show fiat on-ramp and off-ramp orders."""


def _create(c: Ctl, body: Json) -> None:
    data = c.client().send("POST", "/ramp/orders", body)
    if c.as_json:
        c.emit_json(data)
        return
    click.echo(_order_line(data["order"]))


@ramp.command("onramp")
@click.option("--user", required=True, help="Whose wallet receives the coins.")
@click.option("--fiat", required=True, help="Fiat currency paid, e.g. EUR.")
@click.option("--amount", required=True, callback=_amount, help="Fiat amount, e.g. 250.00.")
@click.option("--coin", required=True, help="Coin bought, e.g. BTC.")
@click.option("--network", default="", help="Blockchain network, if the coin has several.")
@click.option("--id", "ramp_id", default=None, help="Our order id (idempotent); default: new.")
@pass_ctl
@_api_call
def ramp_onramp(
    c: Ctl, user: str, fiat: str, amount: str, coin: str, network: str, ramp_id: str | None
) -> None:
    """Buy COIN with FIAT for USER; the coins land in the user's custodial wallet (operator)."""
    body: Json = {"side": "buy", "user": user, "fiat": fiat.upper(), "coin": coin.upper(),
                  "network": network, "fiat_amount": amount}  # fmt: skip
    if ramp_id:
        body["ramp_id"] = ramp_id
    _create(c, body)


@ramp.command("offramp")
@click.option("--user", required=True, help="Whose wallet the coins leave.")
@click.option("--coin", required=True, help="Coin sold, e.g. BTC.")
@click.option("--amount", required=True, callback=_amount, help="Coin amount, e.g. 0.01.")
@click.option("--fiat", required=True, help="Fiat currency paid out, e.g. EUR.")
@click.option("--network", default="", help="Blockchain network, if the coin has several.")
@click.option("--id", "ramp_id", default=None, help="Our order id (idempotent); default: new.")
@pass_ctl
@_api_call
def ramp_offramp(
    c: Ctl, user: str, coin: str, amount: str, fiat: str, network: str, ramp_id: str | None
) -> None:
    """Sell COIN from USER's wallet for FIAT; large ones wait for an approval (operator)."""
    body: Json = {"side": "sell", "user": user, "fiat": fiat.upper(), "coin": coin.upper(),
                  "network": network, "coin_amount": amount}  # fmt: skip
    if ramp_id:
        body["ramp_id"] = ramp_id
    _create(c, body)


@ramp.command("list")
@click.option("--user", default=None, help="Only this user's orders.")
@click.option("--side", type=click.Choice(["buy", "sell"]), default=None, help="Buys or sells.")
@click.option("--stage", default=None, help="Only orders at this stage (open, complete, ...).")
@pass_ctl
@_api_call
def ramp_list(c: Ctl, user: str | None, side: str | None, stage: str | None) -> None:
    """List ramp orders, oldest first."""
    data = c.client().get("/ramp/orders", user=user, side=side, stage=stage)
    if c.as_json:
        c.emit_json(data)
        return
    if not data["orders"]:
        click.echo("no ramp orders")
        return
    table = _table("id", "side", "user", "fiat", "coin", "stage", "provider status", "provider id",
                   title="ramp orders")  # fmt: skip
    for o in data["orders"]:
        fiat = f"{o['fiat_amount'] or '?'} {o['fiat']}"
        coin = f"{o['coin_amount'] or '?'} {o['coin']}"
        row = (o["ramp_id"], o["side"], o["user"], fiat, coin, o["stage"],
               o["provider_status"] or "-", o["provider_order_id"] or "-")  # fmt: skip
        table.add_row(*(_text(v) for v in row))
    _print(table)


@ramp.command("show")
@click.argument("ramp_id")
@pass_ctl
@_api_call
def ramp_show(c: Ctl, ramp_id: str) -> None:
    """Show one ramp order and its history."""
    o = c.client().get(f"/ramp/orders/{_segment(ramp_id)}")
    if c.as_json:
        c.emit_json(o)
        return
    click.echo(_order_line(o))
    table = _table("seq", "time", "stage", "provider status", "what happened", title="history")
    for h in o["history"]:
        table.add_row(_text(str(h["seq"])), _text(_ts(h["ts"])), _text(h["stage"]),
                      _text(h["provider_status"] or "-"), _text(h["note"]))  # fmt: skip
    _print(table)


@ctl.command("wallet")
@click.argument("user")
@pass_ctl
@_api_call
def wallet(c: Ctl, user: str) -> None:
    """Show USER's custodial wallet balances."""
    data = c.client().get(f"/wallets/{_segment(user)}")
    if c.as_json:
        c.emit_json(data)
        return
    table = _table("asset", "balance", "held", "free", title=f"wallet of {user}")
    for b in data["balances"]:
        table.add_row(_text(b["asset"]), _text(str(b["balance"])), _text(str(b["held"])),
                      _text(str(b["free"])))  # fmt: skip
    _print(table)


__all__ = ["ramp", "wallet"]
