"""Steer a running daemon from the shell: `kinetic ctl` over the loopback control API (issue #3).

`kinetic ctl` talks HTTP only (httpx): it never opens the store or imports the API, so it works
against a daemon it did not start and cannot change state behind the journal's back. The one
exception is `ctl token create`, which writes the data dir's token store directly (no daemon
needed; the daemon notices the new file).

Where it connects: `--url`, else `http://<control_api.host>:<control_api.port>` from the config
(a wildcard host means loopback). Which token: `--token`, else the file `--token-file`, else
`DATA_DIR/<control_api.token_file>` (the admin token the first daemon start wrote).

Output: rich tables for people; `--json` prints the API's JSON response as is (for `events tail`
one event per line). Errors are one line on stderr, `kinetic ctl: <reason>`: the API's own message
and exit 1 for an HTTP error, exit 1 when no daemon answers, exit 2 for bad usage.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import httpx

from runtime._errors import KineticError
from runtime._tokens import ROLES, TokenStore, read_token_file

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from runtime.cli import _Ctx

SCOPES = ("global", "venue", "instrument", "strategy", "actor")
DEFAULT_TIMEOUT_SECS = 15.0
"""Longer than the API's own wait for an actor's answer (5 s), so its 503 comes through."""
PAGE = 1000
"""The largest page `/events` and `/audit` serve."""

Json = dict[str, Any]


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"kinetic ctl: {message}", err=True)
    sys.exit(code)


class ApiError(Exception):
    """The API answered with an error status; `message` is its `{"error": ...}` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_message(response: httpx.Response, /) -> str:
    """Return the API's reason for an error response, with its status code."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        reason = body["error"]
    else:
        reason = response.text.strip()[:300] or response.reason_phrase
    return f"{reason} (HTTP {response.status_code})"


class Client:
    """Call the control API with one bearer token; turn every failure into `kinetic ctl: ...`."""

    def __init__(self, url: str, token: str, *, timeout: float) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "kinetic-ctl"},
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the connection."""
        self._http.close()

    def _unreachable(self, exc: httpx.TransportError) -> NoReturn:
        if isinstance(exc, httpx.TimeoutException):
            _fail(f"{self.url} did not answer in time ({type(exc).__name__})")
        _fail(f"no daemon at {self.url}: is `kinetic run` running? ({exc or type(exc).__name__})")

    def request(self, method: str, path: str, /, **kwargs: Any) -> httpx.Response:
        """Send a request; exit 1 with the API's message on an error status."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            self._unreachable(exc)
        if response.is_error:
            raise ApiError(response.status_code, error_message(response))
        return response

    def get(self, path: str, /, **params: Any) -> Json:
        """GET `path` and return its JSON body."""
        data: Json = self.request("GET", path, params=_params(params)).json()
        return data

    def send(self, method: str, path: str, body: Json, /) -> Json:
        """Send `body` as JSON with `method` and return the JSON answer."""
        data: Json = self.request(method, path, json=body).json()
        return data

    def stream(self, path: str, /, **params: Any) -> Iterator[tuple[str, str | None]]:
        """Yield (id, data) per server-sent event of `path`, until the server closes the stream.

        A comment (the greeting, a heartbeat) yields ("", None): the first says the stream is open.
        """
        try:
            with self._http.stream(
                "GET",
                path,
                params=_params(params),
                headers={"Accept": "text/event-stream"},
                timeout=httpx.Timeout(self._http.timeout.connect, read=None),
            ) as response:
                if response.is_error:
                    response.read()
                    raise ApiError(response.status_code, error_message(response))
                yield from _sse(response.iter_lines())
        except httpx.TransportError as exc:
            if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
                return  # the daemon went away mid-stream: the caller says so
            self._unreachable(exc)


def _params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None and v not in ([], ())}


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, str | None]]:
    """Parse server-sent events: (id, data) per event with data, ("", None) per comment."""
    event_id = ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event_id, "\n".join(data)
            event_id, data = "", []
            continue
        if line.startswith(":"):
            yield "", None
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
    if data:
        yield event_id, "\n".join(data)


class Ctl:
    """What every `kinetic ctl` subcommand gets: the options, and a client built on first use."""

    def __init__(
        self,
        parent: _Ctx,
        *,
        url: str | None,
        token: str | None,
        token_file: str | None,
        as_json: bool,
        timeout: float,
    ) -> None:
        self.parent = parent
        self._url = url
        self._token = token
        self._token_file = token_file
        self.as_json = as_json
        self.timeout = timeout
        self._client: Client | None = None
        self._cfg: Any = None

    @property
    def data_dir(self) -> Path:
        """Return the global `--data-dir`."""
        return self.parent.data_dir

    def _config(self) -> Any:
        if self._cfg is None:
            try:
                self._cfg, _ = self.parent.load()
            except KineticError as exc:
                _fail(str(exc), 2)
        return self._cfg

    def url(self) -> str:
        """Return `--url`, else the configured control API address."""
        if self._url:
            return self._url.rstrip("/")
        api = self._config().control_api
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(api.host, api.host)
        return f"http://[{host}]:{api.port}" if ":" in host else f"http://{host}:{api.port}"

    def token(self) -> str:
        """Return `--token`, else the token file's content."""
        if self._token:
            return self._token
        if self._token_file:
            path = Path(self._token_file)
        else:
            path = self.data_dir / self._config().control_api.token_file
        try:
            token = read_token_file(path)
        except KineticError as exc:
            _fail(str(exc), 2)
        except OSError as exc:
            _fail(f"cannot read the token file `{path}`: {exc.strerror or exc}", 2)
        if not token:
            _fail(f"the token file `{path}` is empty", 2)
        return token

    def client(self) -> Client:
        """Return the API client (built once)."""
        if self._client is None:
            self._client = Client(self.url(), self.token(), timeout=self.timeout)
        return self._client

    def close(self) -> None:
        """Close the client if one was built."""
        if self._client is not None:
            self._client.close()

    def emit_json(self, data: Any, /) -> None:
        """Print `data` as one line of JSON on stdout."""
        click.echo(json.dumps(data, ensure_ascii=False))


