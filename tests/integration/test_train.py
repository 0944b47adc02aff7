"""`kinetic train` as a user runs it on real candles, and the frozen policy in backtest and replay.

A small window (a day and a half to train, half a day each to validate and test) keeps the whole
module near 25 s; the procedure is the shipped one (config/train_mm.toml), only shorter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from agents.ml.rl import decode_policy, sha256_hex
from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data

REPO = Path(__file__).resolve().parents[2]
BTC_1M = "binance_btcusdt_1m_20250520_20250818.csv.gz"

CONFIG = """
trainer = "bar_market_maker_rl"
backtest = "{backtest}"
strategy = "mm"
feed = "candles"
name = "mm_rl"
out_dir = "{out}"
seed = 3
train = {{ start = "2025-05-20T00:00:00Z", end = "2025-05-21T12:00:00Z" }}
validation = {{ start = "2025-05-21T12:00:00Z", end = "2025-05-22T00:00:00Z" }}
test = {{ start = "2025-05-22T00:00:00Z", end = "2025-05-22T12:00:00Z" }}
[params]
episodes = 3
"""


def kinetic(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "--data-dir", str(cwd / "var"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def backtest_text() -> str:
    data = shared_data(BTC_1M)
    return (
        (REPO / "config" / "mm_binance.toml")
        .read_text()
        .replace("../shared/data/" + BTC_1M, str(data))
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Train once for the module: (working dir, v1 directory, stdout)."""
    cwd = tmp_path_factory.mktemp("train")
    (cwd / "mm.toml").write_text(backtest_text())
    (cwd / "train.toml").write_text(CONFIG.format(backtest=cwd / "mm.toml", out=cwd / "models"))
    proc = kinetic("train", "--config", "train.toml", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd, cwd / "models" / "mm_rl" / "v1", proc.stdout


def test_train_writes_a_version_with_its_report_and_never_overwrites(
    trained: tuple[Path, Path, str],
) -> None:
    cwd, v1, stdout = trained
    assert Path(stdout.strip().splitlines()[-1]) == v1  # the last line is the directory
    names = {p.name for p in v1.iterdir()}
    assert names == {
        "policy.json", "static_policy.json", "metrics.json", "report.json", "report.md",
        "equity.png",
    }  # fmt: skip
    policy = decode_policy((v1 / "policy.json").read_bytes())
    assert (policy.name, policy.version, policy.training.seed) == ("mm_rl", 1, 3)
    assert policy.training.data_file == BTC_1M
    assert policy.training.data_sha256 == sha256_hex(shared_data(BTC_1M).read_bytes())
    assert (policy.training.train_first, policy.training.train_last) == (
        "2025-05-20T00:01:00Z", "2025-05-21T11:59:00Z",
    )  # fmt: skip
    metrics = json.loads((v1 / "metrics.json").read_text())
    assert len(metrics["episodes"]) == 3 and 1 <= metrics["selected_episode"] <= 3
    report = json.loads((v1 / "report.json").read_text())
    assert set(report["variants"]) == {"plain_as", "static", "rl"}
    assert report["bars"] == 720
    rl = report["variants"]["rl"]
    assert rl["params"]["params.policy_sha256"] == sha256_hex((v1 / "policy.json").read_bytes())
    assert len(rl["head"]) == 64
    v = report["verdict"]
    assert v["candidate"] == "rl" and v["baseline"] == "plain_as"
    assert isinstance(v["candidate_wins"], bool)
    assert v["text"][0].startswith("`rl` beats `plain_as`" if v["candidate_wins"] else "`rl` does")
    md = (v1 / "report.md").read_text()
    assert "| pnl |" in md and "| sharpe |" in md and "Verdict" in md
    assert (v1 / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A second run is a new version; v1 is left exactly as it was.
    before = {p.name: p.read_bytes() for p in v1.iterdir()}
    proc = kinetic("train", "--config", "train.toml", "--no-report", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    v2 = cwd / "models" / "mm_rl" / "v2"
    assert proc.stdout.strip().splitlines()[-1] == str(v2)
    assert {p.name: p.read_bytes() for p in v1.iterdir()} == before
    assert not (v2 / "report.json").exists()
    again = decode_policy((v2 / "policy.json").read_bytes())
    assert msgspec.structs.replace(again, version=1) == policy  # same seed, same policy


def policy_backtest(cwd: Path, v1: Path, pin: str) -> Path:
    text = backtest_text().replace("timeframe_secs = 60\n", "timeframe_secs = 60\nlimit = 720\n", 1)
    assert text.count('venue = "sim"\n') == 1
    text = text.replace(
        'venue = "sim"\n',
        f'venue = "sim"\npolicy = "{v1 / "policy.json"}"\npolicy_sha256 = "{pin}"\n',
    )
    path = cwd / "mm_policy.toml"
    path.write_text(text)
    return path


def test_a_backtest_with_the_policy_is_deterministic_and_replays(
    trained: tuple[Path, Path, str],
) -> None:
    cwd, v1, _ = trained
    pin = sha256_hex((v1 / "policy.json").read_bytes())
    cfg = policy_backtest(cwd, v1, pin)
    heads = []
    for out in ("a", "b"):
        proc = kinetic("backtest", "--config", str(cfg), "--out", str(cwd / out), cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        heads.append(json.loads((cwd / out / "run.json").read_text())["head"])
    assert heads[0] == heads[1]
    assert (cwd / "a" / "trades.csv").read_bytes() == (cwd / "b" / "trades.csv").read_bytes()
    run_id = json.loads((cwd / "a" / "run.json").read_text())["run_id"]
    proc = kinetic("replay", run_id, "--verify", cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"head={heads[0]}" in proc.stdout
    # Change one byte of the artifact: the replay is refused before it runs, naming the hashes.
    tampered = cwd / "tampered"
    tampered.mkdir()
    body = (v1 / "policy.json").read_bytes().replace(b'"name": "mm_rl"', b'"name": "mm_RL"')
    (tampered / "policy.json").write_bytes(body)
    text = cfg.read_text().replace(str(v1 / "policy.json"), str(tampered / "policy.json"))
    (tampered / "mm.toml").write_text(text)
    proc = kinetic("backtest", "--config", str(tampered / "mm.toml"), cwd=cwd)
    assert proc.returncode == 2
    assert f"has sha256 {sha256_hex(body)}, not the pinned `policy_sha256` {pin}" in proc.stderr
    assert "at `$.agents[3].params`" in proc.stderr
    original = (v1 / "policy.json").read_bytes()
    (v1 / "policy.json").write_bytes(body)
    try:
        proc = kinetic("replay", run_id, "--verify", cwd=cwd)
    finally:
        (v1 / "policy.json").write_bytes(original)
    assert proc.returncode != 0
    assert f"not the pinned `policy_sha256` {pin}: the artifact changed" in proc.stderr


def test_bad_train_configs_name_the_file_and_the_key(tmp_path: Path) -> None:
    (tmp_path / "mm.toml").write_text(backtest_text())
    good = CONFIG.format(backtest=tmp_path / "mm.toml", out=tmp_path / "models")
    cases = {
        'episodes = "many"': "Expected `int`, got `str` - at `$.params.episodes`",
        "epsilons = 3": "Object contains unknown field `epsilons` - at `$.params`",
        "skews = []": "must each list at least one value - at `$.params`",
    }
    for line, message in cases.items():
        (tmp_path / "bad.toml").write_text(good.replace("episodes = 3", line))
        proc = kinetic("train", "--config", "bad.toml", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("kinetic: bad.toml: ")
        assert message in proc.stderr, proc.stderr
    (tmp_path / "bad.toml").write_text(good.replace('strategy = "mm"', 'strategy = "nope"'))
    proc = kinetic("train", "--config", "bad.toml", cwd=tmp_path)
    assert proc.returncode == 2 and "- at `$.strategy`" in proc.stderr
    (tmp_path / "bad.toml").write_text(good.replace("seed = 3", "seed = 3\ntrainr = 1"))
    proc = kinetic("train", "--config", "bad.toml", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown field `trainr` - at `$`" in proc.stderr
    assert not (tmp_path / "models").exists()  # nothing is written for a bad config
    # A policy without its pin is refused, and the error gives the hash to pin.
    (tmp_path / "p.json").write_bytes(b"{}")
    text = backtest_text().replace(
        'venue = "sim"\n', f'venue = "sim"\npolicy = "{tmp_path / "p.json"}"\n'
    )
    (tmp_path / "unpinned.toml").write_text(text)
    proc = kinetic("backtest", "--config", "unpinned.toml", cwd=tmp_path)
    assert proc.returncode == 2
    want = f"(pin the artifact); {tmp_path / 'p.json'} has sha256 {sha256_hex(b'{}')}"
    assert "`policy_sha256` is required with `policy` " + want in proc.stderr
