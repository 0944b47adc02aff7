"""Configure the ccxt public-data client: which exchange, where its API is, how hard to retry.

Public market data needs no credentials, so the same client serves paper and live mode (and
backfills from the shell). `api_url` points every API base URL of the exchange at another
origin: that is how mock mode and tests target the fake Kraken (`adapters.kraken_fake`).
"""

from __future__ import annotations

from runtime.config import ConfigBase, NonEmptyStr, NonNegativeFloat, NonNegativeInt, PositiveInt


class CcxtDataConfig(ConfigBase, frozen=True, kw_only=True):
    """Options of `CcxtPublicData` (kind `ccxt_public`)."""

    exchange: NonEmptyStr = "kraken"
    """The ccxt exchange id (`kraken`, `binance`, ...)."""
    api_url: NonEmptyStr | None = None
    """Replace the scheme, host and port of every URL in ccxt's `exchange.urls['api']`
    (`http://127.0.0.1:8788` for the fake Kraken); the paths stay the exchange's."""
    rate_limit: bool | None = None
    """ccxt's own request throttle (`enableRateLimit`). Unset: on for the venue, off when
    `api_url` is set (a local fake has no limits)."""
    timeout_ms: PositiveInt = 10_000
    """Longest one HTTP request may take."""
    retries: NonNegativeInt = 3
    """Network failures (timeouts, 5xx, `ExchangeNotAvailable`) retried per request."""
    retry_backoff_ms: NonNegativeFloat = 500.0
    """Wait before the first retry; doubled before each next one."""

    @property
    def throttled(self) -> bool:
        """Return whether ccxt's rate limiter is on."""
        return self.rate_limit if self.rate_limit is not None else self.api_url is None
