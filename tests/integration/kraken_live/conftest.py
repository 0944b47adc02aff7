"""A fake Kraken with a private API, an account, and clients that sign like a venue client does."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import httpx
import pytest

from adapters.ccxt.data import point_api_at
from adapters.kraken_fake import FakeKraken, KrakenRecordings, running
from adapters.kraken_fake.private import KrakenPrivate

KEY = "kinetic-test-key"
SECRET = base64.b64encode(bytes(range(64))).decode()
BALANCES = {"USDT": "1000000", "XXBT": "10", "ZUSD": "100000", "XLTC": "100"}
"""Kraken asset ids -> starting balance of the test account."""


def new_private(**options: Any) -> KrakenPrivate:
    """Return a private API with the test account open."""
    private = KrakenPrivate(**options)
    private.add_account(KEY, SECRET, balances=BALANCES)
    return private


@pytest.fixture
def private() -> KrakenPrivate:
    return new_private()


@pytest.fixture
def kraken_url(private: KrakenPrivate) -> Iterator[str]:
    """Serve a fake Kraken (no recordings: prices come from `push_price`) from a thread."""
    with running(FakeKraken(KrakenRecordings(), private=private)) as url:
        yield url


def exchange(url: str, /, *, key: str = KEY, secret: str = SECRET) -> Any:
    """Return a ccxt Kraken signing with the test account, pointed at `url`."""
    ex = ccxt_async.kraken({"apiKey": key, "secret": secret, "enableRateLimit": False})
    ex.urls["api"] = point_api_at(ex.urls["api"], url)
    return ex


async def push_price(url: str, pair: str, price: str, volume: str | None = None) -> int:
    """Move the fake's mark of `pair`; return how many fills it made."""
    body: dict[str, Any] = {"pair": pair, "price": price}
    if volume is not None:
        body["volume"] = volume
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{url}/_fake/price", json=body)
    reply.raise_for_status()
    return int(reply.json()["fills"])


def balance(private: KrakenPrivate, asset: str) -> Decimal:
    return private.account(KEY).balances.get(asset, Decimal(0))
