"""The fake Banxa's state and routes: signed API, order progression, signed webhooks.

Every `/api/*` request is verified like Banxa does (`sign.verify`: key, HMAC over method, path
with query, nonce and raw body; nonce strictly increasing, fresh and unused): failures answer
401 with Banxa's codes 40001 (invalid nonce), 40002 (expired), 40003 (reused), 40100 (bad key or
signature). Orders progress

    buy:  pendingPayment -> waitingPayment -> paymentReceived -> inProgress -> coinTransferred
          -> complete
    sell: pendingPayment -> waitingPayment -(confirm with tx hash)-> paymentReceived
          -> inProgress -> cryptoTransferred -> complete

and may end `cancelled`, `declined`, `refunded`, or `expired` (which revives to
`paymentReceived` when the payment lands). Tests drive statuses through `/_admin/*` (no auth:
the fake serves loopback only) or the Python methods; `auto_step_secs > 0` advances every open
order by one step per interval (the demo). Each change sends a webhook to `webhook_url`:

    POST <webhook path>   Authorization: Bearer KEY:SIGNATURE:NONCE   (signed over that path
    {"order_id": "...", "status": "...", "status_date": "2026-12-03T10:00:00Z"}   and the body)

Faults for tests: the next N requests answer 500 (before or after taking effect), or stall.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any
from urllib.parse import urlsplit

import anyio
import httpx
import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.params import Parameter

from adapters.banxa.sign import NonceWindow, SignatureError, authorization, compact_json, verify

PathStr = Annotated[str, Parameter(min_length=1, max_length=100)]
BUY_PATH = ["pendingPayment", "waitingPayment", "paymentReceived", "inProgress",
            "coinTransferred", "complete"]  # fmt: skip
SELL_PATH = ["pendingPayment", "waitingPayment", "paymentReceived", "inProgress",
             "cryptoTransferred", "complete"]  # fmt: skip
TERMINAL = {"complete", "cancelled", "declined", "refunded"}
COINS = {"BTC": ("Bitcoin", "BTC"), "ETH": ("Ethereum", "ETH"), "USDT": ("Tether", "ETH")}
FIATS = {"EUR": ("Euro", "€"), "USD": ("US Dollar", "$"), "AUD": ("Australian Dollar", "$")}
SATS = Decimal("0.00000001")
CENTS = Decimal("0.01")


@dataclass
class Faults:
    """Injected failures: `fail_next` requests answer `status`; `after` = once performed."""

    fail_next: int = 0
    status: int = 500
    after: bool = False
    delay_secs: float = 0.0


@dataclass
class FakeBanxa:
    """Orders, keys, nonce windows, webhook target, faults."""

    keys: dict[str, str]
    webhook_url: str = ""
    webhook_key: str = ""
    prices: dict[str, Decimal] = field(
        default_factory=lambda: {"BTC": Decimal(50000), "ETH": Decimal(2500), "USDT": Decimal(1)}
    )
    fee_rate: Decimal = Decimal("0.01")
    auto_step_secs: float = 0.0
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_reference: dict[str, str] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    window: NonceWindow = field(default_factory=NonceWindow)
    webhooks_sent: list[dict[str, Any]] = field(default_factory=list)
    creates: int = 0
    """Create requests that reached the handler (retries included)."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- orders ---------------------------------------------------------------------------------

    def create(self, body: dict[str, Any], *, sell: bool) -> dict[str, Any]:
        self.creates += 1
        ref = str(body.get("account_reference") or "")
        if not ref:
            raise HTTPException(status_code=400, detail="account_reference is required")
        if ref in self.by_reference:
            return self.orders[self.by_reference[ref]]  # idempotent by our reference
        source, target = str(body.get("source", "")), str(body.get("target", ""))
        coin, fiat = (source, target) if sell else (target, source)
        if coin not in self.prices or fiat not in FIATS:
            raise HTTPException(status_code=422, detail=f"unsupported pair {source}/{target}")
        try:
            amount = Decimal(str(body["source_amount"]))
        except Exception as exc:
            raise HTTPException(status_code=422, detail="source_amount must be a number") from exc
        if not amount.is_finite() or amount <= 0:
            raise HTTPException(status_code=422, detail="source_amount must be > 0")
        price = self.prices[coin]
        if sell:
            coin_amount = amount
            fiat_amount = (amount * price * (1 - self.fee_rate)).quantize(CENTS, ROUND_DOWN)
            address = f"banxa-deposit-{coin.lower()}-{len(self.orders) + 1:06d}"
        else:
            if not body.get("wallet_address"):
                raise HTTPException(status_code=422, detail="wallet_address is required")
            fiat_amount = amount
            coin_amount = (amount * (1 - self.fee_rate) / price).quantize(SATS, ROUND_DOWN)
            address = str(body["wallet_address"])
        oid = f"{next(self._ids):08x}bx{hashlib.sha256(ref.encode()).hexdigest()[:6]}"
        order = {
            "id": oid, "account_reference": ref,
            "order_type": "CRYPTO-SELL" if sell else "CRYPTO-BUY", "status": "pendingPayment",
            "fiat_code": fiat, "fiat_amount": str(fiat_amount), "coin_code": coin,
            "coin_amount": str(coin_amount), "wallet_address": address,
            "blockchain": str(body.get("blockchain") or COINS[coin][1]),
            "checkout_url": f"https://checkout.banxa.fake/{oid}", "tx_hash": None,
            "created_at": _now_iso(), "history": ["pendingPayment"],
        }  # fmt: skip
        self.orders[oid] = order
        self.by_reference[ref] = oid
        return order

    def order(self, oid: str) -> dict[str, Any]:
        found = self.orders.get(oid)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no order {oid}")
        return found

    def confirm(self, oid: str, tx_hash: str) -> dict[str, Any]:
        o = self.order(oid)
        if o["order_type"] != "CRYPTO-SELL":
            raise HTTPException(status_code=422, detail="only sell orders are confirmed")
        if not tx_hash:
            raise HTTPException(status_code=422, detail="tx_hash is required")
        if o["tx_hash"] and o["tx_hash"] != tx_hash:
            raise HTTPException(status_code=409, detail="order already confirmed with another hash")
        o["tx_hash"] = tx_hash
        return o

    def next_status(self, o: dict[str, Any]) -> str | None:
        """Return the status auto-advance moves `o` to, or None if it waits or is done."""
        status = o["status"]
        if status in TERMINAL:
            return None
        if status == "expired":
            return "paymentReceived"
        path = SELL_PATH if o["order_type"] == "CRYPTO-SELL" else BUY_PATH
        if o["order_type"] == "CRYPTO-SELL" and status == "waitingPayment" and not o["tx_hash"]:
            return None  # the user's coins have not been announced yet
        i = path.index(status)
        return path[i + 1] if i + 1 < len(path) else None

    async def set_status(self, oid: str, status: str) -> dict[str, Any]:
        """Move an order to `status` (any status: tests decide) and send its webhook."""
        o = self.order(oid)
        o["status"] = status
        o["history"].append(status)
        await self.send_webhook(oid, status)
        return o

    # -- webhooks -------------------------------------------------------------------------------

    def webhook_request(
        self, oid: str, status: str, *, nonce: str | None = None, secret: str | None = None
    ) -> tuple[str, dict[str, str], bytes]:
        """Return (url, headers, body) of a signed webhook (tests tamper with them)."""
        body = compact_json({"order_id": oid, "status": status, "status_date": _now_iso()})
        key = self.webhook_key or next(iter(self.keys))
        n = nonce or str(max(time.time_ns() // 1_000_000, self._last_nonce + 1))
        self._last_nonce = int(n) if n.isdigit() else self._last_nonce
        path = urlsplit(self.webhook_url).path or "/"
        auth = authorization(key, secret or self.keys[key], "POST", path, n, body)
        return self.webhook_url, {"Authorization": auth, "Content-Type": "application/json"}, body

    _last_nonce: int = 0

    async def send_webhook(self, oid: str, status: str) -> int:
        """Deliver one webhook (3 tries); return the HTTP status (0 when it never arrived)."""
        if not self.webhook_url:
            return 0
        url, headers, body = self.webhook_request(oid, status)
        code = 0
        async with httpx.AsyncClient(timeout=5) as http:
            for attempt in range(3):
                try:
                    resp = await http.post(url, content=body, headers=headers)
                    code = resp.status_code
                    break
                except httpx.TransportError:
                    await anyio.sleep(0.2 * (attempt + 1))
        self.webhooks_sent.append({"order_id": oid, "status": status, "code": code})
        return code

    async def auto_advance(self) -> None:
        """Advance every open order one step per `auto_step_secs`, until cancelled."""
        while True:
            await anyio.sleep(self.auto_step_secs)
            for oid, o in list(self.orders.items()):
                nxt = self.next_status(o)
                if nxt is not None:
                    await self.set_status(oid, nxt)

    # -- auth and faults ------------------------------------------------------------------------

    def check(self, request: Request[Any, Any, Any], raw: bytes) -> None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        verify(
            request.headers.get("authorization", ""), keys=self.keys, method=request.method,
            path=path, body=raw, window=self.window, now_ms=time.time_ns() // 1_000_000,
        )  # fmt: skip


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _public(o: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in o.items() if k != "history"}


def _error(status: int, code: int, title: str) -> Response[Any]:
    body = {"errors": {"status": status, "code": code, "title": title}}
    return Response(body, status_code=status)


def build_app(fake: FakeBanxa) -> Litestar:
    """Return the fake's ASGI app."""

    async def guarded(request: Request[Any, Any, Any], handle: Any) -> Response[Any]:
        raw = await request.body()
        try:
            fake.check(request, raw)
        except SignatureError as exc:
            return _error(401, exc.code, exc.detail)
        f = fake.faults
        if f.delay_secs:
            await anyio.sleep(f.delay_secs)
        if f.fail_next > 0 and not f.after:
            f.fail_next -= 1
            return _error(f.status, f.status * 100, "injected failure")
        body = msgspec.json.decode(raw) if raw else {}
        try:
            data = await handle(body)
        except HTTPException as exc:
            return _error(exc.status_code, exc.status_code * 100, str(exc.detail))
        if f.fail_next > 0 and f.after:
            f.fail_next -= 1
            return _error(f.status, f.status * 100, "injected failure after the fact")
        return Response({"data": data}, status_code=200)

    @get("/api/coins/{side:str}")
    async def coins(request: Request[Any, Any, Any], side: PathStr) -> Response[Any]:
        async def h(_: Any) -> Any:
            return {"coins": [{"coin_code": c, "coin_name": n, "blockchains": [{"code": b}]}
                              for c, (n, b) in COINS.items()]}  # fmt: skip
        return await guarded(request, h)

    @get("/api/fiats/{side:str}")
    async def fiats(request: Request[Any, Any, Any], side: PathStr) -> Response[Any]:
        async def h(_: Any) -> Any:
            return {"fiats": [{"fiat_code": c, "fiat_name": n, "fiat_symbol": s}
                              for c, (n, s) in FIATS.items()]}  # fmt: skip
        return await guarded(request, h)

    @get("/api/payment-methods")
    async def payment_methods(request: Request[Any, Any, Any]) -> Response[Any]:
        async def h(_: Any) -> Any:
            return {"payment_methods": [{"id": 6021, "name": "SEPA Bank Transfer",
                                         "paymentType": "SEPA", "status": "ACTIVE"},
                                        {"id": 6031, "name": "Visa/Mastercard",
                                         "paymentType": "CARD", "status": "ACTIVE"}]}  # fmt: skip
        return await guarded(request, h)

    @get("/api/prices")
    async def prices(request: Request[Any, Any, Any]) -> Response[Any]:
        q = request.query_params

        async def h(_: Any) -> Any:
            source, target = q.get("source", ""), q.get("target", "")
            if target not in fake.prices or source not in FIATS:
                raise HTTPException(status_code=422, detail=f"unsupported pair {source}/{target}")
            amount = Decimal(q.get("source_amount") or "100")
            price = fake.prices[target]
            fee = (amount * fake.fee_rate).quantize(CENTS)
            coin = ((amount - fee) / price).quantize(SATS, ROUND_DOWN)
            return {"spot_price": str(price), "prices": [{
                "payment_method_id": 6021, "coin_code": target, "fiat_code": source,
                "coin_amount": str(coin), "fiat_amount": str(amount), "fee_amount": str(fee),
                "network_fee": "0", "spot_price_including_fee": str(price * (1 + fake.fee_rate)),
            }]}  # fmt: skip
        return await guarded(request, h)

    @post("/api/orders", status_code=200)
    async def create_buy(request: Request[Any, Any, Any]) -> Response[Any]:
        async def h(body: Any) -> Any:
            o = fake.create(body, sell=False)
            return {"order": _public(o)}
        return await guarded(request, h)

    @post("/api/orders/sell", status_code=200)
    async def create_sell(request: Request[Any, Any, Any]) -> Response[Any]:
        async def h(body: Any) -> Any:
            return {"order": _public(fake.create(body, sell=True))}
        return await guarded(request, h)

    @get("/api/orders")
    async def list_orders(request: Request[Any, Any, Any]) -> Response[Any]:
        q = request.query_params

        async def h(_: Any) -> Any:
            ref, status = q.get("account_reference"), q.get("status")
            out = [_public(o) for o in fake.orders.values()
                   if (ref is None or o["account_reference"] == ref)
                   and (status is None or o["status"] == status)]  # fmt: skip
            return {"orders": out}
        return await guarded(request, h)

    @get("/api/orders/{oid:str}")
    async def get_order(request: Request[Any, Any, Any], oid: PathStr) -> Response[Any]:
        async def h(_: Any) -> Any:
            return {"order": _public(fake.order(oid))}
        return await guarded(request, h)

    @post("/api/orders/{oid:str}/confirm", status_code=200)
    async def confirm(request: Request[Any, Any, Any], oid: PathStr) -> Response[Any]:
        async def h(body: Any) -> Any:
            return {"order": _public(fake.confirm(oid, str(body.get("tx_hash") or "")))}
        return await guarded(request, h)

    # -- admin (tests and the demo drive the fake; loopback only) --------------------------------

    @post("/_admin/orders/{oid:str}/status", status_code=200)
    async def admin_status(request: Request[Any, Any, Any], oid: PathStr) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.json.decode(await request.body())
        return _public(await fake.set_status(oid, str(data["status"])))

    @get("/_admin/orders")
    async def admin_orders() -> dict[str, Any]:
        return {"orders": list(fake.orders.values()), "creates": fake.creates,
                "webhooks": fake.webhooks_sent}  # fmt: skip

    @post("/_admin/faults", status_code=200)
    async def admin_faults(request: Request[Any, Any, Any]) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.json.decode(await request.body())
        fake.faults = Faults(**data)
        return data

    @post("/_admin/webhook", status_code=200)
    async def admin_webhook(request: Request[Any, Any, Any]) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.json.decode(await request.body())
        fake.webhook_url = str(data["url"])
        return data

    return Litestar(
        route_handlers=[coins, fiats, payment_methods, prices, create_buy, create_sell,
                        list_orders, get_order, confirm, admin_status, admin_orders,
                        admin_faults, admin_webhook],
        openapi_config=None,
    )  # fmt: skip
