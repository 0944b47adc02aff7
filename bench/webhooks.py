"""Measure the webhook ingress: verified Banxa webhooks per second, their p99, double credits.

A real daemon (`kinetic run`, a subprocess, mock mode with the fake Banxa in it and no
auto-advance, the ramp desk, the stub wallets, journal level `full` into SQLite) holds K on-ramp
orders (quick 50, full 300), each set `complete` at the fake. A load generator in a second
process (`python -m bench.webhooks --loadgen`: 16 keep-alive connections, each sending its next
request when the last answered) then posts N signed webhooks (quick 3,000, full 20,000) cycling
over the orders and the six statuses of a buy: every one is verified (HMAC over the path and the
raw body, key, nonce fresh and unused), the first of each (order, status) enters the bus and
makes the desk fetch the order from the fake Banxa, the rest are answered as duplicates.

Figures:
- `webhooks.verified_per_s`: deliveries answered 200 per second of the load. Goal >= 1,000
  (value). Baseline: `GET /health` of the same daemon under the same load generator.
- `webhooks.p99_ms`: p99 latency of a delivery, request sent to answer received. Goal <= 50.
- `webhooks.double_credits`: wallet credits beyond one per order, counted in the journal once
  every order completed. Goal 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench._measure import Figure, bench_dir, figure, percentile
from bench.control_api import _free_port, _parse_head

REPO = Path(__file__).resolve().parents[1]
CONCURRENCY = 16
STATUSES = ["pendingPayment", "waitingPayment", "paymentReceived", "inProgress",
            "coinTransferred", "complete"]  # fmt: skip
GOAL_RPS = 1_000.0
GOAL_P99_MS = 50.0


def _config(path: Path, port: int, hook_port: int) -> Path:
    path.write_text(
        f"""
