"""Hold everything that touches the outside world: stores, venues, providers and gateways.

Actors stay pure and deterministic; the I/O they need lives here, behind the interfaces that
`runtime` defines, and the kernel finds each adapter by its kind through the `kinetic.adapters`
entry points.
"""
