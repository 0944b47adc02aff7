"""Serving HTTP lowers the thread switch interval, and puts it back after the last service ends."""

from __future__ import annotations

import sys

import anyio
import httpx
import pytest

from runtime import bind_socket, serve_asgi
from runtime._http import SWITCH_INTERVAL_SECS, fast_thread_switching

pytestmark = pytest.mark.anyio


def test_nested_users_keep_it_low_until_the_last_one_leaves() -> None:
    before = sys.getswitchinterval()
    with fast_thread_switching():
        assert sys.getswitchinterval() == SWITCH_INTERVAL_SECS
        with fast_thread_switching():  # a second service (the webhook ingress)
            assert sys.getswitchinterval() == SWITCH_INTERVAL_SECS
        assert sys.getswitchinterval() == SWITCH_INTERVAL_SECS
    assert sys.getswitchinterval() == before


async def test_serving_sets_it_and_stopping_restores_it() -> None:
    before = sys.getswitchinterval()
    seen: list[float] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        seen.append(sys.getswitchinterval())
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    sock = bind_socket("127.0.0.1", 0, what="the test app")
    urls: list[str] = []
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()

        def listening(url: str) -> None:
            urls.append(url)
            ready.set()

        tg.start_soon(lambda: serve_asgi(app, sock, shutdown_secs=1, on_listening=listening))
        await ready.wait()
        async with httpx.AsyncClient() as client:
            assert (await client.get(urls[0])).status_code == 204
        tg.cancel_scope.cancel()
    sock.close()
    assert seen == [SWITCH_INTERVAL_SECS]
    assert sys.getswitchinterval() == before
