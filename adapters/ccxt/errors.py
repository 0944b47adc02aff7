"""Define the errors of the ccxt adapter, in the kernel's split: Broken, Closed, bad requests.

`VenueBrokenError`: the venue or the network failed (after retries), or a reply did not make
sense; the ccxt exception is chained. `VenueClosedError`: our side closed the client.
`VenueRequestError`: we asked for something the venue does not have (an unknown exchange,
symbol or timeframe): retrying will not help, fix the request.
"""

from __future__ import annotations

from runtime import KineticError


class VenueBrokenError(KineticError):
    """Report a venue, network or reply that failed us; the cause is chained."""


class VenueClosedError(KineticError):
    """Refuse a call on a client this process has not opened, or has closed."""


class VenueRequestError(KineticError, ValueError):
    """Reject a request the venue cannot serve: unknown exchange, symbol or timeframe.

    A `ValueError` too: the CLI exits 2 for it, as for any bad input.
    """
