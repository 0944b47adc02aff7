"""Turn the ramp agent's wallet commands into calls on a wallet provider.

`WalletProvider` is what a real custody or wallet service implements (Fireblocks, BitGo, a node
of our own): deposit addresses per user and asset, transfers that are idempotent by our transfer
id, and confirmations. `WalletAdapter` is the kernel side, the same for every provider: it
executes `AssignDepositAddress` and `SendCrypto`, answers `reconcile` after a crash by looking
the transfer up by its id (never sending it again), and reports confirmations as they come.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar, Protocol

import anyio
import msgspec

from agents.ramp.messages import (
    AssignDepositAddress,
    CryptoSendFailed,
    CryptoSent,
    DepositAddressAssigned,
    SendCrypto,
    TransferConfirmed,
)
from runtime import Adapter, Envelope, Message, Reconciliation
from runtime.logging import get_logger

WATCHED = 100
"""How many of the latest transfers the adapter watches for confirmations."""


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    """A transfer as the provider knows it."""

    transfer_id: str
    ramp_id: str
    user: str
    asset: str
    amount: Decimal
    to_address: str
    tx_hash: str
    confirmations: int


class WalletRefusedError(Exception):
    """The provider refused a transfer for good (funds, address): nothing left the wallet."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class WalletProvider(Protocol):
    """What a wallet provider implements. Every method may be retried safely."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def deposit_address(self, user: str, asset: str, network: str, /) -> str:
        """Return the (stable) deposit address of `user` for `asset` on `network`."""
        ...

    async def send(self, cmd: SendCrypto, /) -> Transfer:
        """Send once per `cmd.transfer_id` (a repeat returns the first transfer)."""
        ...

    async def find(self, transfer_id: str, /) -> Transfer | None:
        """Return the transfer with this id, or None if it was never sent."""
        ...

    async def recent(self, limit: int, /) -> list[Transfer]:
        """Return the latest `limit` transfers, with their confirmations now (to watch)."""
        ...


class WalletAdapter(Adapter):
    """Serve the ramp agent's wallet commands from a `WalletProvider`."""

    feeds: ClassVar[bool] = True

    def __init__(self, provider: WalletProvider, *, confirmations: int, poll_secs: float) -> None:
        self.provider = provider
        self.required = confirmations
        self.poll_secs = poll_secs
        self.reported: dict[str, int] = {}
        self.log: Any = get_logger("kinetic.wallets")

    async def start(self, port: Any, /) -> None:
        await super().start(port)
        await self.provider.open()

    async def stop(self) -> None:
        await self.provider.close()

    async def execute(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Sequence[Message]:
        if isinstance(cmd, AssignDepositAddress):
            address = await self.provider.deposit_address(cmd.user, cmd.asset, cmd.network)
            return [
                DepositAddressAssigned(
                    user=cmd.user, asset=cmd.asset, network=cmd.network, address=address
                )
            ]
        if isinstance(cmd, SendCrypto):
            try:
                t = await self.provider.send(cmd)
            except WalletRefusedError as exc:
                self.log.warning(
                    "wallet_transfer_refused", transfer_id=cmd.transfer_id, code=exc.code
                )
                return [
                    CryptoSendFailed(
                        transfer_id=cmd.transfer_id,
                        ramp_id=cmd.ramp_id,
                        code=exc.code,
                        detail=exc.detail,
                    )
                ]
            self.log.info(
                "wallet_transfer_sent", transfer_id=t.transfer_id, tx_hash=t.tx_hash, asset=t.asset
            )
            return [CryptoSent(transfer_id=t.transfer_id, ramp_id=t.ramp_id, tx_hash=t.tx_hash)]
        return await super().execute(cmd, idem_key=idem_key, env=env)

    async def reconcile(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Reconciliation:
        if isinstance(cmd, AssignDepositAddress):
            # Reading an address is safe to repeat: the provider hands out the same one.
            return Reconciliation("done", await self.execute(cmd, idem_key=idem_key, env=env))
        if isinstance(cmd, SendCrypto):
            t = await self.provider.find(cmd.transfer_id)
            if t is None:
                return Reconciliation("not_done", (), f"no transfer `{cmd.transfer_id}`")
            sent = CryptoSent(transfer_id=t.transfer_id, ramp_id=t.ramp_id, tx_hash=t.tx_hash)
            return Reconciliation("done", [sent], f"sent as {t.tx_hash}")
        return await super().reconcile(cmd, idem_key=idem_key, env=env)

    async def run(self) -> None:
        """Report each recent transfer's confirmations as they grow, up to the required count.

        What was reported lives in memory: after a restart a count may be reported once more,
        which changes nothing downstream.
        """
        while True:
            await anyio.sleep(self.poll_secs)
            for t in await self.provider.recent(WATCHED):
                seen = self.reported.get(t.transfer_id, 0)
                n = min(t.confirmations, self.required)
                if n > seen:
                    self.reported[t.transfer_id] = n
                    await self.port.emit(
                        TransferConfirmed(
                            transfer_id=t.transfer_id,
                            ramp_id=t.ramp_id,
                            tx_hash=t.tx_hash,
                            confirmations=n,
                        ),
                        corr=t.ramp_id,
                    )
