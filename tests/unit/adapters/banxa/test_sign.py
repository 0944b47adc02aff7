"""Banxa's signature: a golden vector computed independently, and properties of verify."""

from __future__ import annotations

import hashlib
import hmac
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.banxa.sign import (
    BAD_KEY,
    EXPIRED_NONCE,
    INVALID_NONCE,
    REUSED_NONCE,
    NonceSource,
    NonceWindow,
    SignatureError,
    authorization,
    compact_json,
    verify,
)

KEY, SECRET = "partner-key", "s3cr3t-partner"
NOW = 1_764_756_000_000


def test_golden_vector_with_a_body() -> None:
    body = compact_json({"account_reference": "r-1", "source": "EUR", "target": "BTC",
                         "source_amount": "250.00"})  # fmt: skip
    assert body == (
        b'{"account_reference":"r-1","source":"EUR","target":"BTC","source_amount":"250.00"}'
    )
    message = b"POST\n/api/orders\n1764756000000\n" + body
    expected = hmac.new(b"s3cr3t-partner", message, hashlib.sha256).hexdigest()
    header = authorization(KEY, SECRET, "POST", "/api/orders", "1764756000000", body)
    assert header == f"Bearer partner-key:{expected}:1764756000000"
    # and a fixed literal, so a change in the scheme cannot pass by changing both sides
    assert expected == hmac.new(
        SECRET.encode(),
        b'POST\n/api/orders\n1764756000000\n{"account_reference":"r-1","source":"EUR",'
        b'"target":"BTC","source_amount":"250.00"}',
        hashlib.sha256,
    ).hexdigest()


def test_golden_vector_of_a_get_signs_the_query_and_no_body() -> None:
    path = "/api/prices?source=EUR&target=BTC&source_amount=100"
    expected = hmac.new(SECRET.encode(), f"GET\n{path}\n42".encode(), hashlib.sha256).hexdigest()
    assert authorization(KEY, SECRET, "GET", path, "42") == f"Bearer {KEY}:{expected}:42"


def _verify(header: str, body: bytes, window: NonceWindow, now: int = NOW) -> tuple[str, str]:
    return verify(header, keys={KEY: SECRET}, method="POST", path="/api/orders", body=body,
                  window=window, now_ms=now)  # fmt: skip


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (authorization("other", SECRET, "POST", "/api/orders", str(NOW), b"{}"), BAD_KEY),
        (authorization(KEY, "wrong", "POST", "/api/orders", str(NOW), b"{}"), BAD_KEY),
        (authorization(KEY, SECRET, "POST", "/api/orders", "abc", b"{}"), INVALID_NONCE),
        (authorization(KEY, SECRET, "POST", "/api/orders", str(NOW - 301_000), b"{}"),
         EXPIRED_NONCE),
        ("Basic dXNlcjpwYXNz", BAD_KEY),
    ],
)  # fmt: skip
def test_bad_requests_get_banxas_codes(header: str, code: int) -> None:
    with pytest.raises(SignatureError) as err:
        _verify(header, b"{}", NonceWindow())
    assert err.value.code == code


def test_a_reused_nonce_and_a_lower_one_are_refused() -> None:
    w = NonceWindow()
    h = authorization(KEY, SECRET, "POST", "/api/orders", str(NOW), b"{}")
    assert _verify(h, b"{}", w) == (KEY, str(NOW))
    with pytest.raises(SignatureError) as err:
        _verify(h, b"{}", w)
    assert err.value.code == REUSED_NONCE
    lower = authorization(KEY, SECRET, "POST", "/api/orders", str(NOW - 5), b"{}")
    with pytest.raises(SignatureError) as err:
        _verify(lower, b"{}", w)
    assert err.value.code == INVALID_NONCE


def test_a_forged_request_burns_no_nonce() -> None:
    w = NonceWindow()
    forged = authorization(KEY, "guess", "POST", "/api/orders", str(NOW), b"{}")
    with pytest.raises(SignatureError):
        _verify(forged, b"{}", w)
    good = authorization(KEY, SECRET, "POST", "/api/orders", str(NOW), b"{}")
    assert _verify(good, b"{}", w)[1] == str(NOW)


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=200), st.data())
def test_any_tampered_byte_fails(body: bytes, data: st.DataObject) -> None:
    header = authorization(KEY, SECRET, "POST", "/api/orders", str(NOW), body)
    i = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:i] + bytes([body[i] ^ flip]) + body[i + 1 :]
    with pytest.raises(SignatureError) as err:
        _verify(header, tampered, NonceWindow())
    assert err.value.code == BAD_KEY
    assert _verify(header, body, NonceWindow()) == (KEY, str(NOW))


@given(st.lists(st.integers(0, 10**15), min_size=1, max_size=50))
def test_nonces_strictly_increase_whatever_the_clock_does(clock: list[int]) -> None:
    ticks = iter(clock)
    source = NonceSource(clock=lambda: next(ticks))
    got = [int(source()) for _ in clock]
    assert all(b > a for a, b in itertools.pairwise(got))
