"""Measure the control API under a market-data flood: the kill switch's latency and `/status` load.

A real daemon (`kinetic run`, a subprocess, journal level `full` into SQLite in a temp dir) runs
the risk gate (`risk_gate`, named `risk`) and a flood: `Flood` publishes `data.Tick`s on 20
instruments at 20,200 msgs/s (a 1 ms timer, each firing publishing what is due since the start, at
most 200; 1% over the goal, so a bus that keeps up measures above it) and `FloodSink` takes them
all. Every tick is journaled and delivered, as real market data would be.

Figures:

- `control_api.kill_latency_p50_ms`, `control_api.kill_latency_p99_ms`: `POST /kill` (global),
  from request sent to response received, on one keep-alive connection from this process. The
  API answers only once the gate has published `TradingStateChanged(HALTED)` and
  `CancelOpenOrders` (control_api/routes_trading.py), so this is the whole path: HTTP, the
  command journaled and routed, the gate's verdict, the API's tap. A `POST /resume` (untimed)
  follows each kill. 200 samples (quick: 50). Baseline: `GET /health` on the same connection,
  samples interleaved with the kills. Goal: p99 <= 5 ms (value); p50 held to the same bound.
- `control_api.flood_msgs_per_s`: the ticks delivered to the sink while the kills ran (its
  `handled` + `dropped` deltas from `/status`, over the wall time between the two reads). Goal:
  >= 20,000 msgs/s (value): it says whether the latency above was measured under the load the
  issue asks for. No baseline.
- `control_api.status_rps`, `control_api.status_p99_ms`: `GET /status` from a load generator in a
  second process (`python -m bench.control_api --loadgen`: an asyncio client holding 16
  keep-alive connections, each sending its next request when the last answered) for 5 s (quick:
  1 s; at most 200,000 requests), while the flood runs. Goals: >= 2,000 requests/s and p99
  <= 20 ms (value). Baseline: `GET /health` measured the same way, just before. The note gives
  the flood rate during the `/status` load.

The clients are this module's own (see "a lean HTTP/1.1 client" below), so the figures are the
daemon's, not an HTTP library's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from agents.data.messages import Tick
from bench._measure import Figure, bench_dir, figure, percentile
from runtime import Actor, ConfigBase, TimerFired

REPO = Path(__file__).resolve().parents[1]
GOAL_FLOOD = 20_000.0
FLOOD_RATE = 20_200
"""What the flood offers: 1% over the goal, so a bus that keeps up measures above it."""
GOAL_KILL_P99_MS = 5.0
GOAL_STATUS_RPS = 2_000.0
GOAL_STATUS_P99_MS = 20.0
CONCURRENCY = 16
INSTRUMENTS = 20
READY_TIMEOUT_SECS = 60.0


# -- the flood (actors the daemon loads as `bench.control_api:Flood` and `:FloodSink`) --------


class FloodConfig(ConfigBase, frozen=True, kw_only=True):
    """How fast `Flood` publishes, on how many instruments."""

    rate: int = FLOOD_RATE
    """Ticks per second, across all instruments."""
    interval_ms: int = 1
    instruments: int = INSTRUMENTS
    max_burst: int = 200
    """At most this many ticks per firing: a stalled loop does not get a flood of backlog."""


class FloodState(msgspec.Struct, kw_only=True):
    """When the flood started (kernel time) and how many ticks it published."""

    start_ns: int = 0
    sent: int = 0


class Flood(Actor):
    """Publish `rate` ticks per second: on each timer firing, those due since the start."""

    Params = FloodConfig

    def __init__(self, params: FloodConfig | None = None) -> None:
        self.params = params or FloodConfig()
        self.state = FloodState()
        n = max(1, self.params.instruments)
        self._names = [f"FLOOD{i}/USD" for i in range(n)]
        self._prices = [Decimal(50_000) + Decimal(i) / 100 for i in range(64)]
        self._size = Decimal("0.001")

    def on_start(self) -> None:
        self.ctx.schedule(self.params.interval_ms * 1_000_000, key="flood", every=True)

    def on_timer(self, msg: TimerFired) -> None:
        st, p = self.state, self.params
        now = self.ctx.now
        if not st.start_ns:
            st.start_ns = now
        due = (now - st.start_ns) * p.rate // 1_000_000_000 - st.sent
        names, prices, size, publish = self._names, self._prices, self._size, self.ctx.publish
        for _ in range(min(due, p.max_burst)):
            n = st.sent
            publish(Tick(instrument=names[n % len(names)], price=prices[n % 64], size=size))
            st.sent = n + 1
        if due > p.max_burst:
            st.sent += due - p.max_burst  # skip what the loop could not publish in time


class FloodSinkState(msgspec.Struct, kw_only=True):
    """How many ticks the sink took."""

    ticks: int = 0


class FloodSink(Actor):
    """Take every tick (all instruments) and count it: market data's consumer, at no cost."""

    def __init__(self, params: Any = None) -> None:
        self.state = FloodSinkState()

    def on_start(self) -> None:
        self.ctx.subscribe(Tick)

    def on_tick(self, msg: Tick) -> None:
        self.state.ticks += 1


