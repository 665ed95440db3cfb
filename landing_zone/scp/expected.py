"""The SCP statements org.yaml puts on each target, as plain data for whoever checks them
without the builders: the evidence collectors (the organizations collector compares them
with what is attached in AWS). The CLI passes them to a collection; deploy writes them into
the evidence collector Lambda's package, so the Lambda needs no landing-zone builders (and
no awacs)."""

from __future__ import annotations

from typing import Any

from charter.config.model import OrgConfig

from .packing import collect_statements


def expected_scp_statements(cfg: OrgConfig) -> list[dict[str, Any]]:
    """Every statement org.yaml expects: its Sid, the control it serves, the targets it goes on."""
    return [{"sid": s.sid, "control": s.control, "targets": list(s.targets)} for s in collect_statements(cfg)]


def evidence_sources(cfg: OrgConfig) -> dict[str, Any]:
    """`Context.sources` for a collection of `cfg`'s organization: what the collectors check
    that the landing zone decides (by collector name)."""
    return {"organizations": {"scp_statements": expected_scp_statements(cfg)}}
