"""Answer Kraken's private REST API: signed requests, accounts, orders, fills, balances.

The fake venue a live adapter trades against in tests and demos. It checks what Kraken checks
before it does anything: the `API-Key` names an account, `API-Sign` is
`base64(HMAC-SHA512(base64decode(secret), path + SHA256(nonce + body)))`, and the nonce grows
strictly per key (`EAPI:Invalid nonce` otherwise: a nonce window would let a replayed request
place an order twice). Replies have Kraken's shapes and error strings, so the real ccxt code
parses them.

Each account keeps balances (Kraken asset ids, exact `Decimal`s), orders and trades:

- **Orders.** `limit` and `market`, GTC or IOC, `post` flag; spot only (no leverage, no
  triggers: those are refused with Kraken's argument error). Funds are checked against what
  open orders hold. A client id (`cl_ord_id`: a UUID, 32 hex digits, or up to 18 ASCII
  characters; or an integer `userref`) is unique among *open* orders, as on Kraken; with
  `client_ids="ever"` among all orders ever placed.
- **Fills.** An order that crosses the mark when it arrives fills at the mark (taker); a
  resting limit fills at its price (maker) when `set_price` moves the mark through it, up to
  an optional volume per push (partial fills). Fees: the pair's first tier, in the quote asset,
  rounded half-even to the asset's decimals. Amounts are exact (Kraken truncates `cost` to 5
  decimals in its replies; the fake does not, so a test can reconcile to the last digit).
- **Faults.** `lose_replies = N`: the next N order requests (AddOrder, CancelOrder, CancelAll)
  are performed, then answered `503 EService:Unavailable`, the reply a client never hears;
  `drop_requests = N`: the next N are answered so without being performed (Kraken never got
  them). Both are logged with the error `EService:Unavailable`.

`state_path` makes the accounts survive a restart of the fake (JSON, replaced atomically after
every change); `log_path` appends every private request as a JSON line. `requests` keeps them
in memory too. Admin routes under `/_fake/` (not Kraken's) push prices, read the log and the
accounts, and arm faults.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qsl

import anyio
import msgspec
from litestar import Request, Response, get, post, route
from litestar.params import Parameter

from adapters.kraken_fake.pairs import ASSET_PAIRS, ASSETS, pair_id
from adapters.kraken_fake.recordings import ENCODER
from runtime import KineticError

if TYPE_CHECKING:
    from adapters.kraken_fake.app import FakeKraken

ZERO = Decimal(0)
PAGE = 50
"""Rows per page of `ClosedOrders` and `TradesHistory`, as Kraken pages them (`ofs`)."""
ORDER_METHODS = frozenset({"AddOrder", "CancelOrder", "CancelAll"})
"""The methods that change orders: the ones `lose_replies` loses."""
ClientIds = Literal["open", "ever"]

_LONG_UUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
_SHORT_UUID = re.compile(r"^[0-9a-fA-F]{32}$")
_FREE_TEXT = re.compile(r"^[!-~]{1,18}$")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_INT32 = 2**31


class _RefusedError(KineticError):
    """End a request with Kraken's error string."""

    def __init__(self, error: str, /) -> None:
        super().__init__(error)
        self.error = error


class FakeOrder(msgspec.Struct, kw_only=True):
    """One order of an account, as the fake keeps it (mutable)."""

    txid: str
    pair: str
    side: Literal["buy", "sell"]
    ordertype: Literal["limit", "market"]
    vol: Decimal
    price: Decimal | None
    tif: str = "GTC"
    post_only: bool = False
    cl_ord_id: str | None = None
    userref: int | None = None
    status: Literal["open", "closed", "canceled", "expired"] = "open"
    reason: str | None = None
    opentm: float
    closetm: float | None = None
    vol_exec: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO
    trades: list[str] = msgspec.field(default_factory=list)


