"""Check log output formats and that secrets never reach the stream."""

from __future__ import annotations

import io
import json
import re
import secrets
from collections.abc import Iterator

import msgspec
import pytest
import structlog

from runtime._errors import ConfigError
from runtime.logging import (
    configure_logging,
    get_logger,
    is_secret_key,
    redact_url,
    register_secret,
)

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    lines = stream.getvalue().splitlines()
    return [json.loads(line) for line in lines]


def test_json_output_is_one_object_per_line() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    log = get_logger("kernel", run_id="r1")
    log.info("actor_started", actor="ticker")
    log.warning("mailbox_full", actor="bars", depth=1024)
    records = json_lines(stream)
    assert len(records) == 2
    first = records[0]
    assert first["event"] == "actor_started"
    assert SNAKE_CASE.match(str(first["event"]))
    assert first["level"] == "info"
    assert first["logger"] == "kernel"
    assert first["run_id"] == "r1"
    assert first["actor"] == "ticker"
    assert str(first["timestamp"]).endswith("Z")  # ISO 8601, UTC
    assert records[1]["depth"] == 1024


def test_auto_format_is_json_off_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    get_logger().info("journal_flushed", rows=3)
    assert json_lines(stream)[0]["rows"] == 3


def test_level_filters_lower_events() -> None:
    stream = io.StringIO()
    configure_logging(level="warning", fmt="json", stream=stream)
    log = get_logger()
    log.info("hidden")
    log.debug("hidden_too")
    log.error("shown")
    assert [r["event"] for r in json_lines(stream)] == ["shown"]


def test_bad_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="`level` must be one of"):
        configure_logging(level="loud")


def test_secrets_are_redacted_by_key_also_nested() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    nested = {"headers": {"Authorization": "Bearer abc", "Accept": "json"}, "api_key": "k1"}
    get_logger().info(
        "venue_connected",
        password="hunter2",
        API_SECRET="s1",
        token="t1",
        token_file="control.token",
        request=nested,
        dsn="postgresql://kinetic:pw123@db:5432/kinetic",
    )
    record = json_lines(stream)[0]
    assert record["password"] == "***"
    assert record["API_SECRET"] == "***"
    assert record["token"] == "***"
    assert record["token_file"] == "control.token"  # where a secret lives is not a secret
    assert record["request"] == {
        "headers": {"Authorization": "***", "Accept": "json"},
        "api_key": "***",
    }
    assert record["dsn"] == "postgresql://kinetic:***@db:5432/kinetic"
    assert nested["api_key"] == "k1"  # the caller's objects are not mutated


def test_registered_secret_is_redacted_wherever_it_appears() -> None:
    secret = secrets.token_hex(16)
    register_secret(secret)
    register_secret("")  # ignored, or it would match everything
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    get_logger().info(
        "order_rejected",
        reason=f"venue said: bad key {secret}",
        raw=secret,
        items=[secret, "ok"],
    )
    text = stream.getvalue()
    assert secret not in text
    record = json_lines(stream)[0]
    assert record["reason"] == "venue said: bad key ***"
    assert record["raw"] == "***"
    assert record["items"] == ["***", "ok"]


def test_secrets_in_exceptions_are_redacted() -> None:
    secret = secrets.token_hex(16)
    register_secret(secret)
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    try:
        raise RuntimeError(f"login failed with {secret}")
    except RuntimeError:
        get_logger().exception("venue_login_failed")
    assert secret not in stream.getvalue()
    assert "venue_login_failed" in stream.getvalue()


def test_structs_are_logged_as_redacted_builtins() -> None:
    class Creds(msgspec.Struct):
        user: str
        password: str

    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    get_logger().info("creds_loaded", creds=Creds(user="u", password="p"))
    assert json_lines(stream)[0]["creds"] == {"user": "u", "password": "***"}


def test_console_format_when_asked() -> None:
    stream = io.StringIO()
    configure_logging(fmt="console", stream=stream)
    get_logger("kernel").info("actor_started", actor="ticker", api_key="k-123")
    line = stream.getvalue()
    assert not line.lstrip().startswith("{")
    assert "actor_started" in line
    assert "actor=ticker" in line
    assert "k-123" not in line
    assert "\x1b[" not in line  # no colours off a terminal


def test_reconfiguring_replaces_the_stream_for_existing_loggers() -> None:
    log = get_logger("early")
    first, second = io.StringIO(), io.StringIO()
    configure_logging(fmt="json", stream=first)
    log.info("one")
    configure_logging(fmt="json", stream=second)
    log.info("two")
    assert [r["event"] for r in json_lines(first)] == ["one"]
    assert [r["event"] for r in json_lines(second)] == ["two"]


def test_default_stream_is_stderr_at_write_time(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="json")
    get_logger().info("written_to_stderr")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err)["event"] == "written_to_stderr"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("db_passwd", True),
        ("apiKey", True),
        ("X-Api-Key", True),
        ("authorization", True),
        ("refresh_token", True),
        ("private_key", True),
        ("token_file", False),
        ("api_secret_env", False),
        ("instrument", False),
        ("dsn", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://user:pw@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("postgresql://user:p@ss@host/db", "postgresql://user:***@host/db"),
        ("host=db user=k password=pw dbname=x", "host=db user=k password=*** dbname=x"),
        ("https://x.test/?user=a&password=b", "https://x.test/?user=a&password=***"),
        ("no secrets here", "no secrets here"),
    ],
)
def test_redact_url(text: str, shown: str) -> None:
    assert redact_url(text) == shown
