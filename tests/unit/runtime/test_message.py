"""Messages round-trip msgpack and JSON by tag; the registry refuses clashing tags."""

from __future__ import annotations

import inspect
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.data.messages import Bar, Tick
from runtime import CODEC, Envelope, Message, RegistryError, TradingStateChanged, message_types


def test_every_registered_message_is_frozen_kw_only_and_tagged() -> None:
    for tag, mtype in message_types().items():
        cfg = mtype.__struct_config__
        assert cfg.frozen, tag
        params = inspect.signature(mtype).parameters.values()
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params), tag
        assert cfg.tag == tag
        assert cfg.tag_field == "type"


@given(
    seq=st.integers(1, 2**62),
    ts=st.integers(0, 2**62),
    price=st.decimals(
        allow_nan=False, allow_infinity=False, places=8, min_value=0, max_value=10**9
    ),
    corr=st.text(max_size=20),
    cause=st.integers(0, 2**40),
    inp=st.booleans(),
)
def test_envelope_round_trips_msgpack_exactly(
    seq: int, ts: int, price: Decimal, corr: str, cause: int, inp: bool
) -> None:
    env = Envelope(
        seq,
        ts,
        "ticker",
        Tick(instrument="BTC/USDT", price=price, size=Decimal("0.5")),
        "",
        corr,
        cause,
        inp,
    )
    data = CODEC.encode(env)
    back = CODEC.decode(data)
    assert back == env
    assert isinstance(back.msg, Tick)
    assert back.msg.price == price  # exact: Decimal, never float
    assert CODEC.encode(back) == data  # canonical bytes: what the hash chain covers


def test_message_round_trips_json_by_tag() -> None:
    bar = Bar(
        instrument="ETH/USDT",
        start_ns=0,
        end_ns=60,
        open=Decimal("1.1"),
        high=Decimal("2"),
        low=Decimal("1"),
        close=Decimal("1.5"),
        volume=Decimal("3.25"),
        trades=4,
    )
    raw = CODEC.message_to_json(bar)
    assert b'"type":"data.Bar"' in raw
    assert CODEC.message_from_json(raw) == bar
    halted = TradingStateChanged(scope="global", target="*", state="HALTED", reason="r", by="op")
    assert CODEC.decode_message(CODEC.encode_message(halted)) == halted


def test_bad_json_names_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.price"):
        CODEC.message_from_json(b'{"type":"data.Tick","instrument":"X","price":"abc","size":"1"}')


def test_a_clashing_tag_is_refused_with_both_names() -> None:
    class Clash(Message, frozen=True, kw_only=True, tag="data.Tick"):
        x: int

    try:
        with pytest.raises(RegistryError, match=r"data\.Tick.*taken"):
            message_types()
    finally:
        del Clash
        import gc

        gc.collect()
    assert message_types()["data.Tick"] is Tick
