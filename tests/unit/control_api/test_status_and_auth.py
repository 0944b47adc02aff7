"""The control API in-process: `/status` from its snapshot (stale counters, never stale controls)
and the token check that runs before every route (401 and 403 apart, fail closed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
import structlog
from litestar import Litestar, Router, get
from litestar.testing import AsyncTestClient

from control_api.app import _check_authorized, build_app
from control_api.auth import authorize
from control_api.context import ApiContext
from control_api.schemas import Status
from control_api.status_cache import STATUS_MAX_AGE_SECS
from runtime import Daemon, MemoryStore, Message, TokenStore, TradingStateChanged, _app
from runtime.config import load_config

pytestmark = [
    pytest.mark.anyio,
    # Litestar 2.25 deprecates the routes' inferred `api` dependency and bare `data` body (both
    # work until Litestar 3.0; the daemon runs them as is).
    pytest.mark.filterwarnings(
        "ignore::litestar.exceptions.base_exceptions.LitestarDeprecationWarning"
    ),
]

CONFIG = """
mode = "paper"
[[agents]]
name = "risk"
kind = "risk_gate"
role = "risk"
"""


class Note(Message, frozen=True, kw_only=True, tag="test.Note"):
    text: str


class Setup(msgspec.Struct, kw_only=True):
    api: ApiContext
    client: Any
    tokens: dict[str, str]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    (tmp_path / "k.toml").write_text(CONFIG)
    cfg = load_config(tmp_path / "k.toml", env={})
    store = MemoryStore()
    run = _app.run_info(cfg, run_id="r1", kernel="live")
    await store.create_run(run)
    kernel = _app.build_live(cfg, store, source="test", run=run)
    kernel.start_actors()
    store_tokens = TokenStore(tmp_path)
    tokens = {role: store_tokens.create(role, name=f"t-{role}") for role in ("viewer", "admin")}
    daemon = Daemon(
        kernel=kernel,
        store=store,
        run=run,
        config=cfg,
        data_dir=tmp_path,
        tokens=store_tokens,
        log=structlog.get_logger(),
    )
    await kernel.flush()  # the kernel does not run here: nothing else writes the journal
    api = ApiContext(daemon)
    with api.projections.follow(daemon):
        await api.projections.rebuild(daemon)
        async with AsyncTestClient(build_app(api)) as client:
            yield Setup(api=api, client=client, tokens=tokens)


async def status(s: Setup, /) -> Status:
    r = await s.client.get("/status", headers={"Authorization": f"Bearer {s.tokens['viewer']}"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    return msgspec.json.decode(r.content, type=Status)


async def test_status_counters_are_at_most_the_max_age_old(setup: Setup) -> None:
    kernel = setup.api.daemon.kernel
    first = await status(setup)
    kernel.emit_input("feed", Note(text="moves seq"))
    assert (await status(setup)).seq == first.seq  # served from the snapshot
    await anyio.sleep(STATUS_MAX_AGE_SECS * 1.5)
    assert (await status(setup)).seq == kernel.seq == first.seq + 1


async def test_status_controls_are_never_stale(setup: Setup) -> None:
    kernel = setup.api.daemon.kernel
    assert (await status(setup)).trading.global_state == "ACTIVE"
    # The gate announces HALTED (as after a kill): the very next read shows it.
    msg = TradingStateChanged(scope="global", target="*", state="HALTED", reason="t", by="t")
    kernel.emit_output("risk", msg, "", "", 0, kernel.now_ns())
    st = await status(setup)
    assert st.trading.global_state == "HALTED" and st.seq == kernel.seq


async def test_no_token_is_401_a_weak_role_is_403(setup: Setup) -> None:
    c = setup.client
    r = await c.get("/status")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = await c.get("/status", headers={"Authorization": "Bearer kin_nope"})
    assert r.status_code == 401 and r.json() == {"error": "invalid bearer token"}
    viewer = {"Authorization": f"Bearer {setup.tokens['viewer']}"}
    # 403 before the body is read: this one would be a 400 otherwise.
    r = await c.post("/kill", headers=viewer, content=b"{not json")
    assert r.status_code == 403, r.text
    assert (await c.get("/health")).status_code == 200


def test_an_app_whose_route_skips_the_token_check_is_refused() -> None:
    async def other(request: Any) -> None:
        return None

    @get("/sneaky", opt={"action": "read"}, before_request=other, sync_to_thread=False)
    def sneaky() -> str:
        return "no token needed"

    @get("/fine", opt={"action": "read"}, sync_to_thread=False)
    def fine() -> str:
        return "ok"

    router = Router(path="/", route_handlers=[fine, sneaky], before_request=authorize)
    with pytest.raises(RuntimeError, match="/sneaky"):
        _check_authorized(Litestar(route_handlers=[router]))
    with pytest.raises(RuntimeError, match="/fine"):  # a route outside the checked router
        _check_authorized(Litestar(route_handlers=[fine]))
    _check_authorized(
        Litestar(route_handlers=[Router(path="/", route_handlers=[fine], before_request=authorize)])
    )
