"""The Banxa client against the fake Banxa over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from adapters.banxa.api import BanxaClient, BanxaRejectedError
from adapters.banxa.mock import MOCK_KEY, MOCK_SECRET, FakeBanxa, running
from adapters.banxa.sign import authorization

pytestmark = pytest.mark.anyio
D = Decimal


@pytest.fixture
def fake() -> FakeBanxa:
    return FakeBanxa(keys={MOCK_KEY: MOCK_SECRET})


@pytest.fixture
def url(fake: FakeBanxa) -> Iterator[str]:
    with running(fake) as u:
        yield u


def client(url: str, **kw: object) -> BanxaClient:
    return BanxaClient(url, key=MOCK_KEY, secret=MOCK_SECRET, backoff_secs=0.01, **kw)  # type: ignore[arg-type]


async def test_every_endpoint_round_trips(url: str, fake: FakeBanxa) -> None:
    async with client(url) as c:
        assert "BTC" in {x.coin_code for x in await c.coins()}
        assert "EUR" in {x.fiat_code for x in await c.fiats()}
        assert (await c.payment_methods("EUR", "BTC"))[0].id == 6021
        prices = await c.prices("EUR", "BTC", D("100"))
        assert prices.prices[0].coin_amount == D("0.00198000")
        buy = await c.create_buy_order(account_reference="r1", fiat="EUR", coin="BTC",
                                       fiat_amount=D("250.00"),
                                       wallet_address="addr-1")  # fmt: skip
        assert (buy.status, buy.coin_amount, buy.fiat_amount) == (
            "pendingPayment", D("0.00495000"), D("250.00"))
        sell = await c.create_sell_order(account_reference="s1", coin="BTC", fiat="EUR",
                                         coin_amount=D("0.01"))  # fmt: skip
        assert sell.is_sell and sell.wallet_address.startswith("banxa-deposit-btc")
        assert (await c.get_order(buy.id)).account_reference == "r1"
        assert [o.id for o in await c.list_orders(account_reference="s1")] == [sell.id]
        assert await c.find_order("nope") is None
        confirmed = await c.confirm_sell_order(sell.id, "0xabc")
        assert confirmed.tx_hash == "0xabc"
        await fake.set_status(buy.id, "waitingPayment")
        assert (await c.get_order(buy.id)).status == "waitingPayment"


async def test_a_create_that_fails_after_taking_effect_makes_one_order(
    url: str, fake: FakeBanxa
) -> None:
    fake.faults.fail_next, fake.faults.after = 2, True  # performed, but the answer is a 500
    async with client(url) as c:
        order = await c.create_buy_order(account_reference="r1", fiat="EUR", coin="BTC",
                                         fiat_amount=D("100"), wallet_address="a")  # fmt: skip
    assert order.account_reference == "r1"
    assert len(fake.orders) == 1
    assert fake.creates == 1  # the retry asked by reference instead of creating again


async def test_5xx_before_taking_effect_is_retried_until_it_works(
    url: str, fake: FakeBanxa
) -> None:
    fake.faults.fail_next = 2
    async with client(url) as c:
        await c.create_buy_order(account_reference="r1", fiat="EUR", coin="BTC",
                                 fiat_amount=D("100"), wallet_address="a")  # fmt: skip
        assert c.attempts >= 3
    assert len(fake.orders) == 1


async def test_a_4xx_is_not_retried(url: str, fake: FakeBanxa) -> None:
    async with client(url) as c:
        with pytest.raises(BanxaRejectedError) as err:
            await c.create_buy_order(account_reference="r1", fiat="EUR", coin="DOGE",
                                     fiat_amount=D("100"), wallet_address="a")  # fmt: skip
        assert err.value.status == 422
        assert c.attempts == 1


async def test_timeouts_are_retried(url: str, fake: FakeBanxa) -> None:
    fake.faults.delay_secs = 0.3
    async with client(url, timeout_secs=0.1, retries=1) as c:
        with pytest.raises(httpx.TimeoutException):
            await c.coins()
        assert c.attempts == 2


@pytest.mark.parametrize(
    ("mutate", "code"),
    [("key", 40100), ("signature", 40100), ("reuse", 40003), ("stale", 40002), ("junk", 40001)],
)
async def test_the_fake_refuses_bad_auth_with_banxas_codes(
    url: str, mutate: str, code: int
) -> None:
    import time

    now = str(time.time_ns() // 1_000_000)
    nonce = {"stale": str(int(now) - 10 * 60_000), "junk": "x1"}.get(mutate, now)
    key = "someone" if mutate == "key" else MOCK_KEY
    secret = "wrong" if mutate == "signature" else MOCK_SECRET
    header = authorization(key, secret, "GET", "/api/coins/buy", nonce)
    async with httpx.AsyncClient(base_url=url) as http:
        if mutate == "reuse":
            first = await http.get("/api/coins/buy", headers={"Authorization": header})
            assert first.status_code == 200
        resp = await http.get("/api/coins/buy", headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.json()["errors"]["code"] == code


async def test_the_secret_never_shows_in_a_repr(url: str) -> None:
    async with client(url) as c:
        assert MOCK_SECRET not in repr(c)
