"""Fuzz the control API from its own OpenAPI schema (schemathesis), against a real daemon.

Bounded, so CI stays fast: a few examples per operation. The checks are the two the issue asks
for: no input gets a 5xx, and every response (status, content type, body, headers) is one the
schema declares. The event stream never ends, so it is left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.daemon import Daemon
from tests.integration.test_control_api import free_port, write_config

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


RAMP = """
[webhooks]
enabled = true
port = {hook_port}

[[agents]]
name = "ramp"
kind = "ramp_desk"
role = "ramp"

[[adapters]]
name = "banxa"
kind = "banxa"
params = {{ mock = true, mock_step_secs = 0.2 }}

[[adapters]]
name = "wallets"
kind = "wallet_stub"
"""


class Served:
    """A running daemon's API root and its admin token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("fuzz")
    data = tmp / "var"
    config = write_config(tmp / "daemon.toml", port=free_port())
    # The ramp desk and its providers (mock mode), so `/ramp/*` and `/wallets/*` are fuzzed too.
    config.write_text(config.read_text() + RAMP.format(hook_port=free_port()))
    d = Daemon(config, data, env={"MOCK_MODE": "true"})
    try:
        url = d.wait_for("runtime_ready", timeout=60)["control_api"]
        yield Served(url, (data / "control.token").read_text().strip())
    finally:
        assert d.stop() == 0
    assert not [e for e in d.events() if e.get("event") == "control_api_failed"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gets_a_5xx_and_responses_match_the_schema(
    served: Served, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json").exclude(
        path="/events/stream"
    )
    headers = {"Authorization": f"Bearer {served.token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    failures: list[str] = []

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

        try:
            fuzz()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE, operation.path  # no input to get wrong
        except Exception as exc:  # keep going: report every failing operation at once
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
