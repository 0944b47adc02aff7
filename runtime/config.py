"""Define the configuration schema and load it from a TOML file, the environment and CLI flags.

One schema, typed with msgspec, is the single source of truth: it decodes and validates the
files in `config/`, gives every error msgspec's shape (`` Expected `int`, got `str` - at
`$.kernel.mailbox_size` ``) prefixed by where the bad value came from (a file, an environment
variable, a CLI flag), and generates `docs/configuration.md` (`python -m runtime.config
--reference`), so the reference cannot drift from the code.

Precedence, lowest first: schema defaults < the TOML file < `KINETIC_*` environment variables <
`overrides` (the CLI flags). Secrets are typed (`SecretStr`) or live in URL passwords;
`redact` hides them for display and `load_config` registers them with `runtime.logging` so they
never reach a log line.
"""

from __future__ import annotations

import argparse
import ast
import copy
import inspect
import ipaddress
import itertools
import json
import math
import os
import re
import sys
import textwrap
import tomllib
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import msgspec
from msgspec import Meta
from msgspec import inspect as mi

from runtime._errors import ConfigError
from runtime.logging import REDACTED, is_secret_key, redact_url, register_secret

__all__ = [
    "NON_CONFIG_ENV_VARS",
    "AdapterConfig",
    "AgentConfig",
    "BacktestConfig",
    "ConfigBase",
    "ControlApiConfig",
    "Identifier",
    "JournalConfig",
    "JournalLevel",
    "KernelConfig",
    "KineticConfig",
    "LogConfig",
    "Mode",
    "Name",
    "NonEmptyStr",
    "NonNegativeFloat",
    "NonNegativeInt",
    "Port",
    "PositiveFloat",
    "PositiveInt",
    "SecretStr",
    "ServiceConfig",
    "StoreConfig",
    "config_reference",
    "decode_params",
    "dump_toml",
    "load_config",
    "load_toml_as",
    "redact",
    "secret_values",
    "to_json",
]

T = TypeVar("T")

Mode = Literal["paper", "live", "backtest"]
from runtime._journal import JournalLevel  # noqa: E402 - one definition, shared

SecretStr = Annotated[str, Meta(extra={"secret": True})]
"""A string that `redact` replaces with `***` and `load_config` registers as a log secret."""

ENV_PREFIX = "KINETIC_"

NON_CONFIG_ENV_VARS: frozenset[str] = frozenset(
    {
        "KINETIC_CONFIG",  # the config file, an alternative to `--config`
        "KINETIC_DATA_DIR",  # the data dir, an alternative to `--data-dir`
        "KINETIC_LOG_FORMAT",  # an alternative to `--log-format`
        "KINETIC_TEST_PG_DSN",  # the PostgreSQL server the test suite runs against
    }
)
"""`KINETIC_*` variables that are not config overrides; `load_config` never reads them."""


# --------------------------------------------------------------------------------------------
# Schema

# Constrained types, for this schema and for agents' own params structs.
PositiveInt = Annotated[int, Meta(gt=0)]
NonNegativeInt = Annotated[int, Meta(ge=0)]
PositiveFloat = Annotated[float, Meta(gt=0)]
NonNegativeFloat = Annotated[float, Meta(ge=0)]
NonEmptyStr = Annotated[str, Meta(min_length=1)]
Name = Annotated[str, Meta(pattern=r"^[a-z0-9_.-]+$")]
Port = Annotated[int, Meta(ge=1, le=65535)]
Identifier = Annotated[str, Meta(pattern=r"^[a-z_][a-z0-9_]*$")]


