"""Measure a strategy's run: equity per bar, its fills, and the metrics people judge it by.

Kind `performance`. It follows one strategy on one instrument: bars (marks), the strategy's
approved intents (its quotes), and its venue events (fills, with fees). Cash and position are
exact `Decimal`s from the starting balances and the fills; the statistics (Sharpe, drawdown,
inventory) are float64. At the end it publishes a `BacktestMetrics` report (journaled, so a
replay verifies the metrics too), which `kinetic backtest` writes to `metrics.json`; the per-bar
and per-fill rows, and the plots, come from `artifacts()`, which the backtest calls after the run.

Definitions (docs/backtest.md): equity = quote cash + base position * the bar's close; returns are
per bar; Sharpe and Sortino are annualised by sqrt(bars per year) with a 24/7 year; max drawdown
is the largest fall from the running equity peak, as a fraction of that peak; quote uptime is the
fraction of bars entered with both a bid and an ask accepted at the venue.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from array import array
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar, overload

import msgspec

from agents.data.messages import Bar
from agents.execution.messages import OrderAccepted, OrderFilled, VenueEvent
from agents.risk.messages import OrderApproved
from runtime import Actor, ConfigBase, Message

ZERO = Decimal(0)
YEAR_SECS = 365 * 24 * 3600


class PerformanceConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of kind `performance`: whom to follow and the starting balances."""

    strategy: str
    instrument: str = "BTC/USDT"
    cash: Decimal = Decimal(1_000_000)
    """Starting balance of the quote asset."""
    position: Decimal = ZERO
    """Starting balance of the base asset (the peers start with 10 BTC; the metrics count the
    change in it as the strategy's inventory)."""


class BacktestMetrics(Message, frozen=True, kw_only=True, tag="execution.BacktestMetrics"):
    """Summarise one strategy's run (written to `metrics.json`)."""

    report: ClassVar[bool] = True
    artifact: ClassVar[str | None] = "metrics.json"

    strategy: str
    instrument: str
    bars: int
    orders: int
    fills: int
    fill_rate: float
    """Orders with at least one fill, over orders accepted."""
    initial_equity: Decimal
    final_equity: Decimal
    pnl: Decimal
    return_pct: float
    sharpe: float
    sortino: float
    max_drawdown: float
    """Largest fall from the equity peak, as a fraction of the peak."""
    turnover: float
    """Traded notional over the initial equity."""
    fees: Decimal
    final_cash: Decimal
    final_inventory: Decimal
    inventory_mean: float
    inventory_std: float
    inventory_max: float
    """Largest absolute inventory."""
    quote_uptime: float


class PerformanceState(msgspec.Struct, kw_only=True):
    """Exact balances and counters (the per-bar rows are not state: artifacts, not recovery)."""

    cash: Decimal = ZERO
    inventory: Decimal = ZERO
    fees: Decimal = ZERO
    notional: Decimal = ZERO
    orders: int = 0
    filled_orders: int = 0
    fills: int = 0
    bars: int = 0
    two_sided_bars: int = 0
    last_close: Decimal = ZERO


_NAN = float("nan")


class BarSeries(Sequence[tuple[int, float, float, float, float, float]]):
    """Per bar `(end_ns, open, high, low, close, volume)`, kept as columns of machine numbers.

    A list of tuples of floats costs about 230 bytes a bar; two arrays (the end times, and the
    five prices a bar side by side) cost 48, which keeps a run over a quarter of 1-minute
    candles (130,708 bars) tens of MiB lighter; a bar is one `append` and one `fromlist`.
    """

    __slots__ = ("end_ns", "ohlcv")

    def __init__(self) -> None:
        self.end_ns = array("q")
        self.ohlcv = array("d")
        """open, high, low, close, volume of every bar, five floats a bar."""

    def add(self, end_ns: int, o: float, h: float, lo: float, c: float, v: float, /) -> None:
        """Append one bar."""
        self.end_ns.append(end_ns)
        self.ohlcv.fromlist([o, h, lo, c, v])

    def __len__(self) -> int:
        return len(self.end_ns)

    @overload
    def __getitem__(self, i: int, /) -> tuple[int, float, float, float, float, float]: ...
    @overload
    def __getitem__(
        self, i: slice, /
    ) -> Sequence[tuple[int, float, float, float, float, float]]: ...
    def __getitem__(self, i: int | slice, /) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        end = self.end_ns[i]  # raises IndexError past the end; normalises a negative index
        j = 5 * (i if i >= 0 else len(self.end_ns) + i)
        return (end, *self.ohlcv[j : j + 5])


