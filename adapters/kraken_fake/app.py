"""Answer Kraken's public REST API from recordings: the fake venue ccxt talks to in mock mode.

`build_app(fake)` is a Litestar app serving `GET /0/public/<method>` the way Kraken does: HTTP
200 with `{"error": [...], "result": ...}`, errors as Kraken's own strings
(`EQuery:Unknown asset pair`), pairs by id or altname. Point ccxt's `exchange.urls['api']` at it
and the real ccxt code path parses real replies, with no network.

Two knobs make failures real for tests and demos: `latency_ms` delays every reply, and
`fail_after` answers the requests past the first N with HTTP 503 `EService:Unavailable`, the
way Kraken sheds load (ccxt raises `ExchangeNotAvailable`): all of them, or the next
`fail_count` (a transient outage that a retry survives). With a `KrakenPrivate` (`private.py`),
the private API (`POST /0/private/<method>`, signed) and the fake's `/_fake/` admin routes are
served too; the knobs apply to them as well.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from email.utils import formatdate
from typing import Annotated, Any

import anyio
from litestar import Litestar, Request, Response, route
from litestar.params import Parameter

from adapters.kraken_fake import derived
from adapters.kraken_fake.pairs import ASSET_PAIRS, ASSETS, pair_id
from adapters.kraken_fake.private import KrakenPrivate, private_routes
from adapters.kraken_fake.recordings import ENCODER, KrakenRecordings
from runtime import KineticError

REQUEST_LOG = 10_000
"""Most requests `FakeKraken.requests` remembers (oldest dropped first)."""
OHLC_INTERVALS = frozenset({1, 5, 15, 30, 60, 240, 1440, 10080, 21600})
"""The `interval` values (minutes) Kraken accepts."""
TRADES_MAX = 1000
DEPTH_MAX = 500


class KrakenReplyError(KineticError):
    """End a request with Kraken's error reply (`error` holds Kraken's code string)."""

    def __init__(self, error: str, /) -> None:
        super().__init__(error)
        self.error = error


class FakeKraken:
    """Hold the fake venue's recordings, options and the log of requests it answered.

    `fail_after`, `fail_count` and `latency_ms` may be changed while it serves: a test turns
    failures on and off between runs of the client.
    """

    def __init__(
        self,
        recordings: KrakenRecordings,
        /,
        *,
        latency_ms: float = 0.0,
        fail_after: int | None = None,
        fail_count: int | None = None,
        ohlc_page: int = 720,
        private: KrakenPrivate | None = None,
    ) -> None:
        if ohlc_page <= 0:
            raise ValueError(f"`ohlc_page` must be > 0, got {ohlc_page}")
        self.recordings = recordings
        self.latency_ms = latency_ms
        self.fail_after = fail_after
        self.fail_count = fail_count
        self.ohlc_page = ohlc_page
        self.private = private
        self.served = 0
        self.requests: deque[tuple[str, dict[str, str]]] = deque(maxlen=REQUEST_LOG)

    def answer(self, method: str, params: dict[str, str], /) -> tuple[int, dict[str, Any]]:
        """Return the HTTP status and Kraken body for `GET /0/public/<method>?<params>`."""
        self.requests.append((method, params))
        self.served += 1
        if self._failing():
            return 503, {"error": ["EService:Unavailable"]}
        handler = _PUBLIC.get(method)
        if handler is None:
            return 404, {"error": ["EGeneral:Unknown method"]}
        try:
            return 200, {"error": [], "result": handler(self, params)}
        except KrakenReplyError as exc:
            return 200, {"error": [exc.error]}

    def _failing(self) -> bool:
        after, count = self.fail_after, self.fail_count
        if after is None or self.served <= after:
            return False
        return count is None or self.served <= after + count


def build_app(fake: FakeKraken, /) -> Litestar:
    """Return the ASGI app serving `fake`."""

    @route("/0/public/{method:str}", http_method=["GET", "POST"])
    async def public(
        request: Request[Any, Any, Any],
        method: Annotated[str, Parameter(description="Kraken's method name")],
    ) -> Response[bytes]:
        if fake.latency_ms:
            await anyio.sleep(fake.latency_ms / 1000)
        status, body = fake.answer(method, dict(request.query_params))
        return Response(ENCODER.encode(body), status_code=status, media_type="application/json")

    handlers: list[Any] = [public]
    if fake.private is not None:
        fake.private.fallback_mark = lambda pair: _last_price(fake, pair)
        handlers += private_routes(fake, fake.private)
    return Litestar(route_handlers=handlers, openapi_config=None, debug=False)


def _last_price(fake: FakeKraken, pair: str) -> Decimal | None:
    """Return the last price of `pair` in the recordings (the private API's default mark)."""
    found = derived.ticker(fake.recordings, pair)
    return None if found is None else Decimal(str(found["c"][0]))


# -- endpoints ------------------------------------------------------------------------------


def _pair(params: dict[str, str]) -> str:
    found = pair_id(params.get("pair", ""))
    if found is None:
        raise KrakenReplyError("EQuery:Unknown asset pair")
    return found


def _int(params: dict[str, str], name: str, default: int | None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise KrakenReplyError("EGeneral:Invalid arguments") from None


def _time(fake: FakeKraken, params: dict[str, str]) -> Any:
    now = time.time()
    return {"unixtime": int(now), "rfc1123": formatdate(now, usegmt=True)}


def _status(fake: FakeKraken, params: dict[str, str]) -> Any:
    return {"status": "online", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _assets(fake: FakeKraken, params: dict[str, str]) -> Any:
    wanted = {a for a in params.get("asset", "").split(",") if a}
    return {
        asset: info
        for asset, info in ASSETS.items()
        if not wanted or asset in wanted or info["altname"] in wanted
    }


def _asset_pairs(fake: FakeKraken, params: dict[str, str]) -> Any:
    names = [p for p in params.get("pair", "").split(",") if p]
    pairs = [_pair({"pair": n}) for n in names]
    return {p: ASSET_PAIRS[p] for p in (pairs or ASSET_PAIRS)}


def _ticker(fake: FakeKraken, params: dict[str, str]) -> Any:
    out = {}
    for name in params.get("pair", "").split(","):
        pair = _pair({"pair": name})
        found = derived.ticker(fake.recordings, pair)
        if found is None:
            raise KrakenReplyError("EQuery:Unknown asset pair")
        out[pair] = found
    return out


def _ohlc(fake: FakeKraken, params: dict[str, str]) -> Any:
    pair = _pair(params)
    interval = _int(params, "interval", 1)
    if interval not in OHLC_INTERVALS:
        raise KrakenReplyError("EGeneral:Invalid arguments")
    since = _int(params, "since", None)
    rows, last = fake.recordings.ohlc_page(pair, interval, since=since, count=fake.ohlc_page)
    return {pair: rows, "last": last}


def _trades(fake: FakeKraken, params: dict[str, str]) -> Any:
    pair = _pair(params)
    count = _int(params, "count", TRADES_MAX)
    assert count is not None
    if not 1 <= count <= TRADES_MAX:
        raise KrakenReplyError("EGeneral:Invalid arguments")
    since = _int(params, "since", None)
    rows, last = fake.recordings.trades_page(pair, since=since, count=count)
    return {pair: rows, "last": last}


def _depth(fake: FakeKraken, params: dict[str, str]) -> Any:
    pair = _pair(params)
    count = _int(params, "count", 100)
    assert count is not None
    if not 1 <= count <= DEPTH_MAX:
        raise KrakenReplyError("EGeneral:Invalid arguments")
    book = derived.depth(fake.recordings, pair, count=count)
    if book is None:
        raise KrakenReplyError("EQuery:Unknown asset pair")
    return {pair: book}


_PUBLIC: dict[str, Callable[[FakeKraken, dict[str, str]], Any]] = {
    "Time": _time,
    "SystemStatus": _status,
    "Assets": _assets,
    "AssetPairs": _asset_pairs,
    "Ticker": _ticker,
    "OHLC": _ohlc,
    "Trades": _trades,
    "Depth": _depth,
}
