"""Describe the assets and pairs the fake Kraken lists: `/0/public/Assets` and `AssetPairs`.

No reply of these two endpoints is recorded in `../shared/data`, and ccxt's `load_markets`
needs both, so they are written here by hand in Kraken's documented format
(https://docs.kraken.com/api-reference/market-data/get-tradable-asset-pairs), limited to the
pairs whose market data is recorded. Precision follows the recordings: XBT/USDC prices carry 2
decimals in Kraken's OHLCVT file, XBT/USD and XBT/USDT 1. LTC/USD, LTC/USDT and ETH/USDT have no
market data; they are listed because ccxt's recorded requests (`ccxt_static_request_kraken.json`)
name them, and the private API's tests replay those requests.

Kraken names a pair two ways: its id (the key, `XXBTZUSD`, legacy X/Z-prefixed for old pairs)
and its `altname` (`XBTUSD`). Requests may use either; replies are keyed by the id.
"""

from __future__ import annotations

from typing import Any

_FEES = [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22], [250000, 0.2]]
_FEES_MAKER = [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12], [250000, 0.1]]

ASSETS: dict[str, dict[str, Any]] = {
    "XXBT": {
        "aclass": "currency",
        "altname": "XBT",
        "decimals": 10,
        "display_decimals": 5,
        "collateral_value": 1.0,
        "status": "enabled",
    },
    "ZUSD": {
        "aclass": "currency",
        "altname": "USD",
        "decimals": 4,
        "display_decimals": 2,
        "collateral_value": 1.0,
        "status": "enabled",
    },
    "USDT": {
        "aclass": "currency",
        "altname": "USDT",
        "decimals": 8,
        "display_decimals": 4,
        "collateral_value": 1.0,
        "status": "enabled",
    },
    "USDC": {
        "aclass": "currency",
        "altname": "USDC",
        "decimals": 8,
        "display_decimals": 4,
        "collateral_value": 1.0,
        "status": "enabled",
    },
    "XLTC": {
        "aclass": "currency",
        "altname": "LTC",
        "decimals": 10,
        "display_decimals": 5,
        "collateral_value": 1.0,
        "status": "enabled",
    },
    "XETH": {
        "aclass": "currency",
        "altname": "ETH",
        "decimals": 10,
        "display_decimals": 5,
        "collateral_value": 1.0,
        "status": "enabled",
    },
}


def _pair(altname: str, wsname: str, base: str, quote: str, pair_decimals: int) -> dict[str, Any]:
    return {
        "altname": altname,
        "wsname": wsname,
        "aclass_base": "currency",
        "base": base,
        "aclass_quote": "currency",
        "quote": quote,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": pair_decimals,
        "lot_decimals": 8,
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        "fees": _FEES,
        "fees_maker": _FEES_MAKER,
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": "0.00005",
        "costmin": "0.5",
        "tick_size": str(10**-pair_decimals) if pair_decimals else "1",
        "status": "online",
    }


ASSET_PAIRS: dict[str, dict[str, Any]] = {
    "XXBTZUSD": _pair("XBTUSD", "XBT/USD", "XXBT", "ZUSD", 1),
    "XBTUSDT": _pair("XBTUSDT", "XBT/USDT", "XXBT", "USDT", 1),
    "XBTUSDC": _pair("XBTUSDC", "XBT/USDC", "XXBT", "USDC", 2),
    "XLTCZUSD": _pair("LTCUSD", "LTC/USD", "XLTC", "ZUSD", 2),
    "LTCUSDT": _pair("LTCUSDT", "LTC/USDT", "XLTC", "USDT", 2),
    "ETHUSDT": _pair("ETHUSDT", "ETH/USDT", "XETH", "USDT", 2),
}

_BY_NAME = {
    **{info["altname"]: pair for pair, info in ASSET_PAIRS.items()},
    **{info["wsname"]: pair for pair, info in ASSET_PAIRS.items()},
    **{pair: pair for pair in ASSET_PAIRS},
}


def pair_id(name: str, /) -> str | None:
    """Return the id of the pair Kraken knows as `name` (id, altname or wsname), or None."""
    return _BY_NAME.get(name)