class SampleSeries(Sequence[tuple[float | None, float | None, float, float]]):
    """Per bar `(bid, ask, inventory, equity)`: the quotes after it (None: that side did not
    quote; stored as NaN), the inventory and the equity at its close. Four floats a sample,
    side by side in one array, as `BarSeries`."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values = array("d")
        """bid, ask, inventory, equity of every sample, four floats a sample."""

    def add(self, bid: float | None, ask: float | None, inventory: float, equity: float, /) -> None:
        """Append one sample."""
        self.values.fromlist(
            [_NAN if bid is None else bid, _NAN if ask is None else ask, inventory, equity]
        )

    @property
    def inventory(self) -> array[float]:
        """Return the inventory of every sample."""
        return self.values[2::4]

    @property
    def equity(self) -> array[float]:
        """Return the equity of every sample."""
        return self.values[3::4]

    def __len__(self) -> int:
        return len(self.values) // 4

    @overload
    def __getitem__(self, i: int, /) -> tuple[float | None, float | None, float, float]: ...
    @overload
    def __getitem__(
        self, i: slice, /
    ) -> Sequence[tuple[float | None, float | None, float, float]]: ...
    def __getitem__(self, i: int | slice, /) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError("sample index out of range")
        j = 4 * (i if i >= 0 else n + i)
        bid, ask, inventory, equity = self.values[j : j + 4]
        return (None if math.isnan(bid) else bid, None if math.isnan(ask) else ask,
                inventory, equity)  # fmt: skip


class Performance(Actor):
    """Follow one strategy; publish its `BacktestMetrics` when the run stops."""

    Params = PerformanceConfig

    def __init__(self, params: PerformanceConfig) -> None:
        self.params = params
        self.state = PerformanceState(cash=params.cash)
        self.bars = BarSeries()
        self.samples = SampleSeries()
        """Per bar: bid and ask quoted after it, inventory, equity."""
        self.fill_rows: list[tuple[Any, ...]] = []
        self._sides: set[str] = set()
        self._quote: list[float | None] = [None, None]
        self._seen_fill: set[str] = set()
        self._side_of: dict[str, str] = {}
        self._held()

    def restore(self, data: bytes, /) -> None:
        super().restore(data)
        self._held()

    def _held(self) -> None:
        """Derive what the per-bar sample reads from the state, once per change of it: the
        base held (starting position plus inventory) and, as floats, inventory and cash."""
        st = self.state
        self._hold = self.params.position + st.inventory
        self._inventory_f = float(st.inventory)
        self._cash_f = float(st.cash + ZERO)  # what cash + 0 x close gives, rounding included

    def on_start(self) -> None:
        p = self.params
        self.ctx.subscribe(Bar, key=p.instrument)
        self.ctx.subscribe(VenueEvent, key=p.strategy)
        self.ctx.subscribe(OrderApproved)

    def on_bar(self, msg: Bar) -> None:
        st = self.state
        if st.bars:  # `_close_interval`, inlined
            hold = self._hold
            # Equity is cash + held x close; with nothing held that is the cash, kept as a float.
            equity = float(st.cash + hold * st.last_close) if hold else self._cash_f
            quote = self._quote
            bid, ask = quote
            self.samples.values.fromlist(
                [_NAN if bid is None else bid, _NAN if ask is None else ask, self._inventory_f,
                 equity]
            )  # fmt: skip
            quote[0] = quote[1] = None
        st.bars += 1
        st.last_close = msg.close
        sides = self._sides
        if len(sides) == 2:
            st.two_sided_bars += 1
        sides.clear()
        bars = self.bars  # `BarSeries.add`, inlined: this runs for every bar
        bars.end_ns.append(msg.end_ns)
        bars.ohlcv.fromlist([float(msg.open), float(msg.high), float(msg.low), float(msg.close),
                             float(msg.volume)])  # fmt: skip

    def _close_interval(self) -> None:
        st = self.state
        hold = self._hold
        # Equity is cash + held x close; with nothing held that is the cash, whose float is kept.
        equity = float(st.cash + hold * st.last_close) if hold else self._cash_f
        quote = self._quote
        bid, ask = quote
        self.samples.values.fromlist(  # `SampleSeries.add`, inlined
            [_NAN if bid is None else bid, _NAN if ask is None else ask, self._inventory_f, equity]
        )
        quote[0] = quote[1] = None

    def on_approved(self, msg: OrderApproved) -> None:
        intent = msg.intent
        if intent.strategy != self.params.strategy or intent.price is None:
            return
        self._quote[0 if intent.side == "buy" else 1] = float(intent.price)
        self._side_of[intent.client_id] = intent.side

    def on_accepted(self, msg: OrderAccepted) -> None:
        self.state.orders += 1
        side = self._side_of.pop(msg.client_id, None)
        if side is not None:
            self._sides.add(side)

    def on_filled(self, msg: OrderFilled) -> None:
        st = self.state
        value = msg.qty * msg.price
        if msg.side == "buy":
            st.cash -= value
            st.inventory += msg.qty
        else:
            st.cash += value
            st.inventory -= msg.qty
        st.cash -= msg.fee
        st.fees += msg.fee
        st.notional += value
        st.fills += 1
        self._held()
        if msg.client_id not in self._seen_fill:
            self._seen_fill.add(msg.client_id)
            st.filled_orders += 1
        self.fill_rows.append(
            (self.ctx.now, msg.client_id, msg.side, msg.qty, msg.price, msg.fee, msg.liquidity,
             st.inventory, st.cash)
        )  # fmt: skip

    def on_stop(self) -> None:
        if self.state.bars:
            self._close_interval()
        self.ctx.publish(self.metrics())

    def metrics(self) -> BacktestMetrics:
        """Compute the run's metrics from the balances and the per-bar samples."""
        st, p = self.state, self.params
        mark = st.last_close
        start = p.cash + p.position * (Decimal(str(self.bars[0][1])) if self.bars else ZERO)
        final = st.cash + (p.position + st.inventory) * mark
        equity = self.samples.equity.tolist()
        inv = self.samples.inventory.tolist()
        rets = [b / a - 1.0 for a, b in itertools.pairwise(equity) if a]
        bar_secs = (self.bars[1][0] - self.bars[0][0]) / 1e9 if len(self.bars) > 1 else 60.0
        scale = math.sqrt(YEAR_SECS / bar_secs) if bar_secs > 0 else 0.0
        mean = sum(rets) / len(rets) if rets else 0.0
        sd = _std(rets)
        down = math.sqrt(sum(min(r, 0.0) ** 2 for r in rets) / len(rets)) if rets else 0.0
        peak, mdd = -math.inf, 0.0
        for e in equity:
            peak = max(peak, e)
            if peak > 0:
                mdd = max(mdd, (peak - e) / peak)
        return BacktestMetrics(
            strategy=p.strategy,
            instrument=p.instrument,
            bars=st.bars,
            orders=st.orders,
            fills=st.fills,
            fill_rate=st.filled_orders / st.orders if st.orders else 0.0,
            initial_equity=start,
            final_equity=final,
            pnl=final - start,
            return_pct=float((final - start) / start * 100) if start else 0.0,
            sharpe=mean / sd * scale if sd else 0.0,
            sortino=mean / down * scale if down else 0.0,
            max_drawdown=mdd,
            turnover=float(st.notional / start) if start else 0.0,
            fees=st.fees,
            final_cash=st.cash,
            final_inventory=st.inventory,
            inventory_mean=sum(inv) / len(inv) if inv else 0.0,
            inventory_std=_std(inv),
            inventory_max=max((abs(x) for x in inv), default=0.0),
            quote_uptime=st.two_sided_bars / st.bars if st.bars else 0.0,
        )

    def artifacts(self) -> dict[str, bytes]:
        """Return `market_data.csv`, `trades.csv` and the PNG plots, for the backtest to write."""
        from agents.execution.plots import plot_run

        md = io.StringIO()
        w = csv.writer(md, lineterminator="\n")
        w.writerow(["ts_ns", "open", "high", "low", "close", "volume", "bid", "ask", "inventory",
                    "equity"])  # fmt: skip
        for bar, sample in zip(self.bars, self.samples, strict=False):
            w.writerow([*bar, *("" if v is None else v for v in sample)])
        tr = io.StringIO()
        w = csv.writer(tr, lineterminator="\n")
        w.writerow(["ts_ns", "client_id", "side", "qty", "price", "fee", "liquidity", "inventory",
                    "cash"])  # fmt: skip
        w.writerows(self.fill_rows)
        files = {"market_data.csv": md.getvalue().encode(), "trades.csv": tr.getvalue().encode()}
        files.update(plot_run(self.bars, self.samples, self.fill_rows))
        return files


def _std(xs: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    m = sum(xs) / n
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
