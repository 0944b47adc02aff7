"""Configure structured logging once, and keep secrets out of every log line.

Kinetic logs through structlog without the stdlib `logging` machinery: a filtering bound logger
writes straight to a stream, which keeps a filtered-out `debug` call to one method lookup.
Off a terminal (a service, a container, a pipe) each event is one JSON object per line; on a
terminal it is a readable console line. Timestamps are ISO 8601 in UTC.

Event names are snake_case nouns + past participles or verb phrases (`order_submitted`,
`journal_flushed`, `actor_restarting`); context goes in keyword fields, never formatted into the
event string. This module does not rewrite events: the convention is checked in review.

Secrets never reach a stream (DESIGN §4). A processor, last before rendering, replaces:

- the value of any key that looks secret (`secret`, `password`, `passwd`, `token`, `api_key`,
  `apikey`, `authorization`, `private_key`, `credential`, case-insensitive, in nested mappings
  too; keys ending in `_file`, `_path` or `_env` name where a secret lives and are kept);
- the password inside URL-like strings (`postgresql://user:pw@host/db` becomes
  `postgresql://user:***@host/db`) and `password=...` pairs (libpq key/value DSNs, query strings);
- every occurrence of a value registered with `register_secret` (the daemon registers what it
  reads from the environment, such as `EXCHANGE_API_SECRET`; `runtime.config.load_config`
  registers the secrets of the config it loads).
"""

from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TextIO, cast

import msgspec

from runtime._errors import ConfigError

if TYPE_CHECKING:
    from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = [
    "REDACTED",
    "configure_logging",
    "get_logger",
    "is_secret_key",
    "redact_secrets",
    "redact_url",
    "register_secret",
]

REDACTED = "***"
"""The replacement for every redacted value, in logs and in `runtime.config.redact`."""

_LEVELS: dict[str, int] = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}

