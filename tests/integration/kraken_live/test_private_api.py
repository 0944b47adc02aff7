"""The fake's private API checks what Kraken checks, keeps an account, and fills at the mark.

Driven by real ccxt over HTTP, plus raw requests where ccxt would never send the bad one.
"""

from __future__ import annotations

import base64
import time
from decimal import Decimal
from pathlib import Path

import ccxt
import httpx
import pytest

from adapters.kraken_fake import FakeKraken, KrakenRecordings, running
from adapters.kraken_fake.private import KrakenPrivate, sign
from tests.integration.kraken_live.conftest import (
    KEY,
    SECRET,
    balance,
    exchange,
    new_private,
    push_price,
)

pytestmark = pytest.mark.anyio
D = Decimal


def raw(url: str, method: str, body: str, *, key: str = KEY, secret: str = SECRET) -> list[str]:
    """POST a private request signed by hand; return Kraken's `error` list."""
    nonce = body.split("nonce=")[1].split("&", maxsplit=1)[0]
    headers = {
        "API-Key": key,
        "API-Sign": sign(f"/0/private/{method}", body, nonce, secret),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    reply = httpx.post(f"{url}/0/private/{method}", content=body, headers=headers)
    errors: list[str] = reply.json()["error"]
    return errors


def test_signature_key_and_nonce_are_checked_before_anything_happens(
    kraken_url: str, private: KrakenPrivate
) -> None:
    n = int(time.time() * 1000)
    body = f"nonce={n}&pair=XBTUSDT&type=buy&ordertype=limit&volume=0.01&price=100"
    other = base64.b64encode(b"x" * 64).decode()
    assert raw(kraken_url, "AddOrder", body, secret=other) == ["EAPI:Invalid signature"]
    assert raw(kraken_url, "AddOrder", body, key="nobody") == ["EAPI:Invalid key"]
    assert raw(kraken_url, "AddOrder", body) == []
    # The same request again: a replay, refused by its nonce; so is an older one.
    assert raw(kraken_url, "AddOrder", body) == ["EAPI:Invalid nonce"]
    older = body.replace(f"nonce={n}", f"nonce={n - 5}")
    assert raw(kraken_url, "AddOrder", older) == ["EAPI:Invalid nonce"]
    # A tampered body (the price) fails the signature of the original.
    nonce = str(n + 1)
    good = f"nonce={nonce}&pair=XBTUSDT&type=buy&ordertype=limit&volume=0.01&price=100"
    headers = {"API-Key": KEY, "API-Sign": sign("/0/private/AddOrder", good, nonce, SECRET)}
    reply = httpx.post(
        f"{kraken_url}/0/private/AddOrder", content=good.replace("100", "90"), headers=headers
    )
    assert reply.json()["error"] == ["EAPI:Invalid signature"]
    assert len(private.account(KEY).orders) == 1, "only the one good request placed an order"
    assert [r.error for r in private.requests][-1] == "EAPI:Invalid signature"


async def test_an_order_rests_fills_when_the_price_reaches_it_and_moves_the_balances(
    kraken_url: str, private: KrakenPrivate
) -> None:
    ex = exchange(kraken_url)
    try:
        await ex.load_markets()
        usdt, btc = balance(private, "USDT"), balance(private, "XXBT")
        await push_price(kraken_url, "XBTUSDT", "50000.0")
        placed = await ex.create_order(
            "BTC/USDT", "limit", "buy", "0.02", "49000.0", {"clientOrderId": "c-1"}
        )
        held = (await ex.fetch_balance())["info"]["result"]["USDT"]["hold_trade"]
        assert D(held) == D("0.02") * D("49000") * D("1.004")  # price plus the taker fee bound
        assert await push_price(kraken_url, "XBTUSDT", "49500.0") == 0  # not reached
        assert await push_price(kraken_url, "XBTUSDT", "48900.0", volume="0.005") == 1  # a part
        assert await push_price(kraken_url, "XBTUSDT", "48800.0") == 1  # the rest
        [order] = await ex.fetch_closed_orders(None, None, None, {"clientOrderId": "c-1"})
        trades = await ex.fetch_my_trades()
    finally:
        await ex.close()
    assert order["id"] == placed["id"] and order["status"] == "closed"
    assert [t["info"]["vol"] for t in sorted(trades, key=lambda t: t["info"]["trade_id"])] == [
        "0.00500000",
        "0.01500000",
    ]
    assert all(t["takerOrMaker"] == "maker" and t["price"] == 49000.0 for t in trades)
    cost = D("0.02") * D("49000")
    fee = (D("0.005") * 49000 * D("0.0025")) + (D("0.015") * 49000 * D("0.0025"))
    assert balance(private, "USDT") == usdt - cost - fee
    assert balance(private, "XXBT") == btc + D("0.02")


async def test_a_client_id_is_unique_among_open_orders_as_on_kraken(kraken_url: str) -> None:
    ex = exchange(kraken_url)
    try:
        await ex.load_markets()
        await push_price(kraken_url, "XBTUSDT", "50000.0")
        await ex.create_order("BTC/USDT", "limit", "sell", "0.01", "60000", {"clientOrderId": "a"})
        with pytest.raises(ccxt.ExchangeError, match="EOrder:Duplicate order"):
            await ex.create_order(
                "BTC/USDT", "limit", "sell", "0.01", "61000", {"clientOrderId": "a"}
            )
        await ex.cancel_order(None, None, {"clientOrderId": "a"})
        with pytest.raises(ccxt.OrderNotFound):
            await ex.cancel_order(None, None, {"clientOrderId": "a"})
        # Closed, the id is free again on Kraken (the fake's `client_ids="ever"` would refuse).
        await ex.create_order("BTC/USDT", "limit", "sell", "0.01", "60000", {"clientOrderId": "a"})
        # 19 characters: neither free text nor a UUID.
        with pytest.raises(ccxt.ExchangeError, match="EGeneral:Invalid arguments:cl_ord_id"):
            await ex.create_order(
                "BTC/USDT", "limit", "sell", "0.01", "60000", {"clientOrderId": "x" * 19}
            )
        with pytest.raises(ccxt.InsufficientFunds):
            await ex.create_order("BTC/USDT", "limit", "sell", "1000", "60000")
    finally:
        await ex.close()


async def test_the_accounts_survive_a_restart_of_the_fake(tmp_path: Path) -> None:
    state = tmp_path / "kraken.json"
    first = new_private(state_path=state, log_path=tmp_path / "requests.jsonl")
    with running(FakeKraken(KrakenRecordings(), private=first)) as url:
        ex = exchange(url)
        try:
            await ex.load_markets()
            await push_price(url, "XBTUSDT", "50000.0")
            await ex.create_order("BTC/USDT", "market", "buy", "0.01", None, {"clientOrderId": "m"})
        finally:
            await ex.close()
    second = KrakenPrivate(state_path=state)
    assert second.state == first.state
    acct = second.account(KEY)
    [order] = acct.orders.values()
    assert (order.cl_ord_id, order.status, order.vol_exec) == ("m", "closed", D("0.01"))
    assert acct.nonce == first.account(KEY).nonce > 0, "an old nonce stays refused"
    lines = (tmp_path / "requests.jsonl").read_text().splitlines()
    assert [line.split('"method":"')[1].split('"')[0] for line in lines] == ["AddOrder"]
