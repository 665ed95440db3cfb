"""Names derived from the config, in one place so every builder agrees on them."""

from __future__ import annotations

import re

from landing_zone.config.model import OrgConfig


def logical_id(*parts: str) -> str:
    """CloudFormation logical id (alphanumeric) from free-form parts: ('log-archive', 'key') -> LogArchiveKey."""
    words = [w for part in parts for w in re.split(r"[^A-Za-z0-9]+", part) if w]
    return "".join(w[:1].upper() + w[1:] for w in words)


def stack_name(cfg: OrgConfig, short: str) -> str:
    """The CloudFormation stack / StackSet name; `charter-` prefixed so the guardrail protects it."""
    return f"charter-{short}"


def resource_name(cfg: OrgConfig, *parts: str) -> str:
    """A physical name prefix like `acme-log-archive` (lowercase, dash separated)."""
    return "-".join([cfg.organization.name, *[p.lower() for p in parts]])
