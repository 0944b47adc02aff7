"""Serve the fake Kraken until SIGINT or SIGTERM: `python -m adapters.kraken_fake --port 8788`.

Prints the base URL on the first line of stdout (scripts read it), e.g. to run
`kinetic data backfill --api-url http://127.0.0.1:8788 ...` against recorded data.
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys

import anyio
import msgspec

from adapters.kraken_fake.config import FakeKrakenConfig
from adapters.kraken_fake.server import FakeKrakenBindError, serve


async def _main(cfg: FakeKrakenConfig) -> None:
    fake = cfg.build()
    async with anyio.create_task_group() as tg:
        url = await tg.start(functools.partial(serve, fake, host=cfg.host, port=cfg.port))
        pairs = sorted({p for p, _ in fake.recordings.ohlc} | set(fake.recordings.trades))
        print(url, flush=True)
        print(f"pairs: {', '.join(pairs) or 'none (no recordings found)'}", file=sys.stderr)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                tg.cancel_scope.cancel()
                return


def main(argv: list[str] | None = None) -> int:
    """Parse options, serve, return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m adapters.kraken_fake", description=__doc__)
    defaults = FakeKrakenConfig()
    parser.add_argument("--data-dir", default=defaults.data_dir, help="recordings directory")
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port, help="0: a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fail-after", type=int, default=None)
    parser.add_argument("--fail-count", type=int, default=None)
    parser.add_argument("--ohlc-page", type=int, default=defaults.ohlc_page)
    args = parser.parse_args(argv)
    try:
        cfg = msgspec.convert(
            {k: v for k, v in vars(args).items() if v is not None}, FakeKrakenConfig
        )
        anyio.run(_main, cfg)
    except (FakeKrakenBindError, msgspec.ValidationError) as exc:
        print(f"kraken_fake: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
