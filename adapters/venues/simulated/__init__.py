"""The simulated venue: deterministic matching of orders against recorded or simulated data.

It runs as a deterministic actor, not as an I/O adapter: it reads market data and orders and
derives fills, so a replay re-derives every fill and the journal stores none of them at level
`inputs`. Kind `simulated_venue` (entry point group `kinetic.agents`).
"""

from adapters.venues.simulated.config import SimulatedVenueConfig as SimulatedVenueConfig
from adapters.venues.simulated.venue import SimulatedVenue as SimulatedVenue

__all__ = ["SimulatedVenue", "SimulatedVenueConfig"]