# Key fragments that mark a secret, compared after lowercasing and dropping `_`, `-` and `.`.
_SECRET_KEY_PARTS = (
    "secret",
    "password",
    "passwd",
    "token",
    "apikey",
    "authorization",
    "privatekey",
    "credential",
)
# A key with one of these suffixes names where a secret is kept, not the secret itself.
_REFERENCE_SUFFIXES = ("_file", "_path", "_env")

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)[^/?#\s]+@")
_PAIR_PASSWORD = re.compile(r"(?i)\b(?P<head>password|passwd|pwd)=[^&\s]+")

# Shorter registered secrets are redacted only where a whole value equals them: replacing
# every occurrence of a 2-character string would shred the log line.
_SUBSTRING_MIN_LEN = 4


class _SecretRegistry:
    """Hold the registered secret values; readers see an immutable snapshot, never a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        with self._lock:
            if value and value not in self.values:
                # Longest first, so a secret that contains another is replaced whole.
                self.values = tuple(sorted((*self.values, value), key=len, reverse=True))


_SECRETS = _SecretRegistry()


class _StderrWriter(io.TextIOBase):
    """Write to whatever `sys.stderr` is at write time (pytest and daemons swap it)."""

    def write(self, s: str) -> int:
        return sys.stderr.write(s)

    def flush(self) -> None:
        sys.stderr.flush()


class _Writer:
    """Write rendered lines to a stream; `name` is what `get_logger` was called with."""

    def __init__(self, file: TextIO, lock: threading.Lock, name: str | None) -> None:
        self._file = file
        self._lock = lock
        self.name = name

    def msg(self, message: str) -> None:
        with self._lock:  # one line per event, even from several threads
            self._file.write(message + "\n")
            self._file.flush()

    debug = info = warning = warn = error = err = critical = fatal = exception = failure = msg


class _WriterFactory:
    """Make `_Writer`s that share one stream and one lock (a structlog logger factory)."""

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> _Writer:
        return _Writer(self._file, self._lock, args[0] if args else None)


def _add_logger_name(logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name is not None:
        event_dict.setdefault("logger", name)
    return event_dict


def register_secret(value: str, /) -> None:
    """Redact every later occurrence of `value` in log events; empty values are ignored."""
    _SECRETS.add(value)


def is_secret_key(key: str, /) -> bool:
    """Tell whether a mapping key or field name looks like it holds a secret."""
    lowered = key.lower()
    if lowered.endswith(_REFERENCE_SUFFIXES):
        return False
    squashed = lowered.replace("_", "").replace("-", "").replace(".", "")
    return any(part in squashed for part in _SECRET_KEY_PARTS)


def redact_url(text: str, /) -> str:
    """Replace the password in URL userinfo and in `password=` pairs with `***`."""
    if "@" in text:
        text = _URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)
    if "=" in text:
        text = _PAIR_PASSWORD.sub(rf"\g<head>={REDACTED}", text)
    return text


def _redact_str(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if text == secret:
            return REDACTED
        if len(secret) >= _SUBSTRING_MIN_LEN and secret in text:
            text = text.replace(secret, REDACTED)
    return redact_url(text)


def _redact_value(key: str | None, value: Any, secrets: tuple[str, ...]) -> Any:
    # Build new containers: the caller's objects are never mutated.
    if key is not None and value is not None and is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return _redact_str(value, secrets)
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value, enc_hook=str)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(None, v, secrets) for v in value)
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace secret values in an event dict (a structlog processor; see the module doc)."""
    secrets = _SECRETS.values
    for key, value in event_dict.items():
        event_dict[key] = _redact_value(key, value, secrets)
    return event_dict


def _json_dumps(obj: Any, **_kw: Any) -> str:
    return msgspec.json.encode(obj, enc_hook=str).decode()


def configure_logging(
    *,
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    stream: TextIO | None = None,
) -> None:
    """Route every structlog logger to `stream` (default: stderr) at `level` and above.

    `fmt="auto"` picks console lines on a TTY and JSON lines otherwise. Calling it again
    replaces the configuration, also for loggers obtained earlier from `get_logger`; a logger
    made with `.bind()` keeps the configuration it was made under, so configure first (the
    CLI does, before it builds any actor).
    """
    import structlog  # deferred: importing it costs ~100 ms that `import runtime` should not pay

    try:
        min_level = _LEVELS[level.lower()]
    except KeyError:
        raise ConfigError(f"`level` must be one of {', '.join(_LEVELS)}, got {level!r}") from None
    if fmt not in ("auto", "json", "console"):
        raise ConfigError(f"`fmt` must be one of auto, json, console, got {fmt!r}")
    target: TextIO = stream if stream is not None else cast(TextIO, _StderrWriter())
    probe = stream if stream is not None else sys.stderr
    is_tty = bool(getattr(probe, "isatty", lambda: False)())
    use_json = fmt == "json" or (fmt == "auto" and not is_tty)

    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if use_json:
        # No frame locals in tracebacks: they are where secrets hide.
        transformer = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        processors += [
            structlog.processors.ExceptionRenderer(transformer),
            redact_secrets,
            structlog.processors.JSONRenderer(serializer=_json_dumps),
        ]
    else:
        processors += [
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.dev.ConsoleRenderer(
                colors=is_tty,
                exception_formatter=structlog.dev.plain_traceback,
            ),
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(min_level),
        context_class=dict,
        logger_factory=_WriterFactory(target),
        # Not cached by structlog: `_LoggerHandle` caches per configuration instead.
        cache_logger_on_first_use=False,
    )
    _GENERATION[0] += 1


class _LoggerHandle:
    """Stand in for a bound logger and rebuild it after `configure_logging` runs again.

    structlog's own lazy proxy rebuilds its logger on every call when caching is off (~4 us
    even for a filtered `debug`); this one rebuilds once per configuration (~1 us a call).
    """

    __slots__ = ("_args", "_context", "_generation", "_logger")

    def __init__(self, args: tuple[str, ...], context: dict[str, Any]) -> None:
        self._args = args
        self._context = context
        self._generation = -1
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._generation != _GENERATION[0]:
            import structlog

            # The name travels as a factory argument: `logger` is not a legal context key.
            self._logger = structlog.get_logger(*self._args).bind(**self._context)
            self._generation = _GENERATION[0]
        return getattr(self._logger, attr)


# Bumped by every `configure_logging`; a one-item list so no `global` statement is needed.
_GENERATION = [0]


def get_logger(name: str | None = None, **bind: Any) -> FilteringBoundLogger:
    """Return a logger; `name` is bound as `logger`, `bind` as more context.

    Safe at import time: the logger follows later `configure_logging` calls. What its
    `.bind()` returns is fixed to the configuration in force at that moment.
    """
    args = () if name is None else (name,)
    return cast("FilteringBoundLogger", _LoggerHandle(args, dict(bind)))
