"""Devices: gateways and devices under policy; today the quarantine registry."""
