"""A stub wallet provider: deterministic addresses, simulated transfers, persisted in SQLite.

For mock mode, demos and crash tests. Addresses are derived from a seed, the user, the asset and
the network, so the same config gives the same addresses on every machine. A transfer is
recorded (and fsync'd) under its transfer id before `send` returns, so a repeat of the same id,
even from a daemon restarted after SIGKILL, finds the first one instead of sending twice; its
confirmations grow with wall time (`confirm_secs` each). The file lives in the daemon's data dir
(`wallets.sqlite` unless `path` says otherwise); `path = ":memory:"` keeps nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import anyio

from adapters.wallets.base import Transfer, WalletAdapter, WalletRefusedError
from agents.ramp.messages import SendCrypto
from runtime import ConfigBase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transfers (
    transfer_id TEXT PRIMARY KEY,
    ramp_id TEXT NOT NULL,
    user TEXT NOT NULL,
    asset TEXT NOT NULL,
    amount TEXT NOT NULL,
    to_address TEXT NOT NULL,
    tx_hash TEXT NOT NULL,
    sent_at REAL NOT NULL
);
"""


class StubWalletsConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of adapter kind `wallet_stub`."""

    path: str = "wallets.sqlite"
    """Transfer records, relative to the data dir; `:memory:` keeps nothing."""
    seed: str = "kinetic"
    """Mixed into every derived address."""
    confirmations: int = 3
    """Confirmations after which a transfer is final."""
    confirm_secs: float = 1.0
    """Wall time per simulated confirmation."""
    poll_secs: float = 0.5
    """How often confirmations are checked and reported."""
    max_amount: Decimal | None = None
    """Refuse transfers above this amount (to test refusals); None: no limit."""


class StubProvider:
    """Deterministic addresses and SQLite-recorded transfers."""

    def __init__(self, params: StubWalletsConfig, *, data_dir: Path | None = None) -> None:
        self.params = params
        self.data_dir = data_dir
        self._db: sqlite3.Connection | None = None
        self._lock = anyio.Lock()

    @property
    def db_path(self) -> str:
        p = self.params.path
        if p == ":memory:" or Path(p).is_absolute():
            return p
        return str((self.data_dir or Path(".")) / p)

    async def open(self) -> None:
        path = self.db_path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def address(self, user: str, asset: str, network: str) -> str:
        """Return the deterministic deposit address of (user, asset, network)."""
        digest = hashlib.sha256(f"{self.params.seed}|{user}|{asset}|{network}".encode()).hexdigest()
        return f"stub-{asset.lower()}-{digest[:32]}"

    async def deposit_address(self, user: str, asset: str, network: str, /) -> str:
        return self.address(user, asset, network)

    async def send(self, cmd: SendCrypto, /) -> Transfer:
        limit = self.params.max_amount
        async with self._lock:
            found = await self.find(cmd.transfer_id)
            if found is not None:
                return found
            if limit is not None and cmd.amount > limit:
                detail = f"{cmd.amount} {cmd.asset} is above {limit}"
                raise WalletRefusedError("amount_limit", detail)
            if not cmd.to_address:
                raise WalletRefusedError("no_address", "the transfer names no destination address")
            seed = f"{self.params.seed}|{cmd.transfer_id}"
            tx_hash = "0x" + hashlib.sha256(seed.encode()).hexdigest()
            row = (cmd.transfer_id, cmd.ramp_id, cmd.user, cmd.asset, str(cmd.amount),
                   cmd.to_address, tx_hash, time.time())  # fmt: skip
            await anyio.to_thread.run_sync(self._insert, row)
        found = await self.find(cmd.transfer_id)
        assert found is not None
        return found

    def _insert(self, row: tuple[object, ...]) -> None:
        assert self._db is not None
        self._db.execute("INSERT INTO transfers VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    async def find(self, transfer_id: str, /) -> Transfer | None:
        assert self._db is not None
        row = self._db.execute(
            "SELECT * FROM transfers WHERE transfer_id = ?", (transfer_id,)
        ).fetchone()
        return None if row is None else self._transfer(row)

    async def recent(self, limit: int, /) -> list[Transfer]:
        assert self._db is not None
        rows = self._db.execute(
            "SELECT * FROM transfers ORDER BY rowid DESC LIMIT ?", (limit,)
        ).fetchall()
        return [self._transfer(r) for r in rows]

    def transfers(self) -> list[Transfer]:
        """Return every transfer, oldest first (for tests and the demo)."""
        assert self._db is not None
        rows = self._db.execute("SELECT * FROM transfers ORDER BY rowid").fetchall()
        return [self._transfer(r) for r in rows]

    def _transfer(self, row: tuple[str, str, str, str, str, str, str, float]) -> Transfer:
        age = max(0.0, time.time() - row[7])
        return Transfer(
            transfer_id=row[0], ramp_id=row[1], user=row[2], asset=row[3], amount=Decimal(row[4]),
            to_address=row[5], tx_hash=row[6],
            confirmations=int(age / self.params.confirm_secs) if self.params.confirm_secs > 0
            else self.params.confirmations,
        )  # fmt: skip


class StubWallets(WalletAdapter):
    """Adapter kind `wallet_stub`: the wallet adapter over a `StubProvider`."""

    Params = StubWalletsConfig

    def __init__(self, params: StubWalletsConfig | None = None) -> None:
        self.params = params or StubWalletsConfig()
        self.stub = StubProvider(self.params)
        super().__init__(
            self.stub, confirmations=self.params.confirmations, poll_secs=self.params.poll_secs
        )

    async def start(self, port: object, /) -> None:
        self.stub.data_dir = self.data_dir
        await super().start(port)