class FakeTrade(msgspec.Struct, kw_only=True):
    """One fill of an account's order."""

    txid: str
    ordertxid: str
    postxid: str
    pair: str
    time: float
    side: Literal["buy", "sell"]
    ordertype: str
    price: Decimal
    vol: Decimal
    cost: Decimal
    fee: Decimal
    maker: bool
    trade_id: int


class FakeAccount(msgspec.Struct, kw_only=True):
    """One API key's account: its secret, last nonce, balances, orders and trades."""

    key: str
    secret: str
    nonce: int = 0
    balances: dict[str, Decimal] = msgspec.field(default_factory=dict)
    orders: dict[str, FakeOrder] = msgspec.field(default_factory=dict)
    trades: dict[str, FakeTrade] = msgspec.field(default_factory=dict)


class PrivateState(msgspec.Struct, kw_only=True):
    """Everything the private API persists."""

    accounts: dict[str, FakeAccount] = msgspec.field(default_factory=dict)
    marks: dict[str, Decimal] = msgspec.field(default_factory=dict)
    next_order: int = 1
    next_trade: int = 1


class PrivateRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One private request as it arrived: what a test compares with ccxt's recordings.

    `pairs` are the body's `key=value` pairs split the way ccxt's own static tests split them
    (on `&` and `=`, still url-encoded); `params` are decoded.
    """

    seq: int
    method: str
    key: str
    body: str
    pairs: list[tuple[str, str]]
    params: dict[str, str]
    error: str = ""
    """Kraken's error string; empty when the request succeeded."""
    ts: float


