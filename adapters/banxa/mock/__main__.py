"""Run the fake Banxa as a process: `python -m adapters.banxa.mock --port 8790 --webhook URL`."""

from __future__ import annotations

from decimal import Decimal

import anyio
import click

from adapters.banxa.mock.app import FakeBanxa
from adapters.banxa.mock.server import MOCK_KEY, MOCK_SECRET, serve


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=0, show_default=True, help="Port; 0 picks one.")
@click.option("--webhook", "webhook_url", default="", help="Where status webhooks are posted.")
@click.option("--step-secs", type=float, default=0.0, help="Auto-advance orders this often.")
@click.option("--btc-price", default="50000", show_default=True, help="Price of 1 BTC in fiat.")
def main(host: str, port: int, webhook_url: str, step_secs: float, btc_price: str) -> None:
    """Serve the fake Banxa with the mock credentials; print its URL on the first line."""
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    fake = FakeBanxa(keys={MOCK_KEY: MOCK_SECRET}, webhook_url=webhook_url,
                     auto_step_secs=step_secs)  # fmt: skip
    fake.prices["BTC"] = Decimal(btc_price)

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            url = await tg.start(lambda task_status: serve(fake, host=host, port=port,
                                                           task_status=task_status))  # fmt: skip
            print(url, flush=True)

    anyio.run(run)


if __name__ == "__main__":
    main()
