"""Pricing rules, one module per AWS area; importing this package registers them all."""

from . import ai, api, cicd, compute, data, free, monitoring, network, orchestration, security  # noqa: F401