def sign(path: str, body: str, nonce: str, secret: str, /) -> str:
    """Return Kraken's `API-Sign` of a private request (the client's half, for tests)."""
    digest = hashlib.sha256((nonce + body).encode()).digest()
    mac = hmac.new(base64.b64decode(secret), path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


class KrakenPrivate:
    """Hold the accounts of the fake and answer their signed requests."""

    def __init__(
        self,
        *,
        state_path: str | Path | None = None,
        log_path: str | Path | None = None,
        client_ids: ClientIds = "open",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_path = Path(state_path) if state_path is not None else None
        self.log_path = Path(log_path) if log_path is not None else None
        self.client_ids = client_ids
        self.clock = clock
        self.lose_replies = 0
        self.drop_requests = 0
        self.requests: list[PrivateRequest] = []
        self.fallback_mark: Callable[[str], Decimal | None] = lambda pair: None
        """The mark of a pair nobody pushed a price for (the app sets the recorded ticker's)."""
        self.state = PrivateState()
        if self.state_path is not None and self.state_path.exists():
            self.state = msgspec.json.decode(self.state_path.read_bytes(), type=PrivateState)

    # -- accounts ----------------------------------------------------------------------------

    def add_account(self, key: str, secret: str, /, *, balances: Mapping[str, Any]) -> None:
        """Open an account for `key` (a base64 `secret`), with balances by Kraken asset id.

        An account that exists (loaded from `state_path`) is kept as it is.
        """
        if key in self.state.accounts:
            return
        try:
            base64.b64decode(secret, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"`secret` must be base64, got {secret[:4]!r}...") from exc
        for asset in balances:
            if asset not in ASSETS:
                known = ", ".join(ASSETS)
                raise ValueError(f"`balances` asset must be one of {known}, got {asset!r}")
        self.state.accounts[key] = FakeAccount(
            key=key, secret=secret, balances={a: Decimal(str(v)) for a, v in balances.items()}
        )
        self.save()

    def account(self, key: str, /) -> FakeAccount:
        """Return the account of `key` (KeyError when there is none)."""
        return self.state.accounts[key]

    def save(self) -> None:
        """Write the state to `state_path` (if set), replacing the file in one step."""
        if self.state_path is None:
            return
        tmp = self.state_path.with_suffix(self.state_path.suffix + ".tmp")
        tmp.write_bytes(msgspec.json.encode(self.state))
        os.replace(tmp, self.state_path)

    # -- requests ----------------------------------------------------------------------------

    def answer(
        self, method: str, headers: Mapping[str, str], body: bytes, /
    ) -> tuple[int, dict[str, Any]]:
        """Return the HTTP status and Kraken body for `POST /0/private/<method>`."""
        text = body.decode("utf-8", "replace")
        key = headers.get("api-key", "")
        status = 200
        reply: dict[str, Any] = {"error": [], "result": None}
        pairs: list[tuple[str, str]] = []
        params: dict[str, str] = {}
        try:
            pairs, params = _parse_body(text, headers.get("content-type", ""))
            if method in ORDER_METHODS and self.drop_requests > 0:
                self.drop_requests -= 1
                status = 503
                raise _RefusedError("EService:Unavailable")
            account = self._authenticate(method, key, headers.get("api-sign", ""), text, params)
            handler = _METHODS.get(method)
            if handler is None:
                status, reply = 404, {"error": ["EGeneral:Unknown method"]}
            else:
                reply["result"] = handler(self, account, params)
        except _RefusedError as exc:
            reply = {"error": [exc.error]}
        error = reply["error"][0] if reply["error"] else ""
        self._log(method, key, text, pairs, params, error)
        if status == 200 and not error and method in ORDER_METHODS and self.lose_replies > 0:
            self.lose_replies -= 1
            return 503, {"error": ["EService:Unavailable"]}
        return status, reply

    def _authenticate(
        self, method: str, key: str, signature: str, body: str, params: dict[str, str]
    ) -> FakeAccount:
        account = self.state.accounts.get(key)
        if account is None:
            raise _RefusedError("EAPI:Invalid key")
        nonce = params.get("nonce", "")
        try:
            expected = sign(f"/0/private/{method}", body, nonce, account.secret)
        except (binascii.Error, ValueError):  # pragma: no cover - secrets are checked on add
            raise _RefusedError("EAPI:Invalid key") from None
        if not hmac.compare_digest(expected, signature):
            raise _RefusedError("EAPI:Invalid signature")
        if not nonce.isdigit() or int(nonce) <= account.nonce:
            raise _RefusedError("EAPI:Invalid nonce")
        account.nonce = int(nonce)
        return account

    def _log(
        self,
        method: str,
        key: str,
        body: str,
        pairs: list[tuple[str, str]],
        params: dict[str, str],
        error: str,
    ) -> None:
        req = PrivateRequest(
            seq=len(self.requests) + 1,
            method=method,
            key=key,
            body=body,
            pairs=pairs,
            params=params,
            error=error,
            ts=self.clock(),
        )
        self.requests.append(req)
        if self.log_path is not None:
            with self.log_path.open("ab") as f:
                f.write(msgspec.json.encode(req) + b"\n")

    # -- the market --------------------------------------------------------------------------

    def mark(self, pair: str, /) -> Decimal | None:
        """Return the pair's mark: the last pushed price, else the fallback."""
        return self.state.marks.get(pair) or self.fallback_mark(pair)

    def set_price(self, pair: str, price: Decimal, /, *, volume: Decimal | None = None) -> int:
        """Move the mark of `pair`; fill the resting limits it reaches (up to `volume`).

        Returns how many fills it made.
        """
        found = pair_id(pair)
        if found is None:
            raise ValueError(f"`pair` must be a listed pair, got {pair!r}")
        if price <= 0:
            raise ValueError(f"`price` must be > 0, got {price}")
        self.state.marks[found] = price
        fills = 0
        budget = volume
        for account in self.state.accounts.values():
            for order in list(account.orders.values()):
                if order.status != "open" or order.pair != found or order.price is None:
                    continue
                hit = order.price >= price if order.side == "buy" else order.price <= price
                if not hit:
                    continue
                qty = order.vol - order.vol_exec
                if budget is not None:
                    qty = min(qty, budget)
                    budget -= qty
                if qty > 0:
                    self._fill(account, order, qty, order.price, maker=True)
                    fills += 1
        self.save()
        return fills

    def _fill(
        self, account: FakeAccount, order: FakeOrder, qty: Decimal, price: Decimal, *, maker: bool
    ) -> None:
        info = ASSET_PAIRS[order.pair]
        base, quote = info["base"], info["quote"]
        rate = Decimal(str((info["fees_maker"] if maker else info["fees"])[0][1])) / 100
        cost = qty * price
        fee = (cost * rate).quantize(_quantum(quote), ROUND_HALF_EVEN)
        bal = account.balances
        if order.side == "buy":
            bal[base] = bal.get(base, ZERO) + qty
            bal[quote] = bal.get(quote, ZERO) - cost - fee
        else:
            bal[base] = bal.get(base, ZERO) - qty
            bal[quote] = bal.get(quote, ZERO) + cost - fee
        st = self.state
        n = st.next_trade
        st.next_trade += 1
        trade = FakeTrade(
            txid=_kraken_id("T", n),
            ordertxid=order.txid,
            postxid=_kraken_id("P", n),
            pair=order.pair,
            time=self.clock(),
            side=order.side,
            ordertype=order.ordertype,
            price=price,
            vol=qty,
            cost=cost,
            fee=fee,
            maker=maker,
            trade_id=n,
        )
        account.trades[trade.txid] = trade
        order.trades.append(trade.txid)
        order.vol_exec += qty
        order.cost += cost
        order.fee += fee
        if order.vol_exec >= order.vol:
            order.status = "closed"
            order.closetm = trade.time

    def held(self, account: FakeAccount, /) -> dict[str, Decimal]:
        """Return what open orders hold, by asset: buys their quote (with taker fee), sells base."""
        out: dict[str, Decimal] = {}
        for order in account.orders.values():
            if order.status != "open":
                continue
            info = ASSET_PAIRS[order.pair]
            left = order.vol - order.vol_exec
            if order.side == "sell":
                out[info["base"]] = out.get(info["base"], ZERO) + left
            elif order.price is not None:
                taker = 1 + Decimal(str(info["fees"][0][1])) / 100
                out[info["quote"]] = out.get(info["quote"], ZERO) + left * order.price * taker
        return out


# -- helpers ---------------------------------------------------------------------------------


def _parse_body(text: str, content_type: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    if content_type.startswith("application/json"):
        try:
            data = json.loads(text or "{}")
        except json.JSONDecodeError:
            raise _RefusedError("EGeneral:Invalid arguments") from None
        items = [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in data.items()]
        return items, dict(items)
    pairs = []
    for part in text.split("&"):
        kv = part.split("=")
        if len(kv) == 2:
            pairs.append((kv[0], kv[1]))
    return pairs, dict(parse_qsl(text, keep_blank_values=True))


def _kraken_id(prefix: str, n: int) -> str:
    """Return a Kraken-shaped id (`OQCLML-BW3P3-BUCMWZ`), deterministic in `n`."""
    digest = hashlib.sha256(f"{prefix}{n}".encode()).digest()
    chars = "".join(_ID_ALPHABET[b % 32] for b in digest[:16])
    return f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:16]}"


def _quantum(asset: str) -> Decimal:
    return Decimal(1).scaleb(-int(ASSETS[asset]["decimals"]))


def _decimal(params: dict[str, str], name: str) -> Decimal | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _RefusedError(f"EGeneral:Invalid arguments:{name}") from None
    if not value.is_finite():
        raise _RefusedError(f"EGeneral:Invalid arguments:{name}")
    return value


def _flag(params: dict[str, str], name: str) -> bool:
    return params.get(name, "").lower() in ("true", "1")


def _time_bound(account: FakeAccount, text: str | None) -> float | None:
    """A `start`/`end` bound: unix seconds, or an order's txid (its open time)."""
    if text is None or text == "":
        return None
    order = account.orders.get(text)
    if order is not None:
        return order.opentm
    try:
        return float(text)
    except ValueError:
        raise _RefusedError("EGeneral:Invalid arguments") from None


def _num(value: Decimal, places: int | None = None) -> str:
    if places is not None:
        return f"{value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN):f}"
    return f"{value:f}"


def _client_id(params: dict[str, str]) -> tuple[str | None, int | None]:
    cl = params.get("cl_ord_id") or None
    ref_text = params.get("userref") or None
    if cl is not None and ref_text is not None:
        raise _RefusedError("EGeneral:Invalid arguments:cl_ord_id")  # mutually exclusive
    if cl is not None and not (
        _LONG_UUID.match(cl) or _SHORT_UUID.match(cl) or _FREE_TEXT.match(cl)
    ):
        raise _RefusedError("EGeneral:Invalid arguments:cl_ord_id")
    userref = None
    if ref_text is not None:
        try:
            userref = int(ref_text)
        except ValueError:
            raise _RefusedError("EGeneral:Invalid arguments:userref") from None
        if not -_INT32 <= userref < _INT32:
            raise _RefusedError("EGeneral:Invalid arguments:userref")
    return cl, userref


def _describe(info: dict[str, Any], side: str, vol: Decimal, price: Decimal | None) -> str:
    """Return Kraken's one-line order description (`buy 0.01000000 XBTUSDT @ limit 50000.0`)."""
    at = "market" if price is None else f"limit {_num(price, info['pair_decimals'])}"
    return f"{side} {_num(vol, 8)} {info['altname']} @ {at}"


def order_view(order: FakeOrder, /, *, trades: bool = False) -> dict[str, Any]:
    """Return `order` as Kraken's order info (OpenOrders, ClosedOrders, QueryOrders)."""
    info = ASSET_PAIRS[order.pair]
    places = info["pair_decimals"]
    price = "0" if order.price is None else _num(order.price, places)
    view: dict[str, Any] = {"refid": None, "userref": order.userref}
    if order.cl_ord_id is not None:
        view["cl_ord_id"] = order.cl_ord_id
    view |= {
        "status": order.status,
        "opentm": order.opentm,
        "starttm": 0,
        "expiretm": 0,
        "descr": {
            "pair": info["altname"],
            "type": order.side,
            "ordertype": order.ordertype,
            "price": price,
            "price2": "0",
            "leverage": "none",
            "order": _describe(info, order.side, order.vol, order.price),
            "close": "",
        },
        "vol": _num(order.vol, 8),
        "vol_exec": _num(order.vol_exec, 8),
        "cost": _num(order.cost),
        "fee": _num(order.fee),
        "price": _num(order.cost / order.vol_exec, places) if order.vol_exec else "0",
        "stopprice": "0",
        "limitprice": "0",
        "misc": "",
        "oflags": "fciq,post" if order.post_only else "fciq",
    }
    if order.status != "open":
        view["closetm"] = order.closetm
        view["reason"] = order.reason
    if trades and order.trades:
        view["trades"] = list(order.trades)
    return view


def trade_view(trade: FakeTrade, /) -> dict[str, Any]:
    """Return `trade` as Kraken's trade info (TradesHistory, QueryTrades)."""
    return {
        "ordertxid": trade.ordertxid,
        "postxid": trade.postxid,
        "pair": trade.pair,
        "time": trade.time,
        "type": trade.side,
        "ordertype": trade.ordertype,
        "price": _num(trade.price),
        "cost": _num(trade.cost),
        "fee": _num(trade.fee),
        "vol": _num(trade.vol, 8),
        "margin": "0.00000",
        "leverage": "0",
        "misc": "",
        "trade_id": trade.trade_id,
        "maker": trade.maker,
    }


# -- endpoints -------------------------------------------------------------------------------

Handler = Callable[[KrakenPrivate, FakeAccount, dict[str, str]], Any]


def _balance(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    return {asset: _num(v) for asset, v in a.balances.items()}


def _balance_ex(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    held = p.held(a)
    return {
        asset: {"balance": _num(v), "hold_trade": _num(held.get(asset, ZERO))}
        for asset, v in a.balances.items()
    }


def _add_order(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    pair = pair_id(params.get("pair", ""))
    if pair is None:
        raise _RefusedError("EQuery:Unknown asset pair")
    info = ASSET_PAIRS[pair]
    side = params.get("type")
    if side not in ("buy", "sell"):
        raise _RefusedError("EGeneral:Invalid arguments:type")
    ordertype = params.get("ordertype")
    if ordertype not in ("limit", "market"):
        raise _RefusedError("EGeneral:Invalid arguments:ordertype")
    if params.get("leverage", "none") not in ("none", "") or _flag(params, "reduce_only"):
        raise _RefusedError("EGeneral:Permission denied")  # spot only: no margin
    flags = {f for f in params.get("oflags", "").split(",") if f}
    if not flags <= {"post", "fciq", "fcib", "nompp"}:
        raise _RefusedError("EGeneral:Invalid arguments:oflags")
    vol = _decimal(params, "volume")
    if vol is None or vol <= 0 or vol != vol.quantize(Decimal(1).scaleb(-info["lot_decimals"])):
        raise _RefusedError("EGeneral:Invalid arguments:volume")
    if vol < Decimal(info["ordermin"]):
        raise _RefusedError("EOrder:Order minimum not met")
    price = _decimal(params, "price")
    if ordertype == "limit":
        if price is None or price <= 0:
            raise _RefusedError("EGeneral:Invalid arguments:price")
        if price != price.quantize(Decimal(1).scaleb(-info["pair_decimals"])):
            raise _RefusedError("EOrder:Invalid price:Invalid price argument")
    else:
        price = None
    tif = params.get("timeinforce", "GTC").upper()
    if tif not in ("GTC", "IOC"):
        raise _RefusedError("EGeneral:Invalid arguments:timeinforce")
    cl, userref = _client_id(params)
    if cl is not None:
        for other in a.orders.values():
            if other.cl_ord_id == cl and (p.client_ids == "ever" or other.status == "open"):
                raise _RefusedError("EOrder:Duplicate order")
    mark = p.mark(pair)
    crosses = mark is not None and (
        price is None or (price >= mark if side == "buy" else price <= mark)
    )
    if price is None and mark is None:
        raise _RefusedError("EOrder:Insufficient liquidity")  # no price to fill a market order at
    if "post" in flags and crosses:
        raise _RefusedError("EOrder:Post only order")
    _check_funds(p, a, info, side, vol, price if price is not None else mark)
    descr = {"order": _describe(info, side, vol, price)}
    if _flag(params, "validate"):
        return {"descr": descr}
    st = p.state
    order = FakeOrder(
        txid=_kraken_id("O", st.next_order),
        pair=pair,
        side=side,  # type: ignore[arg-type]
        ordertype=ordertype,  # type: ignore[arg-type]
        vol=vol,
        price=price,
        tif=tif,
        post_only="post" in flags,
        cl_ord_id=cl,
        userref=userref,
        opentm=p.clock(),
    )
    st.next_order += 1
    a.orders[order.txid] = order
    if crosses:
        assert mark is not None
        p._fill(a, order, vol, mark, maker=False)
    elif tif == "IOC":
        order.status, order.reason, order.closetm = "canceled", "Immediate or cancel", order.opentm
    p.save()
    return {"descr": descr, "txid": [order.txid]}


def _check_funds(
    p: KrakenPrivate, a: FakeAccount, info: dict[str, Any], side: str, vol: Decimal, price: Any
) -> None:
    held = p.held(a)
    if side == "sell":
        asset, need = info["base"], vol
    else:
        asset = info["quote"]
        need = vol * price * (1 + Decimal(str(info["fees"][0][1])) / 100)
    if a.balances.get(asset, ZERO) - held.get(asset, ZERO) < need:
        raise _RefusedError("EOrder:Insufficient funds")


def _cancel(p: KrakenPrivate, order: FakeOrder) -> None:
    order.status, order.reason, order.closetm = "canceled", "User requested", p.clock()


def _cancel_order(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    cl = params.get("cl_ord_id") or None
    ref = params.get("txid") or None
    if cl is None and ref is None:
        raise _RefusedError("EGeneral:Invalid arguments")
    hits = [
        o
        for o in a.orders.values()
        if o.status == "open"
        and (
            (cl is not None and o.cl_ord_id == cl)
            or (ref is not None and (o.txid == ref or str(o.userref) == ref))
        )
    ]
    if not hits:
        raise _RefusedError("EOrder:Unknown order")
    for order in hits:
        _cancel(p, order)
    p.save()
    return {"count": len(hits)}


def _cancel_all(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    hits = [o for o in a.orders.values() if o.status == "open"]
    for order in hits:
        _cancel(p, order)
    p.save()
    return {"count": len(hits)}


def _cancel_after(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    timeout = _decimal(params, "timeout")
    if timeout is None or timeout < 0:
        raise _RefusedError("EGeneral:Invalid arguments:timeout")
    now = p.clock()
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    trigger = time.strftime(fmt, time.gmtime(now + float(timeout))) if timeout else "0"
    return {"currentTime": time.strftime(fmt, time.gmtime(now)), "triggerTime": trigger}


def _matches(order: FakeOrder, params: dict[str, str]) -> bool:
    cl = params.get("cl_ord_id") or None
    ref = params.get("userref") or None
    return (cl is None or order.cl_ord_id == cl) and (ref is None or str(order.userref) == ref)


def _open_orders(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    with_trades = _flag(params, "trades")
    return {
        "open": {
            o.txid: order_view(o, trades=with_trades)
            for o in a.orders.values()
            if o.status == "open" and _matches(o, params)
        }
    }


def _in_window(t: float | None, start: float | None, end: float | None) -> bool:
    return t is not None and (start is None or t > start) and (end is None or t <= end)


def _page(rows: list[Any], params: dict[str, str]) -> list[Any]:
    ofs = params.get("ofs") or "0"
    if not ofs.isdigit():
        raise _RefusedError("EGeneral:Invalid arguments:ofs")
    return rows[int(ofs) : int(ofs) + PAGE]


def _closed_orders(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    start = _time_bound(a, params.get("start"))
    end = _time_bound(a, params.get("end"))
    which = params.get("closetime", "both")
    if which not in ("open", "close", "both"):
        raise _RefusedError("EGeneral:Invalid arguments:closetime")
    rows = []
    for o in a.orders.values():
        if o.status == "open" or not _matches(o, params):
            continue
        times: list[float | None] = [o.opentm, o.closetm]
        if which != "both":
            times = [o.opentm] if which == "open" else [o.closetm]
        if any(_in_window(t, start, end) for t in times):
            rows.append(o)
    rows.sort(key=lambda o: o.closetm or 0.0, reverse=True)  # newest first, as Kraken
    with_trades = _flag(params, "trades")
    page = _page(rows, params)
    return {"closed": {o.txid: order_view(o, trades=with_trades) for o in page}, "count": len(rows)}


def _query_orders(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    ids = [t for t in params.get("txid", "").split(",") if t]
    if not ids or len(ids) > PAGE:
        raise _RefusedError("EGeneral:Invalid arguments:txid")
    with_trades = _flag(params, "trades")
    out = {}
    for txid in ids:
        order = a.orders.get(txid)
        if order is None:
            raise _RefusedError("EOrder:Unknown order")
        if _matches(order, {"userref": params.get("userref", "")}):
            out[txid] = order_view(order, trades=with_trades)
    return out


def _trades_history(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    start = _time_bound(a, params.get("start"))
    end = _time_bound(a, params.get("end"))
    rows = [t for t in a.trades.values() if _in_window(t.time, start, end)]
    rows.sort(key=lambda t: t.trade_id, reverse=True)
    page = _page(rows, params)
    return {"trades": {t.txid: trade_view(t) for t in page}, "count": len(rows)}


def _query_trades(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    ids = [t for t in params.get("txid", "").split(",") if t]
    if not ids or len(ids) > 20:
        raise _RefusedError("EGeneral:Invalid arguments:txid")
    missing = [t for t in ids if t not in a.trades]
    if missing:
        raise _RefusedError("EGeneral:Invalid arguments:txid")
    return {t: trade_view(a.trades[t]) for t in ids}


def _open_positions(p: KrakenPrivate, a: FakeAccount, params: dict[str, str]) -> Any:
    """Spot only: never a position (consolidated by market, Kraken answers a list)."""
    return [] if params.get("consolidation") == "market" else {}


def _nothing(result: Any) -> Handler:
    return lambda p, a, params: result


_METHODS: dict[str, Handler] = {
    "Balance": _balance,
    "BalanceEx": _balance_ex,
    "AddOrder": _add_order,
    "CancelOrder": _cancel_order,
    "CancelAll": _cancel_all,
    "CancelAllOrdersAfter": _cancel_after,
    "OpenOrders": _open_orders,
    "ClosedOrders": _closed_orders,
    "QueryOrders": _query_orders,
    "TradesHistory": _trades_history,
    "QueryTrades": _query_trades,
    "OpenPositions": _open_positions,
    "Ledgers": _nothing({"ledger": {}, "count": 0}),
    "DepositStatus": _nothing([]),
}


# -- HTTP --------------------------------------------------------------------------------------


class PriceIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /_fake/price`: move a pair's mark (and fill what it reaches)."""

    pair: str
    price: Decimal
    volume: Decimal | None = None


class FaultsIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /_fake/faults`: arm the fault knobs."""

    lose_replies: int = 0
    drop_requests: int = 0


def _json(body: Any, status: int = 200) -> Response[bytes]:
    return Response(ENCODER.encode(body), status_code=status, media_type="application/json")


def private_routes(fake: FakeKraken, private: KrakenPrivate, /) -> list[Any]:
    """Return the route handlers of the private API and the `/_fake/` admin routes."""

    @route("/0/private/{method:str}", http_method=["POST"])
    async def private_api(
        request: Request[Any, Any, Any],
        method: Annotated[str, Parameter(description="Kraken's method name")],
    ) -> Response[bytes]:
        if fake.latency_ms:
            await anyio.sleep(fake.latency_ms / 1000)
        body = await request.body()
        fake.served += 1
        if fake._failing():
            return _json({"error": ["EService:Unavailable"]}, 503)
        status, reply = private.answer(method, request.headers, body)
        return _json(reply, status)

    @post("/_fake/price", status_code=200)
    async def push_price(request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            data = msgspec.json.decode(await request.body(), type=PriceIn)
            fills = private.set_price(data.pair, data.price, volume=data.volume)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"fills": fills})

    @post("/_fake/faults", status_code=200)
    async def faults(request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            data = msgspec.json.decode(await request.body(), type=FaultsIn)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _json({"error": str(exc)}, 400)
        private.lose_replies = data.lose_replies
        private.drop_requests = data.drop_requests
        return _json({"lose_replies": data.lose_replies, "drop_requests": data.drop_requests})

    @get("/_fake/requests")
    async def requests() -> Response[bytes]:
        return _json(private.requests)

    @get("/_fake/accounts/{key:str}")
    async def account(
        key: Annotated[str, Parameter(description="the account's API key")],
    ) -> Response[bytes]:
        acct = private.state.accounts.get(key)
        if acct is None:
            return _json({"error": f"no account with key {key[:4]!r}..."}, 404)
        return _json(
            {
                "balances": {k: _num(v) for k, v in acct.balances.items()},
                "orders": [
                    order_view(o, trades=True) | {"txid": o.txid} for o in acct.orders.values()
                ],
                "trades": [trade_view(t) | {"txid": t.txid} for t in acct.trades.values()],
            }
        )

    return [private_api, push_price, faults, requests, account]
