"""Run the fake Kraken, private API and one account, as a process of its own (crash tests).

    python -m tests.integration.kraken_live.fake_process --state S --log L --key K --secret B64 \
        --balance USDT=1000000 --balance XXBT=10 --price XBTUSDT=50000

Prints its base URL on the first line. The account and its orders live in `--state`, so the
fake can be restarted too; `--log` gets every private request as a JSON line.
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
from decimal import Decimal

import anyio

from adapters.kraken_fake import FakeKraken, KrakenRecordings, serve
from adapters.kraken_fake.private import KrakenPrivate


def _pairs(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


async def _main(args: argparse.Namespace) -> None:
    private = KrakenPrivate(state_path=args.state, log_path=args.log, client_ids=args.client_ids)
    private.add_account(args.key, args.secret, balances=_pairs(args.balance))
    for pair, price in _pairs(args.price).items():
        private.set_price(pair, Decimal(price))
    fake = FakeKraken(KrakenRecordings(), private=private)
    async with anyio.create_task_group() as tg:
        url = await tg.start(functools.partial(serve, fake, port=args.port))
        print(url, flush=True)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                tg.cancel_scope.cancel()
                return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--balance", action="append", default=[])
    parser.add_argument("--price", action="append", default=[])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-ids", choices=["open", "ever"], default="open")
    anyio.run(_main, parser.parse_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