pass_ctl = click.make_pass_decorator(Ctl)


def _api_call(fn: Callable[..., None]) -> Callable[..., None]:
    """Run a subcommand; turn an `ApiError` into one stderr line and exit 1.

    Also accept `--json` after the subcommand (`kinetic ctl status --json`), where people type
    it, as well as on the group (`kinetic ctl --json status`).
    """
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, json_here: bool = False, **kwargs: Any) -> None:
        if json_here and args and isinstance(args[0], Ctl):
            args[0].as_json = True
        try:
            fn(*args, **kwargs)
        except ApiError as exc:
            _fail(exc.message)

    option = click.option(
        "--json", "json_here", is_flag=True, help="Print the API's JSON response as is."
    )
    return option(wrapper)


# -- rendering --------------------------------------------------------------------------------


def _console() -> Console:
    from rich.console import Console

    # Piped output gets room for whole rows instead of rich's 80-column default.
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def _table(*columns: str, title: str | None = None) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in columns:
        numeric = col in {"handled", "rate/s", "depth", "dropped", "failures", "restarts", "seq"}
        table.add_column(col, justify="right" if numeric else "left")
    return table


def _text(value: Any) -> Text:
    """Return a cell that shows `value` literally (no rich markup from API data)."""
    from rich.text import Text

    return Text("" if value is None else str(value))


def _ts(ns: int) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _rate(x: float) -> str:
    return f"{x:,.1f}" if x < 1000 else f"{x:,.0f}"


def _print(*renderables: Any) -> None:
    console = _console()
    for r in renderables:
        console.print(r)


def _scopes_table(trading: Json, /) -> Table | None:
    scopes = trading.get("scopes", [])
    if not scopes:
        return None
    table = _table("scope", "target", "state", "reason", "by", "seq", "since", title="trading")
    for s in scopes:
        table.add_row(
            _text(s["scope"]),
            _text(s["target"]),
            _text(s["state"]),
            _text(s["reason"]),
            _text(s["by"]),
            _text(s["seq"]),
            _text(_ts(s["ts"])),
        )
    return table