mode = "paper"
[journal]
level = "full"
[control_api]
port = {port}
[webhooks]
enabled = true
port = {hook_port}
[[agents]]
name = "ramp"
kind = "ramp_desk"
role = "ramp"
params = {{ poll_secs = 3600.0 }}
[[adapters]]
name = "banxa"
kind = "banxa"
params = {{ mock = true, mock_step_secs = 0 }}
[[adapters]]
name = "wallets"
kind = "wallet_stub"
"""
    )
    return path


@contextlib.contextmanager
def _daemon(tmp: Path) -> Iterator[dict[str, Any]]:
    port, hook_port = _free_port(), _free_port()
    config = _config(tmp / "bench.toml", port, hook_port)
    data, log_path = tmp / "var", tmp / "daemon.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINETIC_")}
    env["MOCK_MODE"] = "true"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runtime", "--config", str(config), "--data-dir", str(data),
             "--log-format", "json", "run"],
            stdout=subprocess.DEVNULL, stderr=log, cwd=REPO, env=env,
        )  # fmt: skip
        try:
            found: dict[str, Any] = {}
            deadline = time.monotonic() + 60
            while "control_api" not in found and time.monotonic() < deadline:
                for line in log_path.read_text().splitlines():
                    with contextlib.suppress(json.JSONDecodeError):
                        e = json.loads(line)
                        if e.get("event") == "banxa_mock_mode":
                            found["banxa"] = e["url"]
                        if e.get("event") == "runtime_ready":
                            found.update(control_api=e["control_api"], hooks=e["webhooks"])
                if proc.poll() is not None:
                    raise RuntimeError(log_path.read_text()[-2000:])
                time.sleep(0.05)
            found["token"] = (data / "control.token").read_text().strip()
            yield found
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _requests(spec: dict[str, Any]) -> list[bytes]:
    from adapters.banxa.mock import MOCK_KEY, MOCK_SECRET
    from adapters.banxa.sign import authorization

    base = time.time_ns() // 1_000_000 - 200_000  # unique, and fresh for the next 500 s
    out = []
    pairs = itertools.cycle(itertools.product(STATUSES, spec["orders"]))
    for i in range(int(spec["n"])):
        status, oid = next(pairs)
        body = (f'{{"order_id":"{oid}","status":"{status}",'
                f'"status_date":"2026-12-03T00:00:00Z"}}').encode()  # fmt: skip
        nonce = str(base + i)
        auth = authorization(MOCK_KEY, MOCK_SECRET, "POST", "/webhooks/banxa", nonce, body)
        head = (
            f"POST /webhooks/banxa HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    host, _, port = str(spec["url"]).removeprefix("http://").rpartition(":")
    if spec.get("orders"):
        reqs = _requests(spec)
    else:
        token = spec["token"]
        reqs = [f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}"
                f"\r\n\r\n".encode()] * int(spec["n"])  # fmt: skip
    conns = [await asyncio.open_connection(host, int(port)) for _ in range(CONCURRENCY)]
    clock = time.perf_counter
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    it = iter(reqs)

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for req in it:
            s = clock()
            writer.write(req)
            status, length = _parse_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
            await reader.readexactly(length)
            latencies.append(clock() - s)
            codes[status] += 1

    t0 = clock()
    await asyncio.gather(*(worker(r, w) for r, w in conns))
    elapsed = clock() - t0
    for _, w in conns:
        w.close()
    return {"requests": len(latencies), "seconds": elapsed, "rps": codes[200] / elapsed,
            "p99_ms": percentile(latencies, 99) * 1e3, "codes": dict(codes)}  # fmt: skip


def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.webhooks", "--loadgen"], input=json.dumps(spec),
        capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def run(quick: bool) -> list[Figure]:
    """Start a mock-mode daemon with K orders, flood its ingress with signed webhooks."""
    k, n = (50, 3_000) if quick else (300, 20_000)
    with (
        tempfile.TemporaryDirectory(prefix="kinetic-bench-", dir=bench_dir()) as tmp,
        _daemon(Path(tmp)) as d,
    ):
        api = httpx.Client(base_url=d["control_api"], timeout=30,
                           headers={"Authorization": f"Bearer {d['token']}"})  # fmt: skip
        for i in range(k):
            r = api.post("/ramp/orders", json={"side": "buy", "user": f"u{i % 7}", "fiat": "EUR",
                          "coin": "BTC", "fiat_amount": "100", "ramp_id": f"b-{i}"})  # fmt: skip
            r.raise_for_status()
        orders: list[str] = []
        deadline = time.monotonic() + 60
        while len(orders) < k and time.monotonic() < deadline:
            listed = api.get("/ramp/orders", params={"stage": "open"}).json()["orders"]
            orders = [o["provider_order_id"] for o in listed]
            time.sleep(0.1)
        for oid in orders:  # the provider is done; its webhooks now straggle in
            httpx.post(f"{d['banxa']}/_admin/orders/{oid}/status", json={"status": "complete"})
        base = _loadgen({"url": d["control_api"], "token": d["token"], "n": n})
        hooks = _loadgen({"url": d["hooks"], "orders": orders, "n": n})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = api.get("/ramp/orders", params={"stage": "complete"}).json()["count"]
            if done == k:
                break
            time.sleep(0.2)
        credits: Counter[str] = Counter()
        after = 0
        while True:
            page = api.get("/events", params={"type": "ramp.WalletChanged", "limit": 1000,
                                              "after": after}).json()  # fmt: skip
            credits.update(e["msg"]["ramp_id"] for e in page["events"])
            if len(page["events"]) < 1000:
                break
            after = page["next_after"]
        api.close()
    doubles = sum(c - 1 for c in credits.values() if c > 1)
    note = (f"{n:,} deliveries over {k} orders, {hooks['codes']}; {done}/{k} orders complete, "
            f"{sum(credits.values())} credits")  # fmt: skip
    return [
        figure("webhooks.verified_per_s", hooks["rps"], "req/s", baseline=base["rps"],
               goal=GOAL_RPS, goal_on="value", better="higher", note=note),
        figure("webhooks.p99_ms", hooks["p99_ms"], "ms", baseline=base["p99_ms"],
               goal=GOAL_P99_MS, goal_on="value", better="lower"),
        figure("webhooks.double_credits", float(doubles + (k - len(credits))), "credits",
               baseline=None, goal=0, goal_on="value", better="lower",
               note="credits beyond one per order, plus orders never credited"),
    ]  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:] == ["--loadgen"]:
        sys.stdout.write(json.dumps(asyncio.run(_load(json.loads(sys.stdin.read())))) + "\n")
    else:
        sys.exit("usage: python -m bench.webhooks --loadgen  (spec as JSON on stdin)")
