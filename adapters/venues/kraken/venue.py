"""Trade on Kraken: the adapter that places, cancels, queries, polls and reconciles by client id.

Commands arrive journaled and flushed (`agents.execution.messages`): `SubmitOrder`,
`CancelOrder`, `QueryOrder`, `ReconcileRequest`. Each is sent once, the client id as Kraken's
`cl_ord_id` (`ids.py`). What Kraken answers, and everything a poll finds (fills, closes,
balances), goes back as reports (`reports.py`) that `KrakenTracker` turns into venue events;
a query is answered with an `OrderStatusReport`, a reconciliation request with a
`VenueSnapshot`, both straight to execution.

Never twice (DESIGN §3, write-ahead effects; docs/execution.md):

- An order whose reply is lost (a timeout, a 503 after Kraken took it) is not resent: after
  `in_flight_ms` the adapter looks it up by client id and reports what Kraken holds. When Kraken
  has nothing it reports nothing: execution's ack timeout asks (`QueryOrder`), the answer is
  `not_found`, and only then may execution resubmit, under the same client id.
- After a crash, `reconcile` gets each command that was journaled but never acknowledged and
  asks Kraken the same way: `done` (with the reports of what happened), `not_done` (the order
  never arrived; a cancel that never arrived is reported refused, so execution asks again), or
  `unknown` when an order with that client id exists but is not the command's (a reused id).
  Queries and reconciliation requests only read: they are simply performed again.
- `not_found` is said only when Kraken itself answered so, and only once every earlier request
  of this process about the order has completed (commands run one at a time); a transport
  failure is `unknown`.

The poll (`run`, every `poll_interval_ms`) reads open orders, orders closed and own trades since
its cursors; the first after a start looks `lookback_secs` back, so what filled while the daemon
was down is reported too. Its in-process dedupe only keeps the journal small: the exact,
crash-proof dedupe is the tracker's. Orders without a `cl_ord_id` are not ours and are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import anyio

from adapters.ccxt.errors import VenueBrokenError
from adapters.venues.kraken.client import KrakenClient, KrakenRefusedError
from adapters.venues.kraken.config import KrakenVenueConfig
from adapters.venues.kraken.ids import cl_ord_id
from adapters.venues.kraken.reports import KrakenBalances, KrakenFillReport, KrakenOrderReport
from agents.execution.messages import (
    CancelOrder,
    OrderStatusReport,
    QueryOrder,
    ReconcileRequest,
    SubmitOrder,
    VenueOrder,
    VenueOrderStatus,
    VenueSnapshot,
)
from runtime import Adapter, AdapterPort, Envelope, Message, Reconciliation
from runtime.logging import get_logger

log = get_logger("kinetic.kraken")

NS_PER_S = 1_000_000_000
_CLOSED = {"canceled": "canceled", "expired": "expired", "closed": "closed"}
_STATUS: dict[str, VenueOrderStatus] = {
    "pending": "open",
    "open": "open",
    "closed": "filled",
    "canceled": "canceled",
    "expired": "expired",
}
_CODES = {
    "EOrder:Insufficient funds": "INSUFFICIENT_FUNDS",
    "EOrder:Order minimum not met": "BELOW_MIN_SIZE",
    "EOrder:Duplicate order": "DUPLICATE_CLIENT_ID",
    "EOrder:Post only order": "POST_ONLY_WOULD_TAKE",
    "EOrder:Insufficient liquidity": "NO_LIQUIDITY",
    "EOrder:Unknown order": "ORDER_NOT_OPEN",
    "EQuery:Unknown asset pair": "UNKNOWN_INSTRUMENT",
    "EGeneral:Permission denied": "PERMISSION_DENIED",
    "EAPI:Invalid key": "AUTH_FAILED",
    "EAPI:Invalid signature": "AUTH_FAILED",
}


def reject_code(error: str, /) -> str:
    """Return our stable code for Kraken's error string (`VENUE_REJECTED` when unmapped)."""
    if error in _CODES:
        return _CODES[error]
    if error.startswith("EOrder:Invalid price"):
        return "INVALID_PRICE"
    if error.startswith("EGeneral:Invalid arguments"):
        return "INVALID_ARGUMENTS"
    return "VENUE_REJECTED"


