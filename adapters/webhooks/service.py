"""Receive provider webhooks: verify, de-duplicate, and enter them into the bus as inputs.

A listener of its own (`[webhooks]` in the config), separate from the control API, so it can be
bound to a public interface in server mode while the control API stays on loopback. What a
delivery goes through, in order, before anything changes:

1. The provider adapter (`webhooks.provider`, e.g. `banxa`) verifies it (`WebhookSource`): the
   signature over the method, the endpoint path and the raw body bytes, the key, and the nonce's
   freshness (`max_age_secs`). Anything wrong: 401 with the provider's error code.
2. Replay protection: a nonce seen within the freshness window is refused (401 `replayed`).
   Together with (1) a captured delivery can never be re-played: stale, or seen.
3. The body is parsed into a message; malformed: 400.
4. De-duplication by (order id, status): a delivery already taken answers 200 with
   `duplicate: true` and enters nothing. (The ramp desk de-duplicates durably as well, so a
   duplicate arriving after a restart still makes no second transition.)
5. The message is journaled as an input from `webhook:<provider>` and routed; the answer (200)
   names its seq. The provider's retry on a lost answer is then a duplicate.

Nothing here holds state that matters for correctness across a restart: the seen nonces and
keys are bounded in-memory caches; the journal and the desk are the truth.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Protocol, runtime_checkable

import anyio
import anyio.abc
import msgspec
from litestar import Litestar, Request, Response, post
from litestar.exceptions import HTTPException

from runtime import Daemon, Message, bind_socket, serve_asgi, uvicorn_logs_to

SHUTDOWN_SECS = 2
SEEN_KEPT = 100_000
"""Delivery keys remembered for de-duplication (the desk de-duplicates beyond this)."""


class WebhookRejectedError(Exception):
    """A delivery that fails verification; `code` is the provider's (or ours), for the 401."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@runtime_checkable
class WebhookSource(Protocol):
    """What a provider adapter offers the ingress (the Banxa adapter implements it)."""

    def verify_webhook(
        self, *, method: str, path: str, authorization: str, body: bytes, now_ms: int,
        max_age_ms: int,
    ) -> str:  # fmt: skip
        """Check the delivery's signature and freshness; return its nonce or raise
        `WebhookRejectedError`."""
        ...

    def parse_webhook(self, body: bytes, /) -> tuple[Message, str]:
        """Return the input message and its de-duplication key; raise ValueError if malformed."""
        ...


class Accepted(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a delivery that passed verification."""

    accepted: bool
    duplicate: bool
    seq: int


class _Seen:
    """A bounded insertion-ordered set, with optional expiry per entry (ns, monotonic)."""

    def __init__(self, maxlen: int) -> None:
        self._d: OrderedDict[str, int] = OrderedDict()
        self._maxlen = maxlen

    def add(self, key: str, expires: int) -> bool:
        """Add `key`; return False when it is there already (and unexpired)."""
        now = time.monotonic_ns()
        d = self._d
        while d:
            oldest, exp = next(iter(d.items()))
            if exp > now and len(d) < self._maxlen:
                break
            del d[oldest]
        if key in d and d[key] > now:
            return False
        d[key] = expires
        return True


class Ingress:
    """The state of one running ingress (counters for `/status`-like logs, caches)."""

    def __init__(self, daemon: Daemon, source: WebhookSource) -> None:
        cfg = daemon.config.webhooks
        self.daemon = daemon
        self.source = source
        self.provider = cfg.provider
        self.path = cfg.path
        self.max_age_ms = round(cfg.max_age_secs * 1000)
        self.nonces = _Seen(SEEN_KEPT)
        self.keys = _Seen(SEEN_KEPT)
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0

    async def receive(self, request: Request[Any, Any, Any]) -> Response[Accepted]:
        body = await request.body()
        auth = request.headers.get("authorization", "")
        log = self.daemon.log
        try:
            nonce = self.source.verify_webhook(
                method=request.method, path=request.url.path, authorization=auth, body=body,
                now_ms=time.time_ns() // 1_000_000, max_age_ms=self.max_age_ms,
            )  # fmt: skip
            window = 2 * self.max_age_ms * 1_000_000
            if not self.nonces.add(f"{auth.split(':')[0]}|{nonce}", time.monotonic_ns() + window):
                raise WebhookRejectedError("replayed", f"nonce {nonce} was used already")
        except WebhookRejectedError as exc:
            self.rejected += 1
            log.warning(
                "webhook_rejected", provider=self.provider, code=exc.code, detail=exc.detail
            )
            raise HTTPException(status_code=401, detail=f"{exc.code}: {exc.detail}") from exc
        try:
            msg, key = self.source.parse_webhook(body)
        except ValueError as exc:
            self.rejected += 1
            log.warning("webhook_malformed", provider=self.provider, error=str(exc))
            raise HTTPException(status_code=400, detail=f"malformed delivery: {exc}") from exc
        if not self.keys.add(key, 2**62):
            self.duplicates += 1
            return Response(Accepted(accepted=True, duplicate=True, seq=0), status_code=200)
        env = await self.daemon.kernel.inject(f"webhook:{self.provider}", msg)
        self.accepted += 1
        return Response(Accepted(accepted=True, duplicate=False, seq=env.seq), status_code=200)


def build_ingress_app(ingress: Ingress) -> Litestar:
    """Return the ASGI app: one POST route at the configured path."""

    @post(ingress.path, status_code=200, sync_to_thread=False)
    async def deliver(request: Request[Any, Any, Any]) -> Response[Accepted]:
        return await ingress.receive(request)

    return Litestar(route_handlers=[deliver], openapi_config=None, debug=False)


class WebhookIngressService:
    """Service kind `webhook_ingress`: serve `[webhooks]` for as long as the daemon runs."""

    name = "webhooks"

    async def serve(
        self,
        daemon: Daemon,
        /,
        *,
        task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Bind, report the URL, serve until cancelled. A cancellation point."""
        cfg = daemon.config.webhooks
        source = daemon.kernel.adapters.get(cfg.provider)
        if not isinstance(source, WebhookSource):
            from runtime import ConfigError

            raise ConfigError(
                f"config: `webhooks.provider` is `{cfg.provider}`, which is not a configured "
                "adapter that verifies webhooks - at `$.webhooks.provider`"
            )
        sock = bind_socket(cfg.host, cfg.port, what="the webhook ingress")
        ingress = Ingress(daemon, source)

        def listening(url: str) -> None:
            daemon.log.info("webhooks_listening", url=url, path=cfg.path, provider=cfg.provider)
            if cfg.allow_public:
                daemon.log.warning(
                    "webhooks_public_bind",
                    url=url,
                    note="allow_public is set: the ingress may be reachable from other hosts",
                )
            tell = getattr(source, "webhook_listening", None)
            if tell is not None:
                tell(url + cfg.path)  # mock mode: the fake provider posts here
            task_status.started(url)

        try:
            with uvicorn_logs_to(daemon.log, "webhooks_server"):
                await serve_asgi(
                    build_ingress_app(ingress),
                    sock,
                    shutdown_secs=SHUTDOWN_SECS,
                    on_listening=listening,
                )
        finally:
            sock.close()
            daemon.log.info(
                "webhooks_stopped",
                accepted=ingress.accepted,
                duplicates=ingress.duplicates,
                rejected=ingress.rejected,
            )
