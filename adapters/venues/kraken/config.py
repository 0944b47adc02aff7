"""Configure the Kraken venue (where its API is, how it polls and reconciles) and its tracker.

Credentials are not config: they come from `EXCHANGE_API_KEY` and `EXCHANGE_API_SECRET` in the
daemon's environment, so no file, journal or artifact ever holds them.
"""

from __future__ import annotations

import msgspec

from runtime.config import (
    ConfigBase,
    NonEmptyStr,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)


class KrakenVenueConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of adapter kind `kraken` (the adapter's name is the `venue` orders name)."""

    api_url: NonEmptyStr | None = None
    """Replace the origin of ccxt's Kraken URLs (`http://127.0.0.1:8788`: the fake Kraken)."""
    symbols: dict[str, str] = msgspec.field(default_factory=dict)
    """Instrument -> ccxt symbol, where they differ; an instrument not listed is its symbol."""
    poll_interval_ms: PositiveInt = 1000
    """Time between two polls of open orders, closed orders and own trades."""
    lookback_secs: PositiveFloat = 86_400.0
    """How far back the first poll after a start looks for fills and closed orders: longer
    than any downtime, or fills made while the daemon was down are never reported."""
    overlap_secs: NonNegativeFloat = 60.0
    """Each poll looks this far behind the newest trade and close it saw (late history rows)."""
    in_flight_ms: NonNegativeFloat = 2000.0
    """How long a request may still be on its way to Kraken: an unconfirmed order is looked
    up only this long after it was sent, so a late arrival is not taken for `not placed`."""
    reconcile_skew_secs: NonNegativeFloat = 300.0
    """An order found by client id that opened more than this before the command was
    journaled is someone else's (a reused id): reconciliation says `unknown`."""
    timeout_ms: PositiveInt = 10_000
    """Longest one HTTP request may take."""
    retries: NonNegativeInt = 3
    """Network failures retried per read (polls, look-ups); orders and cancels are never
    retried, they are looked up."""
    retry_backoff_ms: NonNegativeFloat = 500.0
    """Wait before the first retry of a read; doubled before each next one."""
    rate_limit: bool | None = None
    """ccxt's request throttle. Unset: on for Kraken, off when `api_url` is set."""

    @property
    def throttled(self) -> bool:
        """Return whether ccxt's rate limiter is on."""
        return self.rate_limit if self.rate_limit is not None else self.api_url is None


class KrakenTrackerConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of the tracker actor (`adapters.venues.kraken:KrakenTracker`)."""

    venue: NonEmptyStr = "kraken"
    """The name of the `kraken` adapter whose reports this tracker turns into venue events."""
