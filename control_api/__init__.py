"""The loopback control API: kill switches, quarantine, the paper-only guard, approvals, status.

The daemon finds it by name (`kinetic.services` entry point `control_api`, class
`control_api.service:ControlApiService`) and serves it in its own event loop. Every mutation is an
operator command on the bus and every read model a projection of the journal: see
docs/control-api.md. This package imports `runtime` and agents' `messages` only.
"""