class KrakenVenue(Adapter):
    """Place, cancel and query orders on Kraken by client id; report fills, ends, balances."""

    Params = KrakenVenueConfig
    feeds: ClassVar[bool] = True
    live: ClassVar[bool] = True
    """It moves real money: the CLI starts it only with `mode = "live"` and the guard off."""

    def __init__(self, params: KrakenVenueConfig | None = None) -> None:
        self.params = params or KrakenVenueConfig()
        self.client = KrakenClient(self.params)
        self._instruments = {s: i for i, s in self.params.symbols.items()}
        self._ours: dict[str, str] = {}
        """Kraken order id -> `cl_ord_id`, for every order with a client id seen."""
        self._fills_sent: dict[str, float] = {}
        """Trade id -> trade time, of fills reported by this process (pruned past the cursor)."""
        self._closes_sent: dict[str, float] = {}
        self._trades_since = 0.0
        self._closed_since = 0.0
        self._balances_sent = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, port: AdapterPort, /) -> None:
        """Read credentials, load markets, learn the open orders. A cancellation point."""
        await super().start(port)
        await self.client.open()
        self._trades_since = self._closed_since = time.time() - self.params.lookback_secs
        for order in await self.client.open_orders():
            self._learn(order)
        log.info("kraken_venue_started", venue=self.name, open_orders=len(self._ours))

    async def stop(self) -> None:
        await self.client.close()

    async def run(self) -> None:
        """Poll until cancelled; a failed poll is logged and the next one tries again."""
        interval = self.params.poll_interval_ms / 1000
        while True:
            try:
                await self.poll()
            except (VenueBrokenError, KrakenRefusedError) as exc:
                log.warning("kraken_poll_failed", venue=self.name, error=str(exc))
            await anyio.sleep(interval)

    # -- commands ----------------------------------------------------------------------------

    async def execute(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Sequence[Message]:
        """Send `cmd` once; return the reports of what Kraken answered."""
        if isinstance(cmd, SubmitOrder):
            return await self._submit(cmd)
        if isinstance(cmd, CancelOrder):
            return await self._cancel(cmd)
        if isinstance(cmd, QueryOrder):
            return await self._query(cmd)
        if isinstance(cmd, ReconcileRequest):
            return [await self._snapshot(cmd)]
        return await super().execute(cmd, idem_key=idem_key, env=env)

    async def _submit(self, cmd: SubmitOrder) -> list[Message]:
        cl = cl_ord_id(cmd.client_id)
        try:
            txid = await self.client.place(
                self._symbol(cmd.instrument),
                side=cmd.side,
                qty=cmd.qty,
                price=cmd.price if cmd.order_type == "limit" else None,
                order_type=cmd.order_type,
                tif=cmd.tif,
                cl_ord_id=cl,
            )
        except KrakenRefusedError as exc:
            log.info("kraken_order_refused", client_id=cmd.client_id, error=exc.error)
            if exc.error == "EOrder:Duplicate order":
                found = await self._find(cl)
                if found is not None and self._mismatch(found, cmd) is None:
                    # An earlier attempt arrived after all: report the order Kraken holds.
                    return [*await self._reports(found, owner=cmd), self._status(cmd, found)]
            return [self._rejected(cmd, reject_code(exc.error), exc.error)]
        except VenueBrokenError as exc:
            log.warning("kraken_order_unconfirmed", client_id=cmd.client_id, error=str(exc))
            await anyio.sleep(self.params.in_flight_ms / 1000)
            found = await self._find(cl)
            if found is None:
                # Not at Kraken: say nothing; execution's ack timeout asks, and may resubmit.
                log.warning("kraken_order_not_found", client_id=cmd.client_id)
                return []
            return await self._reports(found, owner=cmd)
        self._ours[txid] = cl
        log.info("kraken_order_placed", client_id=cmd.client_id, venue_order_id=txid)
        return [self._opened(cmd, txid)]

    async def _cancel(self, cmd: CancelOrder) -> list[Message]:
        cl = cl_ord_id(cmd.client_id) if cmd.client_id else ""
        try:
            await self.client.cancel(cl, venue_order_id=cmd.venue_order_id)
        except KrakenRefusedError as exc:
            return [self._cancel_refused(cmd, reject_code(exc.error), exc.error)]
        except VenueBrokenError as exc:
            await anyio.sleep(self.params.in_flight_ms / 1000)
            found = await self._find(cl) if cl else None
            if found is None or found.get("status") == "open":
                return [self._cancel_refused(cmd, "CANCEL_UNCONFIRMED", str(exc))]
            return await self._reports(found)
        found = await self._find(cl) if cl else None
        return [] if found is None else await self._reports(found)

    async def _query(self, cmd: QueryOrder) -> list[Message]:
        """Answer `cmd` with Kraken's word on the order (and report its fills and end)."""
        try:
            found = await self._find(cl_ord_id(cmd.client_id))
        except (VenueBrokenError, KrakenRefusedError) as exc:
            return [self._status(cmd, None, status="unknown", detail=str(exc))]
        if found is None:
            return [self._status(cmd, None, status="not_found", detail="kraken has no such order")]
        return [*await self._reports(found, owner=cmd), self._status(cmd, found)]

    async def _snapshot(self, cmd: ReconcileRequest) -> VenueSnapshot:
        """Answer a reconciliation request: every open order and the balances, now."""
        try:
            orders = await self.client.open_orders()
            total, _ = await self.client.balances()
        except (VenueBrokenError, KrakenRefusedError) as exc:
            return VenueSnapshot(
                venue=self.name, request_id=cmd.request_id, complete=False, detail=str(exc)
            )
        listed = []
        for order in orders:
            self._learn(order)
            descr = order.get("descr") or {}
            price = Decimal(str(descr.get("price") or "0"))
            listed.append(
                VenueOrder(
                    client_id=str(order.get("cl_ord_id") or ""),
                    venue_order_id=order["txid"],
                    instrument=self._instrument(descr.get("pair")),
                    side=descr.get("type", "buy"),
                    qty=Decimal(str(order.get("vol", "0"))),
                    filled_qty=Decimal(str(order.get("vol_exec", "0"))),
                    price=price or None,
                )
            )
        return VenueSnapshot(
            venue=self.name, request_id=cmd.request_id, open_orders=listed, balances=total
        )

    # -- reconciliation ----------------------------------------------------------------------

    async def reconcile(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Reconciliation:
        """Ask Kraken by client id what became of `cmd`; never send an order or a cancel."""
        if isinstance(cmd, QueryOrder | ReconcileRequest):  # read-only: ask again
            return Reconciliation("done", await self.execute(cmd, idem_key=idem_key, env=env))
        if not isinstance(cmd, SubmitOrder | CancelOrder):
            return await super().reconcile(cmd, idem_key=idem_key, env=env)
        wait = env.ts / NS_PER_S + self.params.in_flight_ms / 1000 - time.time()
        if wait > 0:  # the command may still be on its way: do not call it lost too early
            await anyio.sleep(wait)
        cl = cl_ord_id(cmd.client_id)
        found = await self._find(cl) if cmd.client_id else None
        if isinstance(cmd, CancelOrder):
            if found is None or found.get("status") == "open":
                refused = self._cancel_refused(cmd, "CANCEL_NOT_SENT", "lost in a crash")
                return Reconciliation("not_done", (refused,), "the order does not show it")
            return Reconciliation("done", await self._reports(found), "the order has ended")
        if found is None:
            return Reconciliation("not_done", (), "journaled before a crash, never reached kraken")
        problem = self._mismatch(found, cmd, env)
        if problem is not None:
            log.error("kraken_reconcile_mismatch", client_id=cmd.client_id, problem=problem)
            return Reconciliation("unknown", (), problem)
        return Reconciliation("done", await self._reports(found, owner=cmd), "placed")

    def _mismatch(
        self, order: dict[str, Any], cmd: SubmitOrder, env: Envelope | None = None
    ) -> str | None:
        """Say why the order Kraken holds under this client id is not `cmd`'s, or None."""
        descr = order.get("descr") or {}
        if self._instrument(descr.get("pair")) != cmd.instrument:
            return f"order `{order['txid']}` trades {descr.get('pair')}, not {cmd.instrument}"
        if descr.get("type") != cmd.side or Decimal(str(order.get("vol"))) != cmd.qty:
            return f"order `{order['txid']}` is not a {cmd.side} of {cmd.qty}"
        opened = float(order.get("opentm") or 0)
        if env is not None and opened < env.ts / NS_PER_S - self.params.reconcile_skew_secs:
            return f"order `{order['txid']}` opened before the command: another run's client id"
        return None

    # -- the poll ----------------------------------------------------------------------------

    async def poll(self) -> int:
        """Report new fills and closes (and the balances, once per start); return how many."""
        port = self.port
        if not self._balances_sent:
            total, held = await self.client.balances()
            await port.emit(KrakenBalances(venue=self.name, total=total, held=held))
            self._balances_sent = True
            log.info("kraken_balances_fetched", venue=self.name, assets=sorted(total))
        for order in await self.client.open_orders():
            self._learn(order)
        closed = await self.client.closed_orders(since=self._closed_since)
        for order in closed:
            self._learn(order)
        sent = 0
        for msg in self._new_fills(await self.client.trades(since=self._trades_since)):
            await port.emit(msg)
            sent += 1
        for order in closed:
            end = self._closed_report(order)
            if end is not None:
                await port.emit(end)
                sent += 1
        self._advance()
        return sent

    def _learn(self, order: dict[str, Any]) -> None:
        cl = order.get("cl_ord_id")
        if cl:
            self._ours[order["txid"]] = cl

    def _new_fills(self, trades: list[dict[str, Any]]) -> list[KrakenFillReport]:
        out = []
        for trade in trades:
            tid = trade["txid"]
            cl = self._ours.get(trade.get("ordertxid", ""))
            if tid in self._fills_sent or cl is None:
                continue
            self._fills_sent[tid] = float(trade["time"])
            out.append(self._fill_report(trade, cl))
        return out

    def _fill_report(self, trade: dict[str, Any], cl: str) -> KrakenFillReport:
        market = self.client.exchange.safe_market(trade.get("pair"))
        return KrakenFillReport(
            venue=self.name,
            cl_ord_id=cl,
            venue_order_id=trade["ordertxid"],
            trade_id=trade["txid"],
            qty=Decimal(str(trade["vol"])),
            price=Decimal(str(trade["price"])),
            fee=Decimal(str(trade["fee"])),
            fee_asset=market.get("quote") or "",
            liquidity="maker" if trade.get("maker") else "taker",
            ts_ns=round(float(trade["time"]) * NS_PER_S),
        )

    def _closed_report(self, order: dict[str, Any]) -> KrakenOrderReport | None:
        cl = order.get("cl_ord_id")
        status = _CLOSED.get(str(order.get("status")))
        if not cl or status is None or order["txid"] in self._closes_sent:
            return None
        self._closes_sent[order["txid"]] = float(order.get("closetm") or 0)
        return KrakenOrderReport(
            venue=self.name,
            cl_ord_id=cl,
            status=status,  # type: ignore[arg-type]
            venue_order_id=order["txid"],
            filled=Decimal(str(order.get("vol_exec", "0"))),
            detail=str(order.get("reason") or ""),
        )

    def _advance(self) -> None:
        """Move the cursors to the newest row seen, less the overlap; forget what falls behind."""
        overlap = self.params.overlap_secs
        if self._fills_sent:
            self._trades_since = max(self._trades_since, max(self._fills_sent.values()) - overlap)
        if self._closes_sent:
            self._closed_since = max(self._closed_since, max(self._closes_sent.values()) - overlap)
        for sent, since in ((self._fills_sent, self._trades_since),
                            (self._closes_sent, self._closed_since)):  # fmt: skip
            for key in [k for k, t in sent.items() if t <= since]:
                del sent[key]

    # -- look-ups and reports ----------------------------------------------------------------

    async def _find(self, cl: str) -> dict[str, Any] | None:
        """Return Kraken's order with client id `cl` (open first, else the newest closed)."""
        found = await self.client.open_orders(cl_ord_id=cl)
        if not found:
            found = await self.client.closed_orders(cl_ord_id=cl)
        if not found:
            return None
        order = found[-1]
        self._learn(order)
        return order

    async def _reports(
        self, order: dict[str, Any], *, owner: SubmitOrder | QueryOrder | None = None
    ) -> list[Message]:
        """Report `order` as Kraken holds it: placed (for `owner`), its fills, its end."""
        out: list[Message] = []
        if owner is not None:
            out.append(self._found(order, owner))
        if Decimal(str(order.get("vol_exec", "0"))) > 0:
            trades = await self.client.trades(since=float(order.get("opentm") or 0) - 1)
            mine = [t for t in trades if t.get("ordertxid") == order["txid"]]
            out += self._new_fills(mine)
        closed = self._closed_report(order)
        if closed is not None:
            out.append(closed)
        return out

    def _symbol(self, instrument: str) -> str:
        return self.params.symbols.get(instrument, instrument)

    def _instrument(self, pair: Any) -> str:
        """Return our instrument for Kraken's pair (id or altname), or the pair itself."""
        market = self.client.exchange.resolve_market_by_altname_or_id(pair, None)
        if not market:
            return str(pair)
        symbol = str(market["symbol"])
        return self._instruments.get(symbol, symbol)

    def _status(
        self,
        cmd: SubmitOrder | QueryOrder,
        order: dict[str, Any] | None,
        *,
        status: VenueOrderStatus | None = None,
        detail: str = "",
    ) -> OrderStatusReport:
        """Return execution's status report of `order` (None: not found, or not asked)."""
        vol = Decimal(str((order or {}).get("vol", "0")))
        filled = Decimal(str((order or {}).get("vol_exec", "0")))
        said = status or _STATUS.get(str((order or {}).get("status")), "unknown")
        return OrderStatusReport(
            client_id=cmd.client_id,
            strategy=cmd.strategy,
            venue=self.name,
            instrument=cmd.instrument,
            query=cmd.idem_key if isinstance(cmd, QueryOrder) else "",
            status=said,
            venue_order_id=(order or {}).get("txid", ""),
            filled_qty=filled,
            leaves_qty=vol - filled if said == "open" else Decimal(0),
            detail=detail or str((order or {}).get("reason") or ""),
        )

    def _found(self, order: dict[str, Any], owner: SubmitOrder | QueryOrder) -> KrakenOrderReport:
        """Report an order found at Kraken as placed, for the tracker (Kraken's terms win)."""
        descr = order.get("descr") or {}
        price = Decimal(str(descr.get("price") or "0"))
        return KrakenOrderReport(
            venue=self.name,
            cl_ord_id=cl_ord_id(owner.client_id),
            status="open",
            venue_order_id=order["txid"],
            client_id=owner.client_id,
            strategy=owner.strategy,
            instrument=owner.instrument,
            side=descr.get("type", "buy"),
            qty=Decimal(str(order.get("vol", "0"))),
            price=price or None,
        )

    def _opened(self, cmd: SubmitOrder, txid: str) -> KrakenOrderReport:
        return KrakenOrderReport(
            venue=self.name,
            cl_ord_id=cl_ord_id(cmd.client_id),
            status="open",
            venue_order_id=txid,
            client_id=cmd.client_id,
            strategy=cmd.strategy,
            instrument=cmd.instrument,
            side=cmd.side,
            qty=cmd.qty,
            price=cmd.price,
        )

    def _rejected(self, cmd: SubmitOrder, code: str, detail: str) -> KrakenOrderReport:
        return KrakenOrderReport(
            venue=self.name,
            cl_ord_id=cl_ord_id(cmd.client_id),
            status="rejected",
            client_id=cmd.client_id,
            strategy=cmd.strategy,
            instrument=cmd.instrument,
            side=cmd.side,
            qty=cmd.qty,
            price=cmd.price,
            code=code,
            detail=detail,
        )

    def _cancel_refused(self, cmd: CancelOrder, code: str, detail: str) -> KrakenOrderReport:
        return KrakenOrderReport(
            venue=self.name,
            cl_ord_id=cl_ord_id(cmd.client_id) if cmd.client_id else "",
            status="cancel_rejected",
            venue_order_id=cmd.venue_order_id,
            client_id=cmd.client_id,
            strategy=cmd.strategy,
            instrument=cmd.instrument,
            code=code,
            detail=detail,
        )
