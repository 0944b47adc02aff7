"""Move drawdown tiers from equity marks: measured from the peak, sticky until an admin resumes.

Equity is cash plus open positions at their marks (the exposure book valued in the equity
asset), read on every mark. The drawdown is how far it sits below the highest equity seen since
the last resume. Tiers only ever rise on their own: a recovering market does not lift a halt or a
size cut; an operator's global resume does, and re-bases the peak at the equity of that moment,
so the tier that was just left is not re-entered by the next mark.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.risk.config import DrawdownTierConfig
from agents.risk.messages import DrawdownTransition
from runtime import TradingState

MAX_TRANSITIONS = 1_000
"""The most transitions the gate keeps for its report; later ones are counted only."""

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_PCT = Decimal("0.0001")


class Tier(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A tier resolved for the hot path: its drawdown as a fraction, its size cut, its state."""

    number: int
    at_pct: Decimal
    at: Decimal
    size_multiplier: Decimal
    state: TradingState


def resolve(tiers: tuple[DrawdownTierConfig, ...], /) -> tuple[Tier, ...]:
    """Return `tiers` as fractions, numbered from 1 (tier 0 is none)."""
    return tuple(
        Tier(
            number=i,
            at_pct=t.at_pct,
            at=t.at_pct / _HUNDRED,
            size_multiplier=t.size_multiplier,
            state=t.state,
        )
        for i, t in enumerate(tiers, start=1)
    )


def drawdown_pct(equity: Decimal, peak: Decimal, /) -> Decimal:
    """Return how far `equity` is below `peak`, in percent, to 4 decimals (0 at or above it)."""
    if peak <= 0 or equity >= peak:
        return _ZERO
    return ((peak - equity) * _HUNDRED / peak).quantize(_PCT)


class DrawdownTracker(msgspec.Struct, kw_only=True):
    """The tier in force, the peak it is measured from, and the run's record for the report."""

    tier: int = 0
    peak: Decimal | None = None
    equity: Decimal | None = None
    high: Decimal | None = None
    """The highest equity of the run (the peak is re-based on resume; this is not)."""
    max_drawdown_pct: Decimal = _ZERO
    transitions: list[DrawdownTransition] = msgspec.field(default_factory=list)
    dropped: int = 0

    def observe(
        self, equity: Decimal, ts: int, tiers: tuple[Tier, ...], /
    ) -> DrawdownTransition | None:
        """Take a new equity; return the transition when it moves the tier up, else None."""
        self.equity = equity
        peak = self.peak
        if peak is None or equity > peak:
            self.peak = peak = equity
            if self.high is None or equity > self.high:
                self.high = equity
            return None
        fall = peak - equity
        reached = self.tier
        for tier in tiers[reached:]:
            if fall >= peak * tier.at:
                reached = tier.number
            else:
                break
        pct = drawdown_pct(equity, peak)
        self.max_drawdown_pct = max(self.max_drawdown_pct, pct)
        if reached == self.tier:
            return None
        return self._move(reached, ts, tiers[reached - 1].state, "risk:drawdown")

    def resume(self, ts: int, by: str, /) -> DrawdownTransition | None:
        """Leave the tier in force (an operator resumed); re-base the peak at the last equity."""
        if self.tier == 0:
            return None  # no tier to leave: the peak stands
        step = self._move(0, ts, "ACTIVE", by)
        self.peak = self.equity
        return step

    def multiplier(self, tiers: tuple[Tier, ...], /) -> Decimal | None:
        """Return the size multiplier in force, or None when no tier cuts order size."""
        if self.tier == 0:
            return None
        m = tiers[self.tier - 1].size_multiplier
        return m if m < 1 else None

    def _move(self, to: int, ts: int, state: TradingState, by: str, /) -> DrawdownTransition:
        equity = self.equity if self.equity is not None else _ZERO
        peak = self.peak if self.peak is not None else equity
        step = DrawdownTransition(
            ts=ts,
            from_tier=self.tier,
            to_tier=to,
            state=state,
            equity=equity,
            peak=peak,
            drawdown_pct=drawdown_pct(equity, peak),
            by=by,
        )
        self.tier = to
        if len(self.transitions) < MAX_TRANSITIONS:
            self.transitions.append(step)
        else:
            self.dropped += 1
        return step
