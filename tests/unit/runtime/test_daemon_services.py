"""The daemon's composition: `[[services]]` built by kind with checked params, and a store that
never mixes paper and live runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.recorders import JsonlRecorder
from adapters.recorders.jsonl import _tail
from runtime import ConfigError, MemoryStore, RunInfo
from runtime._app import load_services, resolve_run
from runtime.config import KineticConfig, load_config

pytestmark = pytest.mark.anyio


def config(tmp_path: Path, text: str) -> KineticConfig:
    path = tmp_path / "k.toml"
    path.write_text("[control_api]\nenabled = false\n" + text)
    return load_config(path, env={})


def test_services_are_built_by_kind_and_named_as_configured(tmp_path: Path) -> None:
    cfg = config(tmp_path, '[[services]]\nname = "quotes"\nkind = "jsonl_recorder"\n'
                           'params = { file = "q.jsonl", out_dir = "out" }\n')  # fmt: skip
    [svc] = load_services(cfg, source="k.toml")
    assert isinstance(svc, JsonlRecorder) and svc.name == "quotes"
    assert svc.path("run-1") == Path("out") / "run-1" / "q.jsonl"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('kind = "nope"', "k.toml: unknown kind `nope` (known: "),
        ('kind = "jsonl_recorder"\nparams = { file = "a/b" }',
         "k.toml: Expected `str` matching regex '^[A-Za-z0-9_.-]+$' - at `$.services[0].params.file`"),  # noqa: E501
        ('kind = "jsonl_recorder"\nparams = { typo = 1 }',
         "k.toml: Object contains unknown field `typo` - at `$.services[0].params`"),
    ],
)  # fmt: skip
def test_a_bad_service_is_refused_with_its_key(tmp_path: Path, text: str, error: str) -> None:
    cfg = config(tmp_path, f'[[services]]\nname = "s"\n{text}\n')
    with pytest.raises(ConfigError) as err:
        load_services(cfg, source="k.toml")
    assert str(err.value).startswith(error)


def test_service_names_are_unique(tmp_path: Path) -> None:
    one = '[[services]]\nname = "s"\nkind = "jsonl_recorder"\n'
    with pytest.raises(
        ConfigError, match=r"duplicate service name `s` - at `\$.services\[1\].name`"
    ):
        config(tmp_path, one + one)


def _run(run_id: str, mode: str, kernel: str = "live") -> RunInfo:
    return RunInfo(run_id=run_id, kernel=kernel, mode=mode, level="full", seed=0,  # type: ignore[arg-type]
                   config="{}")  # fmt: skip


async def test_a_store_of_paper_runs_is_refused_to_a_live_daemon_and_the_reverse() -> None:
    for have, want in (("paper", "live"), ("live", "paper")):
        store = MemoryStore()
        await store.open()
        await store.create_run(_run("r1", have))
        with pytest.raises(ConfigError) as err:
            await resolve_run(store, KineticConfig(mode=want), new=False)  # type: ignore[arg-type]
        assert str(err.value) == (
            f"the memory store holds {have} runs (`r1`); a {want} daemon needs a store of its "
            "own: set `store.path` (sqlite) or `store.schema` (postgres) - at `$.store`"
        )
        assert [r.run_id for r in await store.list_runs()] == ["r1"], "no run was created"


async def test_a_daemon_continues_its_own_modes_open_run_and_ignores_backtests() -> None:
    store = MemoryStore()
    await store.open()
    await store.create_run(_run("bt", "backtest", kernel="sim"))
    await store.create_run(_run("p1", "paper"))
    run, created = await resolve_run(store, KineticConfig(mode="paper"), new=False)
    assert (run.run_id, created) == ("p1", False)
    run, created = await resolve_run(store, KineticConfig(mode="paper"), new=True)
    assert created and run.mode == "paper" and run.run_id.startswith("paper-")


def test_the_recorders_tail_reads_the_last_seq_and_cuts_a_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    assert _tail(path) == 0
    path.write_bytes(b'{"seq": 3}\n{"seq": 7}\n{"seq": 9, "bi')
    assert _tail(path) == 7
    assert path.read_bytes() == b'{"seq": 3}\n{"seq": 7}\n'
    path.write_bytes(b"")
    assert _tail(path) == 0