# -- the daemon -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(path: Path, port: int, /) -> Path:
    path.write_text(
        f"""
mode = "paper"
seed = 0

[store]
kind = "sqlite"
path = "kinetic.db"

[journal]
level = "full"

[log]
level = "info"

[control_api]
host = "127.0.0.1"
port = {port}

[[agents]]
name = "risk"
kind = "risk_gate"
role = "risk"

[[agents]]
name = "flood"
kind = "bench.control_api:Flood"
role = "data"
params = {{ rate = {FLOOD_RATE}, interval_ms = 1, instruments = {INSTRUMENTS} }}

[[agents]]
name = "sink"
kind = "bench.control_api:FloodSink"
role = "data"
"""
    )
    return path


@contextlib.contextmanager
def daemon(tmp: Path, /) -> Iterator[tuple[str, str]]:
    """Run `kinetic run` under the flood; yield its URL and admin token; always stop it."""
    port = _free_port()
    config = _config(tmp / "bench.toml", port)
    data = tmp / "var"
    log_path = tmp / "daemon.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINETIC_")}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runtime",
                "--config",
                str(config),
                "--data-dir",
                str(data),
                "--log-format",
                "json",
                "run",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=REPO,
            env=env,
        )
        try:
            url = _wait_ready(proc, log_path)
            yield url, (data / "control.token").read_text().strip()
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)


def _wait_ready(proc: subprocess.Popen[bytes], log_path: Path, /) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_SECS
    while time.monotonic() < deadline:
        for line in log_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                event = json.loads(line)
                if event.get("event") == "runtime_ready":
                    url: str = event["control_api"]
                    return url
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = "\n".join(log_path.read_text().splitlines()[-20:])
    raise RuntimeError(f"the daemon did not get ready (exit {proc.poll()}):\n{tail}")


# -- a lean HTTP/1.1 client -------------------------------------------------------------------
#
# The figures are about the daemon, so the client must cost next to nothing. httpx does not: its
# sync client adds about 0.9 ms per request here, and its async client with 16 connections
# reached 281 requests/s against an idle daemon that serves 4,800/s to the client below. Both
# clients below speak just enough HTTP/1.1 for our own loopback API: keep-alive, Content-Length.