# -- the group --------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="The control API. Default: http://127.0.0.1:<control_api.port from the config>.",
)
@click.option(
    "--token",
    default=None,
    metavar="TOKEN",
    help="Bearer token. Default: the content of --token-file.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="File holding the token. Default: DATA_DIR/<control_api.token_file> (the admin token).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON response as is.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_TIMEOUT_SECS,
    show_default=True,
    help="Seconds to wait for an answer.",
)
@click.pass_context
def ctl(
    ctx: click.Context,
    url: str | None,
    token: str | None,
    token_file: str | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Steer a running daemon through its control API (status, kill switches, approvals...).

    Exit status: 0 on success; 1 when the API refuses (its reason on stderr) or no daemon
    answers; 2 on bad usage.
    """
    state = Ctl(
        ctx.obj, url=url, token=token, token_file=token_file, as_json=as_json, timeout=timeout
    )
    ctx.obj = state
    ctx.call_on_close(state.close)


# -- status -----------------------------------------------------------------------------------


@ctl.command()
@pass_ctl
@_api_call
def status(c: Ctl) -> None:
    """Show the run, every actor's counters and mailbox, and the trading controls."""
    data = c.client().get("/status")
    if c.as_json:
        c.emit_json(data)
        return
    trading = data["trading"]
    summary = _table("", "", title=None)
    summary.show_header = False
    rows = [
        ("run", data["run_id"]),
        ("mode", data["mode"]),
        ("store", data["store"]),
        ("uptime", f"{data['uptime_secs']:,.1f} s"),
        ("journal", f"seq {data['seq']} (durable {data['durable_seq']}), head {data['head'][:16]}"),
        ("trading", trading["global_state"] + (" (global)" if trading.get("scopes") else "")),
        ("paper-only guard", "on" if data["paper_only"] else "OFF"),
        ("quarantined devices", data["quarantined"]),
        ("pending approvals", data["pending_approvals"]),
    ]
    for key, value in rows:
        summary.add_row(_text(key), _text(value))
    actors = _table(
        "actor", "handled", "rate/s", "depth", "dropped", "failures", "restarts", title="actors"
    )
    for name, st in data["actors"].items():
        actors.add_row(
            _text(name),
            _text(f"{st['handled']:,}"),
            _text(_rate(st["handled_per_sec"])),
            _text(f"{st['depth']}/{st['capacity']}"),
            _text(f"{st['dropped']:,}"),
            _text(st["failures"]),
            _text(st["restarts"]),
        )
    _print(*(t for t in (summary, actors, _scopes_table(trading)) if t is not None))


# -- kill switches ----------------------------------------------------------------------------


def _scope_options(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--reason", required=True, help="Why (journaled with your token's name).")(fn)
    fn = click.option(
        "--target",
        default=None,
        help="The venue, instrument, strategy or actor; required unless --scope global.",
    )(fn)
    scope = click.option("--scope", type=click.Choice(SCOPES), default="global", show_default=True)
    return scope(fn)


def _set_state(c: Ctl, path: str, scope: str, target: str | None, reason: str) -> None:
    if scope != "global" and not target:
        raise click.UsageError(f"--target is required with --scope {scope}")
    body = {
        "scope": scope,
        "target": target if scope != "global" and target else "*",
        "reason": reason,
    }
    data = c.client().send("POST", path, body)
    if c.as_json:
        c.emit_json(data)
        return
    msg = data["event"]["msg"]
    where = "global" if msg["scope"] == "global" else f"{msg['scope']} {msg['target']}"
    line = f"{msg['state']} {where} (seq {data['state_seq']}, by {msg['by']}, corr {data['corr']})"
    if data.get("cancel_seq") is not None:
        line += f"; open orders: cancel requested (seq {data['cancel_seq']})"
    click.echo(line)


@ctl.command()
@_scope_options
@pass_ctl
@_api_call
def kill(c: Ctl, scope: str, target: str | None, reason: str) -> None:
    """Halt trading in a scope and cancel its open orders (operator)."""
    _set_state(c, "/kill", scope, target, reason)


@ctl.command()
@_scope_options
@pass_ctl
@_api_call
def reduce(c: Ctl, scope: str, target: str | None, reason: str) -> None:
    """Allow only position-reducing orders in a scope (operator)."""
    _set_state(c, "/reduce", scope, target, reason)


@ctl.command()
@_scope_options
@pass_ctl
@_api_call
def resume(c: Ctl, scope: str, target: str | None, reason: str) -> None:
    """Set a scope back to ACTIVE (admin)."""
    _set_state(c, "/resume", scope, target, reason)


@ctl.command("trading")
@pass_ctl
@_api_call
def trading_cmd(c: Ctl) -> None:
    """Show the trading state in force per scope (scopes not listed are ACTIVE)."""
    data = c.client().get("/trading-state")
    if c.as_json:
        c.emit_json(data)
        return
    click.echo(f"global: {data['global_state']}")
    table = _scopes_table(data)
    if table is not None:
        _print(table)


# -- guard ------------------------------------------------------------------------------------


@ctl.command()
@click.argument("setting", required=False, type=click.Choice(["on", "off"]))
@click.option("--reason", default=None, help="Why; required to change the guard.")
@click.option(
    "--confirm",
    default="",
    metavar="TEXT",
    help="Turning the guard off needs the exact sentence the API names (admin, credentials).",
)
@pass_ctl
@_api_call
def guard(c: Ctl, setting: str | None, reason: str | None, confirm: str) -> None:
    """Show the paper-only guard; turn it on (operator) or off (admin, credentials, --confirm)."""
    if setting is None:
        if reason is not None or confirm:
            raise click.UsageError("--reason and --confirm go with `guard on` or `guard off`")
        data = c.client().get("/guard")
    else:
        if not reason:
            raise click.UsageError(f"`guard {setting}` needs --reason")
        body: Json = {"paper_only": setting == "on", "reason": reason}
        if confirm:
            body["confirm"] = confirm
        data = c.client().send("PUT", "/guard", body)
    if c.as_json:
        c.emit_json(data)
        return
    g = data if setting is None else data["guard"]
    state = "ON (paper trading only)" if g["paper_only"] else "OFF (live trading allowed)"
    click.echo(f"paper-only guard: {state}")
    if g["seq"]:
        click.echo(f"  set by {g['by']} at seq {g['seq']}: {g['reason']}")
    else:
        click.echo("  as configured at start")
    click.echo(f"  exchange credentials: {'present' if g['credentials_present'] else 'absent'}")


# -- quarantine -------------------------------------------------------------------------------


@ctl.group()
def quarantine() -> None:
    """List, add and release quarantined devices."""


@quarantine.command("list")
@pass_ctl
@_api_call
def quarantine_list(c: Ctl) -> None:
    """List every quarantined device."""
    data = c.client().get("/quarantine")
    if c.as_json:
        c.emit_json(data)
        return
    if not data["devices"]:
        click.echo("no device is quarantined")
        return
    table = _table("device", "reason", "by", "seq", "since", title="quarantined devices")
    for d in data["devices"]:
        table.add_row(
            _text(d["device_id"]),
            _text(d["reason"]),
            _text(d["by"]),
            _text(d["seq"]),
            _text(_ts(d["ts"])),
        )
    _print(table)


def _quarantine_result(c: Ctl, data: Json, verb: str) -> None:
    if c.as_json:
        c.emit_json(data)
        return
    device = data["device_id"]
    if data["changed"]:
        click.echo(f"device {device} {verb} (seq {data['event']['seq']}, corr {data['corr']})")
    else:
        click.echo(f"device {device} was already {verb}; nothing changed (corr {data['corr']})")


@quarantine.command("add")
@click.argument("device_id")
@click.option("--reason", required=True, help="Why.")
@pass_ctl
@_api_call
def quarantine_add(c: Ctl, device_id: str, reason: str) -> None:
    """Quarantine DEVICE_ID: no commands to it, no intents from its events (operator)."""
    path = f"/devices/{_segment(device_id)}/quarantine"
    _quarantine_result(c, c.client().send("POST", path, {"reason": reason}), "quarantined")


@quarantine.command("release")
@click.argument("device_id")
@click.option("--reason", required=True, help="Why.")
@pass_ctl
@_api_call
def quarantine_release(c: Ctl, device_id: str, reason: str) -> None:
    """Lift DEVICE_ID's quarantine (admin)."""
    path = f"/devices/{_segment(device_id)}/quarantine"
    _quarantine_result(c, c.client().send("DELETE", path, {"reason": reason}), "released")


def _segment(value: str) -> str:
    from urllib.parse import quote

    if "/" in value:
        # The server decodes `%2F` before routing: such an id cannot be addressed by its path.
        raise click.UsageError(f"`{value}` contains `/`, which the API's paths cannot carry")
    return quote(value, safe="")


# -- approvals --------------------------------------------------------------------------------


@ctl.group()
def approvals() -> None:
    """List, request, approve and reject approvals (four eyes: never your own)."""


def _approval_table(items: list[Json], title: str) -> Table:
    table = _table(
        "id",
        "action",
        "detail",
        "requested by",
        "state",
        "expires",
        "decided by",
        "reason",
        title=title,
    )
    for a in items:
        table.add_row(
            _text(a["request_id"]),
            _text(a["action"]),
            _text(a["detail"]),
            _text(a["requested_by"]),
            _text(a["state"]),
            _text(_ts(a["expires_ns"])),
            _text(a.get("decided_by") or "-"),
            _text(a.get("reason") or ""),
        )
    return table


@approvals.command("list")
@click.option(
    "--state",
    type=click.Choice(["pending", "approved", "rejected", "all"]),
    default="pending",
    show_default=True,
)
@pass_ctl
@_api_call
def approvals_list(c: Ctl, state: str) -> None:
    """List approval requests in a state, oldest first."""
    data = c.client().get("/approvals", state=state)
    if c.as_json:
        c.emit_json(data)
        return
    if not data["approvals"]:
        click.echo(f"no {'' if state == 'all' else state + ' '}approval requests")
        return
    _print(_approval_table(data["approvals"], f"approvals ({state})"))


@approvals.command("request")
@click.option("--action", required=True, help="What needs approving (a short label).")
@click.option("--detail", default="", help="Details for the approver.")
@click.option(
    "--timeout-secs",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Reject by itself after this long (API default: 3600).",
)
@pass_ctl
@_api_call
def approvals_request(c: Ctl, action: str, detail: str, timeout_secs: float | None) -> None:
    """Ask for an approval; you become the requester and cannot decide it yourself."""
    body: Json = {"action": action, "detail": detail}
    if timeout_secs is not None:
        body["timeout_secs"] = timeout_secs
    data = c.client().send("POST", "/approvals", body)
    if c.as_json:
        c.emit_json(data)
        return
    a = data["approval"]
    click.echo(f"{a['request_id']} {a['state']} (expires {_ts(a['expires_ns'])})")


def _decide(c: Ctl, request_id: str, verb: str, reason: str) -> None:
    path = f"/approvals/{_segment(request_id)}/{verb}"
    data = c.client().send("POST", path, {"reason": reason})
    if c.as_json:
        c.emit_json(data)
        return
    a = data["approval"]
    click.echo(f"{a['request_id']} {a['state']} by {a['decided_by']} (seq {a['decided_seq']})")


@approvals.command("approve")
@click.argument("request_id")
@click.option("--reason", default="approved", show_default=True, help="Why.")
@pass_ctl
@_api_call
def approvals_approve(c: Ctl, request_id: str, reason: str) -> None:
    """Approve a pending request (approver); never one you requested."""
    _decide(c, request_id, "approve", reason)


@approvals.command("reject")
@click.argument("request_id")
@click.option("--reason", required=True, help="Why.")
@pass_ctl
@_api_call
def approvals_reject(c: Ctl, request_id: str, reason: str) -> None:
    """Reject a pending request (approver); never one you requested."""
    _decide(c, request_id, "reject", reason)


# -- events, audit ----------------------------------------------------------------------------


@ctl.group()
def events() -> None:
    """Read the journal's events."""


def _event_line(e: Json) -> str:
    msg = dict(e["msg"])
    tag = msg.pop("type", "?")
    fields = " ".join(f"{k}={v}" for k, v in msg.items())
    route = e["src"] + (f" -> {e['dst']}" if e.get("dst") else "")
    corr = f"  corr={e['corr']}" if e.get("corr") else ""
    return f"{e['seq']:>8} {_ts(e['ts'])} {route}  {tag}  {fields}{corr}".rstrip()


def _last_events(
    client: Client, *, types: list[str], corr: str | None, n: int, head: int
) -> list[Json]:
    """Return the last `n` durable events matching the filters, at or below `head`."""
    window = max(n, 256)
    while True:
        start = max(0, head - window)
        found: deque[Json] = deque(maxlen=n)
        after = start
        while True:
            page = client.get("/events", after=after, limit=PAGE, type=types, corr=corr)
            found.extend(page["events"])
            if len(page["events"]) < PAGE or page["next_after"] <= after:
                break
            after = page["next_after"]
        if len(found) >= n or start == 0:
            return list(found)
        window *= 8


@events.command("tail")
@click.option(
    "--type",
    "types",
    multiple=True,
    metavar="TAG",
    help="Only this message tag (repeatable), e.g. risk.SetTradingState.",
)
@click.option("--corr", default=None, help="Only this correlation id.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="How many past events to show first.",
)
@click.option("--follow", "-f", is_flag=True, help="Then stream new events until Ctrl-C.")
@pass_ctl
@_api_call
def events_tail(c: Ctl, types: tuple[str, ...], corr: str | None, lines: int, follow: bool) -> None:
    """Show the last events (durable ones), then with --follow stream new ones as they happen.

    With --json, one event per line, as the API returns it.
    """
    client = c.client()
    tags = list(types)

    def show(e: Json) -> None:
        click.echo(json.dumps(e, ensure_ascii=False) if c.as_json else _event_line(e))

    if not follow:
        head = client.get("/status")["durable_seq"]
        for e in _last_events(client, types=tags, corr=corr, n=lines, head=head) if lines else []:
            show(e)
        return
    stream = client.stream("/events/stream", type=tags)
    last = 0
    try:
        # The stream taps the bus from the moment it is open (its greeting comment arrives
        # first): open it, then show the past, then what came after it.
        first = next(stream, None)
        if first is None:
            _fail("the daemon closed the event stream")
        head = client.get("/status")["durable_seq"]
        if lines:
            for e in _last_events(client, types=tags, corr=corr, n=lines, head=head):
                show(e)
                last = e["seq"]
        last = max(last, head)
        caught_up = False
        for _, data in itertools.chain([first], stream):
            if data is None:
                continue
            e = json.loads(data)
            if e["seq"] <= last:
                continue
            if not caught_up:
                # Journaled before the stream opened but not durable when the past was read.
                caught_up = True
                for gap in _between(client, tags, corr, last, e["seq"]):
                    show(gap)
            last = e["seq"]
            if corr is None or e.get("corr") == corr:
                show(e)
            sys.stdout.flush()
    except KeyboardInterrupt:
        return
    _fail("the daemon closed the event stream")


def _between(
    client: Client, types: list[str], corr: str | None, after: int, before: int
) -> list[Json]:
    out: list[Json] = []
    while after < before - 1:
        page = client.get("/events", after=after, limit=PAGE, type=types, corr=corr)
        out += [e for e in page["events"] if e["seq"] < before]
        if len(page["events"]) < PAGE or page["next_after"] <= after:
            break
        after = page["next_after"]
    return out


@ctl.command()
@click.option("--after", type=click.IntRange(min=0), default=0, help="Only entries after this seq.")
@pass_ctl
@_api_call
def audit(c: Ctl, after: int) -> None:
    """Show every operator command: who, what, why and when."""
    client = c.client()
    entries: list[Json] = []
    next_after = after
    while True:
        page = client.get("/audit", after=next_after, limit=PAGE)
        entries += page["entries"]
        if len(page["entries"]) < PAGE or page["next_after"] <= next_after:
            next_after = page["next_after"]
            break
        next_after = page["next_after"]
    if c.as_json:
        c.emit_json({"entries": entries, "next_after": next_after})
        return
    if not entries:
        click.echo("no operator commands")
        return
    table = _table("seq", "when", "who", "what", "why", "corr", title="audit")
    for a in entries:
        table.add_row(
            _text(a["seq"]),
            _text(_ts(a["ts"])),
            _text(a["who"]),
            _text(a["what"]),
            _text(a["why"]),
            _text(a["corr"]),
        )
    _print(table)


# -- tokens -----------------------------------------------------------------------------------


@ctl.group()
def token() -> None:
    """Manage the API's bearer tokens (in DATA_DIR/tokens.json; no daemon needed)."""


@token.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the token may do.")
@click.option("--name", required=True, help="Who it is for (journaled as `operator:<name>`).")
@pass_ctl
def token_create(c: Ctl, role: str, name: str) -> None:
    """Create a token and print it once (stored hashed; it cannot be shown again)."""
    try:
        plaintext = TokenStore(c.data_dir).create(role, name=name)
    except KineticError as exc:
        _fail(str(exc), 2)
    except OSError as exc:
        _fail(f"cannot write the token store in `{c.data_dir}`: {exc.strerror or exc}")
    if c.as_json:
        c.emit_json({"name": name, "role": role, "token": plaintext})
        return
    click.echo(plaintext)
    click.echo(
        f"token for `{name}` (role {role}) created: it is shown only now; "
        f"stored hashed in {c.data_dir / 'tokens.json'}",
        err=True,
    )


@token.command("list")
@pass_ctl
def token_list(c: Ctl) -> None:
    """List the tokens' names and roles (never the tokens)."""
    try:
        entries = TokenStore(c.data_dir).list()
    except (KineticError, ValueError) as exc:
        _fail(f"cannot read the token store in `{c.data_dir}`: {exc}", 2)
    if c.as_json:
        c.emit_json([{"name": n, "role": r} for n, r in entries])
        return
    table = _table("name", "role", title="tokens")
    for n, r in entries:
        table.add_row(_text(n), _text(r))
    _print(table)


__all__ = ["ctl"]

from runtime import _ctl_ramp  # noqa: E402, F401  (registers `ctl ramp` and `ctl wallet`)
