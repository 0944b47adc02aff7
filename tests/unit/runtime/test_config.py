"""Check the config loader: error messages, overrides and their precedence, redaction, the docs."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest

from runtime._errors import ConfigError
from runtime.config import (
    NON_CONFIG_ENV_VARS,
    ConfigBase,
    KineticConfig,
    SecretStr,
    StoreConfig,
    config_reference,
    decode_params,
    dump_toml,
    load_config,
    redact,
    secret_values,
    to_json,
)

ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = ROOT / "config"


@pytest.fixture
def write(tmp_path: Path) -> Any:
    def _write(text: str, name: str = "x.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


def load_error(*args: Any, **kwargs: Any) -> str:
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as info:
        load_config(*args, **kwargs)
    return str(info.value)


# -- errors ----------------------------------------------------------------------------------


def test_wrong_type_names_file_path_and_type(write: Any) -> None:
    path = write('[kernel]\nmailbox_size = "big"\n')
    assert load_error(path) == (f"{path}: Expected `int`, got `str` - at `$.kernel.mailbox_size`")


def test_unknown_key_names_the_key_and_its_table(write: Any) -> None:
    path = write("[kernel]\nmailbx_size = 5\n")
    assert load_error(path) == (
        f"{path}: Object contains unknown field `mailbx_size` - at `$.kernel`"
    )


def test_unknown_top_level_key_gets_the_root_path(write: Any) -> None:
    path = write("sed = 5\n")
    assert load_error(path) == f"{path}: Object contains unknown field `sed` - at `$`"


def test_constraint_violation_uses_msgspec_wording(write: Any) -> None:
    path = write("[control_api]\nport = 70000\n")
    assert load_error(path) == f"{path}: Expected `int` <= 65535 - at `$.control_api.port`"


def test_bad_agent_name_reports_the_pattern(write: Any) -> None:
    path = write('[[agents]]\nname = "Ticker"\nkind = "k"\n')
    message = load_error(path)
    assert message.startswith(f"{path}: Expected `str` matching regex")
    assert message.endswith("- at `$.agents[0].name`")


def test_toml_syntax_error_names_file_and_line(write: Any) -> None:
    path = write('mode = "paper"\n\n[kernel]\nmailbox_size = \n')
    assert load_error(path) == f"{path}: Invalid value - at line 4, column 16"


def test_toml_error_at_end_of_file_still_names_a_line(write: Any) -> None:
    path = write('mode = "paper"\nseed =')
    assert load_error(path) == f"{path}: Invalid value - at line 2 (end of file)"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert load_error(path) == f"{path}: no such config file"


def test_non_utf8_file_is_rejected(write: Any, tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"seed = 1\n\xff\n")
    assert load_error(path) == f"{path}: not UTF-8 text - at byte 9"


def test_bad_env_override_names_the_variable(write: Any) -> None:
    path = write("seed = 1\n")
    message = load_error(path, env={"KINETIC_SEED": "abc"})
    assert message == "env KINETIC_SEED: Expected `int`, got `str` - at `$.seed`"


def test_unknown_key_from_env_names_the_variable() -> None:
    message = load_error(None, env={"KINETIC_STORE__KND": "postgres"})
    assert message == "env KINETIC_STORE__KND: Object contains unknown field `knd` - at `$.store`"


def test_env_override_into_a_scalar_is_rejected(write: Any) -> None:
    message = load_error(None, env={"KINETIC_SEED__X": "1"})
    assert message == "env KINETIC_SEED__X: Expected `int`, got `object` - at `$.seed`"
    message = load_error(write("seed = 3\n"), env={"KINETIC_SEED__X": "1"})
    assert message == "env KINETIC_SEED__X: Expected `object`, got `int` - at `$.seed`"


def test_env_index_past_the_end_is_rejected(write: Any) -> None:
    path = write('[[agents]]\nname = "a"\nkind = "k"\n')
    message = load_error(path, env={"KINETIC_AGENTS__3__KIND": "x"})
    assert message == (
        "env KINETIC_AGENTS__3__KIND: index 3 is past the end (length 1) - at `$.agents`"
    )


def test_bad_override_names_the_flag() -> None:
    message = load_error(None, overrides={"control_api.port": 0})
    assert message == "override control_api.port: Expected `int` >= 1 - at `$.control_api.port`"


def test_error_in_file_is_not_blamed_on_an_unrelated_override(write: Any) -> None:
    path = write('[kernel]\nmailbox_size = "big"\n')
    message = load_error(path, env={"KINETIC_KERNEL__RESTART_MAX": "3"})
    assert message.startswith(f"{path}: ")


def test_duplicate_agent_names_point_at_the_second(write: Any) -> None:
    path = write(
        '[[agents]]\nname = "a"\nkind = "k"\n\n[[agents]]\nname = "b"\nkind = "k"\n\n'
        '[[agents]]\nname = "a"\nkind = "k"\n'
    )
    assert load_error(path) == f"{path}: duplicate agent name `a` - at `$.agents[2].name`"


def test_duplicate_adapter_names_are_rejected(write: Any) -> None:
    path = write('[[adapters]]\nname = "v"\nkind = "k"\n[[adapters]]\nname = "v"\nkind = "k"\n')
    assert load_error(path) == f"{path}: duplicate adapter name `v` - at `$.adapters[1].name`"


def test_non_loopback_host_needs_allow_remote(write: Any) -> None:
    path = write('[control_api]\nhost = "0.0.0.0"\n')
    assert load_error(path) == (
        f"{path}: `host` is `0.0.0.0`, not a loopback address; set `allow_remote = true` "
        "to bind it - at `$.control_api`"
    )
    cfg = load_config(path, env={"KINETIC_CONTROL_API__ALLOW_REMOTE": "true"})
    assert cfg.control_api.host == "0.0.0.0"


def test_non_loopback_host_from_env_names_the_variable() -> None:
    message = load_error(None, env={"KINETIC_CONTROL_API__HOST": "10.0.0.1"})
    assert message.startswith("env KINETIC_CONTROL_API__HOST: `host` is `10.0.0.1`")


class RateParamsConfig(ConfigBase, frozen=True):
    instrument: str
    rate: Annotated[int, msgspec.Meta(gt=0)] = 1


def test_decode_params_rebases_the_path() -> None:
    params = decode_params(
        {"instrument": "BTC/USDT", "rate": 5},
        RateParamsConfig,
        where="$.agents[0].params",
        source="config/x.toml",
    )
    assert params == RateParamsConfig(instrument="BTC/USDT", rate=5)
    with pytest.raises(ConfigError) as info:
        decode_params(
            {"instrument": "BTC/USDT", "rate": "5"},
            RateParamsConfig,
            where="$.agents[1].params",
            source="config/x.toml",
        )
    assert str(info.value) == (
        "config/x.toml: Expected `int`, got `str` - at `$.agents[1].params.rate`"
    )


def test_decode_params_reports_unknown_and_missing_keys() -> None:
    def error(params: dict[str, Any]) -> str:
        with pytest.raises(ConfigError) as info:
            decode_params(params, RateParamsConfig, where="$.agents[0].params", source="f.toml")
        return str(info.value)

    assert error({"instrument": "x", "rat": 1}) == (
        "f.toml: Object contains unknown field `rat` - at `$.agents[0].params`"
    )
    assert error({}) == (
        "f.toml: Object missing required field `instrument` - at `$.agents[0].params`"
    )


# -- overrides and precedence ------------------------------------------------------------------


def test_no_path_gives_the_defaults() -> None:
    cfg = load_config(None, env={})
    assert cfg == KineticConfig()
    assert cfg.mode == "paper"
    assert cfg.store == StoreConfig()
    assert cfg.journal_level == "full"


def test_env_overrides_apply_nested_and_by_list_index() -> None:
    cfg = load_config(
        CONFIG_DIR / "default.toml",
        env={
            "KINETIC_SEED": "7",
            "KINETIC_STORE__KIND": "postgres",
            "KINETIC_JOURNAL__LEVEL": "inputs",
            "KINETIC_AGENTS__0__PARAMS__RATE": "5",
            "KINETIC_AGENTS__1__PARAMS__TAGS": "[1, 2]",
            "KINETIC_AGENTS__1__CRITICAL": "true",
            "KINETIC_STORE__PATH": "2024.db",
            "KINETIC_LOG__LEVEL": '"debug"',
        },
    )
    assert cfg.seed == 7
    assert cfg.store.kind == "postgres"
    assert cfg.store.path == "2024.db"  # a str field keeps the raw text
    assert cfg.journal.level == "inputs"
    assert cfg.agents[0].params["rate"] == 5
    assert cfg.agents[0].params["instrument"] == "BTC/USDT"  # the rest of the table stays
    assert cfg.agents[1].params["tags"] == [1, 2]
    assert cfg.agents[1].critical is True
    assert cfg.log.level == "debug"


def test_env_can_append_an_agent() -> None:
    cfg = load_config(
        None, env={"KINETIC_AGENTS__0__NAME": "risk", "KINETIC_AGENTS__0__KIND": "risk_gate"}
    )
    assert [(a.name, a.kind) for a in cfg.agents] == [("risk", "risk_gate")]


def test_non_config_env_vars_are_ignored() -> None:
    env = dict.fromkeys(NON_CONFIG_ENV_VARS, "whatever")
    env |= {"KINETIC_RUN_PORT": "1", "PATH": "/bin", "KINETIC_BOGUS": "x"}
    assert load_config(None, env=env) == KineticConfig()


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINETIC_SEED", "11")
    assert load_config(None).seed == 11


def test_precedence_is_file_then_env_then_overrides(write: Any) -> None:
    path = write("seed = 1\n[kernel]\nmailbox_size = 10\nrestart_max = 2\n")
    env = {"KINETIC_SEED": "2", "KINETIC_KERNEL__MAILBOX_SIZE": "20"}
    cfg = load_config(path, env=env, overrides={"seed": 3, "backtest.out_dir": "out"})
    assert cfg.seed == 3
    assert cfg.kernel.mailbox_size == 20
    assert cfg.kernel.restart_max == 2
    assert cfg.backtest.out_dir == "out"
    assert load_config(path, env=env).seed == 2
    assert load_config(path, env={}).seed == 1


def test_none_override_means_flag_not_given(write: Any) -> None:
    path = write("seed = 4\n")
    assert load_config(path, env={}, overrides={"seed": None}).seed == 4


@pytest.mark.parametrize(
    ("name", "mode", "level", "kind"),
    [
        ("default.toml", "paper", "full", "sqlite"),
        ("backtest.toml", "backtest", "inputs", "sqlite"),
        ("server.toml", "paper", "full", "postgres"),
    ],
)
def test_shipped_profiles_load(name: str, mode: str, level: str, kind: str) -> None:
    cfg = load_config(CONFIG_DIR / name, env={})
    assert cfg.mode == mode
    assert cfg.journal_level == level
    assert cfg.store.kind == kind
    names = [a.name for a in cfg.agents]
    assert names[:2] == ["ticker", "bars"]
    # The daemon profiles carry the pre-trade gate and the quarantine registry.
    assert names[2:] == ([] if mode == "backtest" else ["risk", "devices"])
    assert cfg.agents[0].params["instrument"] == "BTC/USDT"
    assert cfg.control_api.host == "127.0.0.1"


def test_backtest_profile_runs_one_hour() -> None:
    assert load_config(CONFIG_DIR / "backtest.toml", env={}).backtest.duration_secs == 3600.0


def test_journal_level_follows_mode_when_unset() -> None:
    assert load_config(None, env={"KINETIC_MODE": "backtest"}).journal_level == "inputs"
    assert load_config(None, env={"KINETIC_MODE": "live"}).journal_level == "full"
    cfg = load_config(None, env={"KINETIC_MODE": "backtest", "KINETIC_JOURNAL__LEVEL": "off"})
    assert cfg.journal_level == "off"


def test_critical_defaults_by_role(write: Any) -> None:
    path = write(
        '[[agents]]\nname = "r"\nkind = "k"\nrole = "risk"\n'
        '[[agents]]\nname = "d"\nkind = "k"\nrole = "data"\n'
        '[[agents]]\nname = "x"\nkind = "k"\nrole = "execution"\ncritical = false\n'
    )
    assert [a.is_critical for a in load_config(path, env={}).agents] == [True, False, False]


# -- display and redaction ---------------------------------------------------------------------


class VenueSecretsConfig(ConfigBase, frozen=True):
    api_key: str = "public-key"
    api_secret: SecretStr = ""
    url: str = ""


class HoldsSecretsConfig(ConfigBase, frozen=True):
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    venues: list[VenueSecretsConfig] = msgspec.field(default_factory=list)


def test_redact_hides_the_dsn_password() -> None:
    cfg = load_config(
        None, env={"KINETIC_STORE__DSN": "postgresql://user:pw-s3cret@db:5432/kinetic"}
    )
    shown = redact(cfg)
    assert shown["store"]["dsn"] == "postgresql://user:***@db:5432/kinetic"
    assert "pw-s3cret" not in dump_toml(shown)
    assert "pw-s3cret" not in to_json(shown)
    assert secret_values(cfg) == ["pw-s3cret"]


def test_redact_hides_secret_fields_and_secret_params() -> None:
    cfg = HoldsSecretsConfig(
        venues=[
            VenueSecretsConfig(api_secret="topsecret-1", url="https://u:p4ss@venue.test/api"),
            VenueSecretsConfig(),
        ]
    )
    shown = redact(cfg)
    assert shown["venues"][0] == {
        "api_key": "public-key",
        "api_secret": "***",
        "url": "https://u:***@venue.test/api",
    }
    assert shown["venues"][1]["api_secret"] == ""  # unset stays visibly unset
    assert secret_values(cfg) == ["topsecret-1", "p4ss"]

    agent_cfg = load_config(
        None,
        env={
            "KINETIC_AGENTS__0__NAME": "v",
            "KINETIC_AGENTS__0__KIND": "k",
            "KINETIC_AGENTS__0__PARAMS__API_SECRET": "zzz-secret",
            "KINETIC_AGENTS__0__PARAMS__API_SECRET_ENV": "EXCHANGE_API_SECRET",
        },
    )
    params = redact(agent_cfg)["agents"][0]["params"]
    assert params == {"api_secret": "***", "api_secret_env": "EXCHANGE_API_SECRET"}


def test_dump_toml_round_trips_a_profile() -> None:
    cfg = load_config(CONFIG_DIR / "default.toml", env={})
    text = dump_toml(redact(cfg))
    assert msgspec.convert(tomllib.loads(text), KineticConfig, strict=True) == cfg


def test_dump_toml_writes_awkward_values() -> None:
    data = {"a b": 'q"\\\n\x7f', "f": float("inf"), "nested": {"l": [{"x": 1}, [1, 2]]}}
    assert tomllib.loads(dump_toml(data)) == data


# -- the generated reference ----------------------------------------------------------------------


def test_docs_configuration_md_is_the_generated_reference() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == config_reference(), (
        "docs/configuration.md is stale: run "
        "`python -m runtime.config --reference > docs/configuration.md`"
    )


def test_reference_documents_every_field() -> None:
    reference = config_reference()
    for section in (
        "`[store]`",
        "`[journal]`",
        "`[kernel]`",
        "`[control_api]`",
        "`[log]`",
        "`[backtest]`",
        "`[[agents]]`",
        "`[[adapters]]`",
    ):
        assert f"## {section}" in reference
    for line in reference.splitlines():
        if line.startswith("| `"):
            assert not line.endswith("|  |"), f"undocumented field: {line}"


def test_loading_registers_secrets_with_logging() -> None:
    import io

    import structlog

    from runtime.logging import configure_logging, get_logger

    load_config(None, env={"KINETIC_STORE__DSN": "postgresql://u:pw-registered-42@db/k"})
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    try:
        get_logger().info("store_error", detail="auth failed for pw-registered-42")
    finally:
        structlog.reset_defaults()
    assert "pw-registered-42" not in stream.getvalue()


def test_event_loop_uvloop_without_uvloop_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from runtime._app import loop_options

    assert loop_options("asyncio") == {}
    assert loop_options("auto") == {"use_uvloop": True}  # installed with Kinetic here
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    assert loop_options("auto") == {}
    expected = r"run\.toml: uvloop is not installed.*\$\.kernel\.event_loop"
    with pytest.raises(ConfigError, match=expected):
        loop_options("uvloop", source="run.toml")


def test_event_loop_must_be_a_known_choice(write: Any) -> None:
    path = write('[kernel]\nevent_loop = "trio"\n')
    with pytest.raises(ConfigError, match=r"x\.toml.*\$\.kernel\.event_loop"):
        load_config(path)
