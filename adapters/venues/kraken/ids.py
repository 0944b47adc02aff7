"""Map our client order ids to Kraken's `cl_ord_id`, one pure function both ways of a crash use.

Kraken takes a `cl_ord_id` as a UUID (36 characters with dashes), 32 hex digits, or free ASCII
text of at most 18 characters, and enforces it unique among *open* orders only. Ours
(`<strategy>-<n>`) usually fit the free-text form and are sent as they are, readable in Kraken's
own screens; a longer one becomes the first 32 hex digits of its SHA-256. Either way the mapping
is deterministic, so a restarted daemon asks Kraken about the same id it sent.
"""

from __future__ import annotations

import hashlib
import re

_FREE_TEXT = re.compile(r"^[!-~]{1,18}$")


def cl_ord_id(client_id: str, /) -> str:
    """Return the `cl_ord_id` Kraken sees for `client_id`."""
    if _FREE_TEXT.match(client_id):
        return client_id
    return hashlib.sha256(client_id.encode()).hexdigest()[:32]