class ConfigBase(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Derive every config struct from this: frozen, keyword-only, unknown keys rejected.

    Name subclasses `<Thing><Role>Config` and repeat `frozen=True` on each (msgspec inherits
    it, mypy does not see that). Constrain fields with the types above or `Meta(gt=...)`, so
    violations read in msgspec's words, and document each field with a string literal right
    below it: `config_reference` reads those into docs/configuration.md.
    """


class StoreConfig(ConfigBase, frozen=True):
    """Choose where the journal, snapshots and read models live."""

    kind: NonEmptyStr = "sqlite"
    """Store backend: its entry-point name in group `kinetic.adapters` (`sqlite`, `postgres`,
    `memory`)."""
    path: NonEmptyStr = "kinetic.db"
    """SQLite database file, relative to the data dir (`--data-dir`)."""
    dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    """PostgreSQL connection URL. Give a password through the environment
    (`KINETIC_STORE__DSN`) rather than a file; it is redacted in logs and displays."""
    schema: Identifier = "kinetic"
    """PostgreSQL schema holding Kinetic's tables (a plain identifier: it is spliced into
    SQL)."""
    fsync: bool = True
    """Wait until each group commit is on disk before acknowledging it. Off trades crash safety
    for speed: throwaway runs only."""


class JournalConfig(ConfigBase, frozen=True):
    """Tune what the journal keeps and how it batches writes."""

    level: JournalLevel | None = None
    """`full` keeps every envelope; `inputs` keeps the inputs and the hash chain of the outputs
    with checkpoints; `off` keeps nothing (parameter sweeps). Unset: `full` in live and paper
    mode, `inputs` in backtests."""
    batch_max: PositiveInt = 10_000
    """Most envelopes one group commit writes."""
    flush_interval_ms: NonNegativeFloat = 2.0
    """Longest an appended envelope waits for its group commit; 0 commits at once."""
    checkpoint_every: PositiveInt = 1024
    """Outputs between two hash-chain checkpoints at level `inputs`."""
    snapshot_every: PositiveInt = 100_000
    """Events between two state snapshots; recovery replays at most this many."""

    def effective_level(self, mode: Mode, /) -> JournalLevel:
        """Return the level in force: the configured one, else the default of `mode`."""
        if self.level is not None:
            return self.level
        return "inputs" if mode == "backtest" else "full"


class KernelConfig(ConfigBase, frozen=True):
    """Bound the kernel's mailboxes and restart intensity."""

    mailbox_size: PositiveInt = 1024
    """Default mailbox bound of every actor. A full mailbox conflates market data and blocks
    the sender of anything else."""
    restart_max: NonNegativeInt = 5
    """Restarts allowed within `restart_window_secs` before a failure escalates."""
    restart_window_secs: PositiveFloat = 60.0
    """The window `restart_max` is counted over."""
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    """The daemon's event loop: `uvloop` (libuv; installed with Kinetic except on Windows),
    `asyncio` (the standard library's) or `auto` (uvloop when it is installed). Actors see no
    difference; uvloop takes about 12% off the tick -> order latency here."""


class AgentConfig(ConfigBase, frozen=True):
    """Declare one actor: what runs, under which name, and how it is supervised."""

    name: Name
    """Actor name, unique among agents; the `src` of what it emits."""
    kind: NonEmptyStr
    """Implementation: its entry-point name in group `kinetic.agents`."""
    role: str = ""
    """Domain role (`data`, `ml`, `risk`, `execution`, `ramp`, `payments`, `devices`,
    `intents`)."""
    supervision: Literal["restart", "resume", "escalate"] = "restart"
    """On a crash: rebuild and restore state, skip the message (dead letter), or stop the
    kernel."""
    critical: bool | None = None
    """Trip the kill switch when this agent crashes. Unset: critical when `role` is `risk` or
    `execution`."""
    mailbox_size: PositiveInt | None = None
    """This agent's mailbox bound. Unset: `kernel.mailbox_size`."""
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """Agent parameters, decoded by the agent's own params struct (errors point at
    `$.agents[i].params`)."""

    @property
    def is_critical(self) -> bool:
        """Tell whether a crash of this agent trips the kill switch."""
        if self.critical is not None:
            return self.critical
        return self.role in ("risk", "execution")


