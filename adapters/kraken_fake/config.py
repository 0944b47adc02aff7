"""Configure the fake Kraken: where its recordings are, where it listens, how it misbehaves."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from adapters.kraken_fake.app import FakeKraken
from adapters.kraken_fake.recordings import KrakenRecordings
from runtime.config import ConfigBase, NonEmptyStr, NonNegativeFloat, NonNegativeInt, PositiveInt

PortOrZero = Annotated[int, Meta(ge=0, le=65535)]


class FakeKrakenConfig(ConfigBase, frozen=True, kw_only=True):
    """Options of the fake Kraken (`python -m adapters.kraken_fake`, tests, mock mode)."""

    data_dir: NonEmptyStr = "../shared/data"
    """Directory of the recordings (`kraken_*`, `ccxt_static_response_kraken.json`)."""
    host: NonEmptyStr = "127.0.0.1"
    """Address to listen on; loopback unless you mean otherwise."""
    port: PortOrZero = 8788
    """Port to listen on; 0 picks a free one."""
    latency_ms: NonNegativeFloat = 0.0
    """Delay before every reply."""
    fail_after: NonNegativeInt | None = None
    """Answer the requests after the first N with HTTP 503 `EService:Unavailable`."""
    fail_count: PositiveInt | None = None
    """How many requests fail after `fail_after`; unset: all of them."""
    ohlc_page: PositiveInt = 720
    """Most candles one `OHLC` reply holds (Kraken: 720)."""

    def build(self) -> FakeKraken:
        """Load the recordings and return the fake venue (not yet serving)."""
        return FakeKraken(
            KrakenRecordings.from_dir(self.data_dir),
            latency_ms=self.latency_ms,
            fail_after=self.fail_after,
            fail_count=self.fail_count,
            ohlc_page=self.ohlc_page,
        )