def _request(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _parse_head(head: bytes, /) -> tuple[int, int]:
    """Return the status code and Content-Length of a response head (a chunked body is refused)."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = -1
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length < 0:
        raise RuntimeError(f"no Content-Length in a response: {head[:200]!r}")
    return status, length


class Http:
    """One keep-alive loopback connection, one request at a time."""

    def __init__(self, url: str, token: str) -> None:
        host, _, port = url.removeprefix("http://").rpartition(":")
        self.token = token
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """Send one request; return the status and the body."""
        payload = json.dumps(body).encode() if body is not None else b""
        self.sock.sendall(_request(method, path, self.token, payload))
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            self._recv()
        status, length = _parse_head(self._buf[:end])
        start = end + 4
        while len(self._buf) < start + length:
            self._recv()
        data, self._buf = self._buf[start : start + length], self._buf[start + length :]
        return status, data

    def json(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; return its JSON answer; raise on an error status."""
        status, data = self.call(method, path, body)
        if status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {data[:300]!r}")
        return json.loads(data)

    def _recv(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the daemon closed the connection")
        self._buf += chunk


# -- kill latency -----------------------------------------------------------------------------


def _sink_count(url: str, token: str, /) -> tuple[int, int]:
    """Return the ticks the sink took or had conflated, and the journal's lag (rows not durable).

    On a connection of its own: the server closes one left idle (keep-alive timeout, 5 s).
    """
    http = Http(url, token)
    try:
        status = http.json("GET", "/status")
    finally:
        http.close()
    sink = status["actors"]["sink"]
    return sink["handled"] + sink["dropped"], status["seq"] - status["durable_seq"]


def kill_latencies(http: Http, samples: int, /) -> tuple[list[float], list[float]]:
    """Return `samples` kill and health round trips (ms), interleaved; resume after each kill."""
    halt = {"scope": "global", "reason": "bench: kill latency"}
    resume = {"scope": "global", "reason": "bench: resume"}
    kills: list[float] = []
    healths: list[float] = []
    clock = time.perf_counter
    call = http.call
    for _ in range(samples):
        t0 = clock()
        status, _ = call("GET", "/health")
        healths.append((clock() - t0) * 1e3)
        assert status == 200, status
        t0 = clock()
        status, data = call("POST", "/kill", halt)
        kills.append((clock() - t0) * 1e3)
        assert status == 200, data
        body = json.loads(data)
        # Invariant: a 200 means HALTED was published and the cancels requested.
        assert body["event"]["msg"]["state"] == "HALTED", body
        assert body["cancel_seq"] is not None, body
        http.json("POST", "/resume", resume)
    return kills, healths


# -- the load generator (a second process) ----------------------------------------------------


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    host, _, port = str(spec["url"]).removeprefix("http://").rpartition(":")
    request = _request("GET", spec["path"], spec["token"])
    concurrency = int(spec["concurrency"])
    limit = int(spec["max_requests"])
    clock = time.perf_counter
    latencies: list[float] = []
    errors = 0
    started = 0
    # Open every connection first: the timed part measures requests, not handshakes.
    conns = [await asyncio.open_connection(host, int(port)) for _ in range(concurrency)]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        writer.write(request)
        status, length = _parse_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
        await reader.readexactly(length)
        return status

    for reader, writer in conns:
        await one(reader, writer)
    t0 = clock()
    deadline = t0 + float(spec["seconds"])

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors, started
        while started < limit and clock() < deadline:
            started += 1
            s = clock()
            status = await one(reader, writer)
            latencies.append(clock() - s)
            if status != 200:
                errors += 1

    await asyncio.gather(*(worker(r, w) for r, w in conns))
    elapsed = clock() - t0
    for _, writer in conns:
        writer.close()
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
    }


def load(
    url: str, token: str, path: str, /, *, seconds: float, max_requests: int
) -> dict[str, Any]:
    """Run the load generator in a second process against `path`; return its summary."""
    spec = {
        "url": url,
        "token": token,  # on stdin, not argv: other users can read a process's arguments
        "path": path,
        "concurrency": CONCURRENCY,
        "seconds": seconds,
        "max_requests": max_requests,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bench.control_api", "--loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=seconds + 60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed ({proc.returncode}):\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} of {result['requests']} requests to {path} failed")
    return result


# -- the benchmark ----------------------------------------------------------------------------


def _measure(url: str, token: str, quick: bool) -> list[Figure]:
    samples = 50 if quick else 200
    seconds = 1.0 if quick else 5.0
    time.sleep(0.5 if quick else 2.0)  # let the flood and the writer reach their pace
    http = Http(url, token)
    try:
        kill_latencies(http, 5)  # warm up: connection, code paths
        (before, _), t0 = _sink_count(url, token), time.perf_counter()
        kills, healths = kill_latencies(http, samples)
        (after, lag), t1 = _sink_count(url, token), time.perf_counter()
    finally:
        http.close()
    flood = (after - before) / (t1 - t0)
    health = load(url, token, "/health", seconds=seconds, max_requests=200_000)
    (before, _), t0 = _sink_count(url, token), time.perf_counter()
    status = load(url, token, "/status", seconds=seconds, max_requests=200_000)
    (after, load_lag), t1 = _sink_count(url, token), time.perf_counter()
    flood_under_load = (after - before) / (t1 - t0)
    shape = f"{samples} kills under a {flood:,.0f} msgs/s tick flood, journal full into SQLite"
    load_shape = (
        f"{status['requests']:,} requests in {status['seconds']:.1f} s, "
        f"{CONCURRENCY} connections from a second process; flood meanwhile "
        f"{flood_under_load:,.0f} msgs/s, journal lag then {load_lag:,} rows"
    )
    return [
        figure(
            "control_api.kill_latency_p50_ms",
            percentile(kills, 50),
            "ms",
            baseline=percentile(healths, 50),
            goal=GOAL_KILL_P99_MS,
            goal_on="value",
            better="lower",
            note=shape,
        ),
        figure(
            "control_api.kill_latency_p99_ms",
            percentile(kills, 99),
            "ms",
            baseline=percentile(healths, 99),
            goal=GOAL_KILL_P99_MS,
            goal_on="value",
            better="lower",
        ),
        figure(
            "control_api.flood_msgs_per_s",
            flood,
            "msgs/s",
            baseline=None,
            goal=GOAL_FLOOD,
            goal_on="value",
            better="higher",
            note="ticks delivered to the sink (handled + conflated) while the kills ran; "
            f"journal lag then {lag:,} rows",
        ),
        figure(
            "control_api.status_rps",
            status["rps"],
            "req/s",
            baseline=health["rps"],
            goal=GOAL_STATUS_RPS,
            goal_on="value",
            better="higher",
            note=load_shape,
        ),
        figure(
            "control_api.status_p99_ms",
            status["p99_ms"],
            "ms",
            baseline=health["p99_ms"],
            goal=GOAL_STATUS_P99_MS,
            goal_on="value",
            better="lower",
        ),
    ]


def run(quick: bool) -> list[Figure]:
    """Start a flooded daemon, time kills against /health, load /status from a second process."""
    with (
        tempfile.TemporaryDirectory(prefix="kinetic-bench-", dir=bench_dir()) as tmp,
        daemon(Path(tmp)) as (url, token),
    ):
        return _measure(url, token, quick)


def _loadgen_main() -> None:
    spec = json.loads(sys.stdin.read())
    sys.stdout.write(json.dumps(asyncio.run(_load(spec))) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--loadgen"]:
        _loadgen_main()
    else:
        sys.exit("usage: python -m bench.control_api --loadgen  (spec as JSON on stdin)")