class AdapterConfig(ConfigBase, frozen=True):
    """Declare one adapter: a venue, provider or gateway the agents reach through messages."""

    name: Name
    """Adapter name, unique among adapters."""
    kind: NonEmptyStr
    """Implementation: its entry-point name in group `kinetic.adapters`."""
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """Adapter parameters, decoded by the adapter's own params struct."""


class ServiceConfig(ConfigBase, frozen=True):
    """Declare one more daemon service (`kinetic run` only): a recorder, an exporter.

    The control API and the webhook ingress have sections of their own; these are extra.
    """

    name: Name
    """Service name, unique among services; it names the service in `runtime_ready`."""
    kind: NonEmptyStr
    """Implementation: its entry-point name in group `kinetic.services`."""
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """Service parameters, decoded by the service's own params struct."""


class ControlApiConfig(ConfigBase, frozen=True):
    """Place the operator's control API; it refuses a non-loopback address unless allowed."""

    host: NonEmptyStr = "127.0.0.1"
    """Address to bind. Anything but loopback needs `allow_remote = true`."""
    port: Port = 8787
    """TCP port (`kinetic run --port`)."""
    allow_remote: bool = False
    """Allow `host` to be a non-loopback address."""
    token_file: NonEmptyStr = "control.token"
    """Admin bearer token file (mode 0600), relative to the data dir."""
    enabled: bool = True
    """Serve the control API from the daemon (`kinetic run`)."""

    def __post_init__(self) -> None:
        if not self.allow_remote and not _is_loopback(self.host):
            raise ValueError(
                f"`host` is `{self.host}`, not a loopback address; set "
                "`allow_remote = true` to bind it"
            )


class WebhooksConfig(ConfigBase, frozen=True):
    """Place the webhook ingress: a listener of its own, apart from the control API.

    Providers (Banxa) deliver signed status notifications here. In server mode it may bind a
    public interface (`allow_public = true`, which logs a security warning); every delivery is
    verified (signature over the path and the raw body, nonce freshness, no replays) before
    anything enters the bus.
    """

    enabled: bool = False
    """Serve the ingress from the daemon (`kinetic run`)."""
    host: NonEmptyStr = "127.0.0.1"
    """Address to bind. Anything but loopback needs `allow_public = true`."""
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8788
    """TCP port; 0 picks a free one (tests)."""
    allow_public: bool = False
    """Allow `host` to be a non-loopback address (server mode, behind TLS termination)."""
    path: Annotated[str, msgspec.Meta(pattern=r"^/[A-Za-z0-9_./-]*$")] = "/webhooks/banxa"
    """The path the provider posts to (it is part of what the signature covers)."""
    provider: NonEmptyStr = "banxa"
    """The provider adapter whose credentials verify the signatures."""
    max_age_secs: PositiveFloat = 300.0
    """A delivery whose nonce (ms timestamp) is further than this from now is refused as stale."""

    def __post_init__(self) -> None:
        if not self.allow_public and not _is_loopback(self.host):
            raise ValueError(
                f"`host` is `{self.host}`, not a loopback address; set "
                "`allow_public = true` to bind it"
            )


class LogConfig(ConfigBase, frozen=True):
    """Choose the log level and line format (see `runtime.logging`)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level written."""
    format: Literal["auto", "json", "console"] = "auto"
    """`auto`: console lines on a terminal, JSON lines otherwise (`--log-format`)."""


class BacktestConfig(ConfigBase, frozen=True):
    """Set the simulated time span and where a backtest writes its artifacts."""

    start_ns: NonNegativeInt = 1_704_067_200_000_000_000
    """Simulated start, ns since the Unix epoch (default 2024-01-01T00:00:00Z)."""
    duration_secs: PositiveFloat = 3600.0
    """Simulated time span of the run."""
    out_dir: NonEmptyStr = "artifacts"
    """Artifacts go to `<out_dir>/<run_id>/`, relative to the working directory
    (`kinetic backtest --out`)."""


