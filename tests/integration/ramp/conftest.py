"""A `kinetic run` daemon with the ramp desk, the Banxa adapter and the webhook ingress."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from adapters.banxa.mock import MOCK_KEY, MOCK_SECRET
from adapters.banxa.sign import authorization
from tests.integration.daemon import Daemon
from tests.integration.test_control_api import Api, free_port, make_tokens


def ramp_config(
    path: Path,
    *,
    port: int,
    hook_port: int,
    banxa: str = "mock = true, mock_step_secs = 0.05",
    approval_above: str = "0.05",
    poll_secs: float = 1.0,
) -> Path:
    desk = (f'approval_above = {{ BTC = "{approval_above}" }}, poll_secs = {poll_secs}, '
            "retry_secs = 0.5")
    path.write_text(
        f"""
mode = "paper"
seed = 5

[journal]
flush_interval_ms = 2.0
snapshot_every = 200

[control_api]
port = {port}

[webhooks]
enabled = true
port = {hook_port}

[[agents]]
name = "ramp"
kind = "ramp_desk"
role = "ramp"
params = {{ {desk} }}

[[adapters]]
name = "banxa"
kind = "banxa"
params = {{ {banxa}, backoff_secs = 0.05 }}

[[adapters]]
name = "wallets"
kind = "wallet_stub"
params = {{ confirm_secs = 0.1, poll_secs = 0.1 }}
"""
    )
    return path


class RampDaemon:
    def __init__(
        self,
        tmp: Path,
        *,
        env: dict[str, str] | None = None,
        hook_port: int | None = None,
        **cfg: object,
    ) -> None:
        self.data = tmp / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.port, self.hook_port = free_port(), hook_port or free_port()
        self.config = ramp_config(tmp / "ramp.toml", port=self.port, hook_port=self.hook_port,
                                  **cfg)  # type: ignore[arg-type]  # fmt: skip
        self.tokens = make_tokens(self.data)
        self.env = env or {}
        self.daemon: Daemon | None = None
        self.api: Api | None = None

    def start(self) -> RampDaemon:
        self.daemon = Daemon(self.config, self.data, env=self.env)
        ready = self.daemon.wait_for("runtime_ready", timeout=60)
        admin = (self.data / "control.token").read_text().strip()
        self.api = Api(ready["control_api"], {**self.tokens, "admin": admin})
        self.hooks = ready["webhooks"]
        return self

    def banxa_url(self) -> str:
        assert self.daemon is not None
        return str(self.daemon.wait_for("banxa_mock_mode")["url"])

    def stop(self) -> None:
        if self.api is not None:
            self.api.close()
        if self.daemon is not None and self.daemon.proc.poll() is None:
            self.daemon.stop()

    def order(self, ramp_id: str) -> dict[str, object]:
        assert self.api is not None
        r = self.api.as_("viewer").get(f"/ramp/orders/{ramp_id}")
        return r.json() if r.status_code == 200 else {}

    def wait_stage(self, ramp_id: str, stage: str, timeout: float = 20) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            o = self.order(ramp_id)
            if o.get("stage") == stage:
                return o
            time.sleep(0.05)
        raise AssertionError(f"{ramp_id} never reached {stage}: {self.order(ramp_id)}")


def signed_webhook(
    url: str, order_id: str, status: str, *, nonce: str | None = None, secret: str = MOCK_SECRET,
    body: bytes | None = None, key: str = MOCK_KEY,
) -> httpx.Response:  # fmt: skip
    raw = body or (f'{{"order_id":"{order_id}","status":"{status}",'
                   f'"status_date":"2026-12-03T10:00:00Z"}}').encode()  # fmt: skip
    n = nonce or str(time.time_ns() // 1_000_000)
    path = "/webhooks/banxa"
    auth = authorization(key, secret, "POST", path, n, raw)
    return httpx.post(f"{url}{path}", content=raw, headers={"Authorization": auth}, timeout=10)