class KineticConfig(ConfigBase, frozen=True):
    """Configure one Kinetic daemon or run; the root of every config file."""

    mode: Mode = "paper"
    """`paper` and `live` run on the wall clock; `backtest` is simulated."""
    seed: int = 0
    """Root seed of every actor's rng (`kinetic backtest --seed`)."""
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    journal: JournalConfig = msgspec.field(default_factory=JournalConfig)
    kernel: KernelConfig = msgspec.field(default_factory=KernelConfig)
    control_api: ControlApiConfig = msgspec.field(default_factory=ControlApiConfig)
    webhooks: WebhooksConfig = msgspec.field(default_factory=WebhooksConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    backtest: BacktestConfig = msgspec.field(default_factory=BacktestConfig)
    agents: list[AgentConfig] = msgspec.field(default_factory=list)
    """The actors to run, in start order."""
    adapters: list[AdapterConfig] = msgspec.field(default_factory=list)
    """The adapters to start before the agents."""
    services: list[ServiceConfig] = msgspec.field(default_factory=list)
    """Extra services the daemon runs beside the control API (`kinetic run` only)."""

    def __post_init__(self) -> None:
        # At the root msgspec adds no path of its own, so the message carries the exact one.
        agents = [agent.name for agent in self.agents]
        adapters = [adapter.name for adapter in self.adapters]
        services = [service.name for service in self.services]
        for section, names in (("agents", agents), ("adapters", adapters), ("services", services)):
            seen: set[str] = set()
            for i, name in enumerate(names):
                if name in seen:
                    raise ValueError(
                        f"duplicate {section[:-1]} name `{name}` - at `$.{section}[{i}].name`"
                    )
                seen.add(name)

    @property
    def journal_level(self) -> JournalLevel:
        """Return the journal level in force for this config's mode."""
        return self.journal.effective_level(self.mode)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _field_docs(cls: type) -> dict[str, str]:
    """Return the string literal under each field of `cls` and its bases (attribute docs)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, ConfigBase)):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, after in itertools.pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(inspect.cleandoc(after.value.value).split())
    return docs


# --------------------------------------------------------------------------------------------
# Loading

Key = str | int
_MISSING: Any = object()
_AT = re.compile(r" - at `(\$[^`]*)`$")
_FIELD_IN_MSG = re.compile(r"^(?:Object (?:contains unknown|missing required) field |)`([^`]+)`")
_TOML_POS = re.compile(
    r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)


class _PathError(Exception):
    """Report an override that cannot be placed; carries the path reached so far."""

    def __init__(self, message: str, path: Sequence[Key]) -> None:
        super().__init__(message)
        self.path = tuple(path)


def load_config(
    path: str | Path | None,
    /,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> KineticConfig:
    """Load the config: `path` (None: defaults only), then `env`, then `overrides`.

    `env` defaults to `os.environ`. A variable counts when it starts with `KINETIC_`, is not in
    `NON_CONFIG_ENV_VARS`, and its first segment names a top-level key: `KINETIC_STORE__KIND`
    sets `store.kind` (`__` separates keys, keys are lowercased, a number indexes an array,
    one past the end appends). Its value is read as a TOML value when it parses as one (`5`,
    `true`, `"x"`, `[1, 2]`), else as a plain string; a `str` field keeps the raw text unless
    it is a quoted TOML string. `overrides` maps dotted keys (`kernel.mailbox_size`,
    `agents.0.params.rate`) to values, as the CLI flags give them; a None value is skipped
    (the flag was not given). Every error is a `ConfigError` naming the source and the path.
    Loading registers the config's secrets with `runtime.logging.register_secret`.
    """
    label = "<defaults>" if path is None else str(path)
    data: dict[str, Any] = {} if path is None else _read_toml(Path(path), label)
    origins: dict[tuple[Key, ...], str] = {}
    environ = os.environ if env is None else env
    for name, keys in _env_keys(environ):
        text = _is_text_type(_type_at(mi.type_info(KineticConfig), keys))
        _apply(data, keys, _parse_env_value(environ[name], text=text), f"env {name}", origins)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            # Copied: a later, deeper override must not edit the caller's objects.
            owned = copy.deepcopy(value)
            _apply(data, dotted.split("."), owned, f"override {dotted}", origins)
    try:
        cfg = msgspec.convert(data, KineticConfig, strict=True)
    except msgspec.ValidationError as err:
        message = _with_path(str(err), "$")
        raise ConfigError(f"{_source_of(message, origins, label)}: {message}") from err
    for secret in secret_values(cfg):
        register_secret(secret)
    return cfg


def load_toml_as(path: str | Path, type_: type[T], /) -> T:
    """Read a TOML file of another command (`kinetic analyze`, `kinetic train`) into `type_`.

    The same errors as `load_config`: a `ConfigError` naming the file and the key path (or the
    line and column of a TOML syntax error). No environment overrides apply.
    """
    label = str(path)
    data = _read_toml(Path(path), label)
    try:
        return msgspec.convert(data, type_, strict=True)
    except msgspec.ValidationError as err:
        raise ConfigError(f"{label}: {_with_path(str(err), '$')}") from err


def decode_params(params: Mapping[str, Any], type_: type[T], /, *, where: str, source: str) -> T:
    """Decode an agent's or adapter's `params` into its own struct, with config-style errors.

    `where` is the path of the params table (`$.agents[0].params`), `source` the file (or env
    variable) it came from: a bad `rate` reads ``config/x.toml: Expected `int`, got `str` - at
    `$.agents[0].params.rate` ``.
    """
    try:
        return msgspec.convert(dict(params), type_, strict=True)
    except msgspec.ValidationError as err:
        message = _with_path(str(err), "$")
        match = _AT.search(message)
        assert match is not None  # _with_path guarantees the suffix
        rebased = where + match.group(1)[1:]
        raise ConfigError(f"{source}: {message[: match.start()]} - at `{rebased}`") from err


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: no such config file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{label}: not UTF-8 text - at byte {err.start}") from err
    except OSError as err:
        raise ConfigError(f"{label}: cannot read the config file: {err.strerror}") from err
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = _TOML_POS.match(str(err))
        if match is None:  # pragma: no cover - tomllib always names a position
            raise ConfigError(f"{label}: {err}") from err
        if match.group("line") is None:
            where = f"line {text.count(chr(10)) + 1} (end of file)"
        else:
            where = f"line {match.group('line')}, column {match.group('col')}"
        raise ConfigError(f"{label}: {match.group('msg')} - at {where}") from err


def _env_keys(environ: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    """Return the config overrides in `environ` as (variable, keys), shortest path first."""
    top = {f.encode_name for f in msgspec.structs.fields(KineticConfig)}
    found: list[tuple[str, list[str]]] = []
    for name in environ:
        if not name.startswith(ENV_PREFIX) or name in NON_CONFIG_ENV_VARS:
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        if keys[0] not in top:
            continue
        if "" in keys:
            raise ConfigError(f"env {name}: empty key between `__` separators")
        found.append((name, keys))

    def order(item: tuple[str, list[str]]) -> tuple[tuple[int, int, str], ...]:
        return tuple((0, int(k), "") if k.isdigit() else (1, 0, k) for k in item[1])

    return sorted(found, key=order)


def _parse_env_value(raw: str, *, text: bool) -> Any:
    try:
        doc = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return raw
    if len(doc) != 1:  # the text smuggled in more keys: it is not one value
        return raw
    value = doc["v"]
    if text and not isinstance(value, str):
        return raw
    return value


def _unwrap(t: mi.Type) -> mi.Type:
    while True:
        if isinstance(t, mi.Metadata):
            t = t.type
        elif isinstance(t, mi.UnionType):
            options = [o for o in t.types if not isinstance(o, mi.NoneType)]
            if len(options) != 1:
                return t
            t = options[0]
        else:
            return t


def _type_at(t: mi.Type, keys: Sequence[str]) -> mi.Type | None:
    for key in keys:
        t = _unwrap(t)
        if isinstance(t, mi.StructType):
            fields = {f.encode_name: f.type for f in t.fields}
            if key not in fields:
                return None
            t = fields[key]
        elif isinstance(t, mi.ListType) and key.isdigit():
            t = t.item_type
        elif isinstance(t, mi.DictType):
            t = t.value_type
        else:
            return None
    return _unwrap(t)


def _is_text_type(t: mi.Type | None) -> bool:
    if isinstance(t, mi.StrType):
        return True
    if isinstance(t, mi.LiteralType):
        return all(isinstance(v, str) for v in t.values)
    return False


def _apply(
    root: dict[str, Any],
    keys: Sequence[str],
    value: Any,
    label: str,
    origins: dict[tuple[Key, ...], str],
) -> None:
    """Set `value` at `keys` in `root`, creating tables and array entries on the way."""
    try:
        path = _assign(root, keys, value, lambda p: origins.__setitem__(p, label))
    except _PathError as err:
        raise ConfigError(f"{label}: {err} - at `{_format_path(err.path)}`") from None
    origins[path] = label


def _assign(
    root: dict[str, Any],
    keys: Sequence[str],
    value: Any,
    created: Callable[[tuple[Key, ...]], None],
) -> tuple[Key, ...]:
    cur: Any = root
    path: list[Key] = []
    for i, key in enumerate(keys):
        slot: Key
        if isinstance(cur, list):
            if not key.isdigit():
                raise _PathError(f"Expected an array index, got `{key}`", path)
            slot = int(key)
            if slot > len(cur):
                raise _PathError(f"index {slot} is past the end (length {len(cur)})", path)
            present = cur[slot] if slot < len(cur) else _MISSING
        elif isinstance(cur, dict):
            slot = key
            present = cur.get(key, _MISSING)
        else:
            raise _PathError(f"Expected `object`, got `{_json_type(cur)}`", path)
        path.append(slot)
        last = i == len(keys) - 1
        if last or present is _MISSING:
            new = value if last else ([] if keys[i + 1].isdigit() else {})
            if isinstance(cur, list) and slot == len(cur):
                cur.append(new)
            else:
                cur[slot] = new
            if not last:
                created(tuple(path))
            present = new
        cur = present
    return tuple(path)


def _json_type(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "float", str: "str", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _format_path(path: Sequence[Key]) -> str:
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)


def _parse_path(text: str) -> tuple[Key, ...]:
    keys: list[Key] = []
    for name, index, opaque in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]|(\[\.\.\.\])", text[1:]):
        if opaque:
            break
        keys.append(int(index) if index else name)
    return tuple(keys)


def _with_path(message: str, root: str) -> str:
    return message if _AT.search(message) else f"{message} - at `{root}`"


def _source_of(message: str, origins: Mapping[tuple[Key, ...], str], default: str) -> str:
    """Name the override that set the value an error is about, else the file."""
    match = _AT.search(message)
    path = _parse_path(match.group(1)) if match else ()
    field = _FIELD_IN_MSG.match(message)
    if field is not None:
        path = (*path, field.group(1))
    for end in range(len(path), 0, -1):
        if path[:end] in origins:
            return origins[path[:end]]
    return default


# --------------------------------------------------------------------------------------------
# Display: redaction, TOML and JSON writers


def redact(cfg: ConfigBase, /) -> dict[str, Any]:
    """Return `cfg` as builtins with `SecretStr` values and URL passwords replaced by `***`.

    Untyped tables (`params`) are judged by key: a key that looks secret (`api_secret`,
    `password`, ...) has its value replaced too.
    """
    result: dict[str, Any] = _scrub(msgspec.to_builtins(cfg), mi.type_info(type(cfg)), "", [])
    return result


def secret_values(cfg: ConfigBase, /) -> list[str]:
    """Return every secret value in `cfg` (what `redact` hides), for log redaction."""
    found: list[str] = []
    _scrub(msgspec.to_builtins(cfg), mi.type_info(type(cfg)), "", found)
    return list(dict.fromkeys(found))


def _scrub(value: Any, t: mi.Type, key: str, found: list[str]) -> Any:
    if isinstance(t, mi.Metadata):
        if t.extra and t.extra.get("secret") and isinstance(value, str):
            if not value:
                return value
            found.append(value)
            return REDACTED
        return _scrub(value, t.type, key, found)
    if isinstance(value, str):
        if value and isinstance(t, mi.AnyType) and is_secret_key(key):
            found.append(value)  # untyped (params): judged by the key
            return REDACTED
        return _scrub_text(value, found)
    if isinstance(t, mi.StructType) and isinstance(value, dict):
        types = {f.encode_name: f.type for f in t.fields}
        return {k: _scrub(v, types.get(k, mi.AnyType()), k, found) for k, v in value.items()}
    if isinstance(t, mi.DictType) and isinstance(value, dict):
        return {k: _scrub(v, t.value_type, str(k), found) for k, v in value.items()}
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType) and isinstance(
        value, list
    ):
        return [_scrub(v, t.item_type, key, found) for v in value]
    if isinstance(t, mi.UnionType):
        options = [o for o in t.types if not isinstance(o, mi.NoneType)]
        inner = options[0] if len(options) == 1 else mi.AnyType()
        return _scrub(value, inner, key, found)
    if isinstance(t, mi.AnyType):
        if isinstance(value, dict):
            return {k: _scrub(v, t, str(k), found) for k, v in value.items()}
        if isinstance(value, list):
            return [_scrub(v, t, key, found) for v in value]
    return value


def _scrub_text(text: str, found: list[str]) -> str:
    if "://" in text and "@" in text:
        try:
            password = urlsplit(text).password
        except ValueError:
            password = None
        if password:
            found.append(password)
            if unquote(password) != password:
                found.append(unquote(password))
    return redact_url(text)


def to_json(data: Mapping[str, Any], /) -> str:
    """Write `data` (e.g. `redact(cfg)`) as indented JSON, ending with a newline."""
    return msgspec.json.format(msgspec.json.encode(data), indent=2).decode() + "\n"


def dump_toml(data: Mapping[str, Any], /) -> str:
    """Write `data` (e.g. `redact(cfg)`) as TOML that `load_config` reads back.

    TOML has no null: None values are left out, which reads back as the schema default (the
    only None-able fields default to None).
    """
    lines: list[str] = []
    _emit_table(lines, data, ())
    return "\n".join(lines).strip("\n") + "\n"


def _emit_table(lines: list[str], table: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
    tables: list[tuple[str, Mapping[str, Any]]] = []
    arrays: list[tuple[str, list[Mapping[str, Any]]]] = []
    for key, value in table.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, sub in tables:
        path = (*prefix, key)
        lines += ["", f"[{'.'.join(map(_toml_key, path))}]"]
        _emit_table(lines, sub, path)
    for key, items in arrays:
        path = (*prefix, key)
        for item in items:
            lines += ["", f"[[{'.'.join(map(_toml_key, path))}]]"]
            _emit_table(lines, item, path)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_str(key)


def _toml_str(text: str) -> str:
    # JSON's escapes are all valid in a TOML basic string; TOML also forbids a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}" if inner else "{}"
    raise TypeError(f"cannot write a `{type(value).__name__}` as TOML")


# --------------------------------------------------------------------------------------------
# Reference generation (runtime/_config_reference.py)


def config_reference() -> str:
    """Return the Markdown reference of every section and key, generated from the schema."""
    from runtime._config_reference import render_reference

    return render_reference()


def main(argv: Sequence[str] | None = None) -> int:
    """Print the config reference, or a config file as loaded with secrets redacted."""
    parser = argparse.ArgumentParser(prog="python -m runtime.config", description=main.__doc__)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--reference", action="store_true", help="print the Markdown reference")
    what.add_argument("--show", metavar="FILE", help="print FILE after env overrides, redacted")
    args = parser.parse_args(argv)
    if args.reference:
        sys.stdout.write(config_reference())
        return 0
    try:
        cfg = load_config(args.show)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    sys.stdout.write(dump_toml(redact(cfg)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
