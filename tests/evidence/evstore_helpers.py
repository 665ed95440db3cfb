"""Shared helpers for the evidence store tests: artifacts built the way collectors build them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from charter.evidence.artifact import ApiCall, Artifact, PopulationItem

ACCOUNTS = {"111111111111": "prod", "222222222222": "audit"}
REGIONS = ("us-east-1", "us-west-2")
COLLECTORS = {"iam": (["IAM-01", "IAM-05"], ["CC6.1", "CC6.3"]),
              "s3": (["ENC-02", "DAT-01"], ["CC6.7", "C1.1", "CC6.1"]),
              "cloudtrail": (["LOG-01"], ["CC7.2", "CC7.3", "CC4.1"])}


def artifact(collector: str = "iam", account: str = "111111111111", region: str = "us-east-1",
             when: datetime | None = None, n: int = 3, fail_every: int = 3, kind: str = "evidence") -> Artifact:
    controls, criteria = COLLECTORS.get(collector, (["EVD-01"], ["CC4.1"]))
    when = when or datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    population = [PopulationItem(id=f"arn:aws:{collector}::{account}:thing/{i}", control=controls[i % len(controls)],
                                 result="fail" if fail_every and i % fail_every == fail_every - 1 else "pass",
                                 reason=f"item {i} checked") for i in range(n)] if kind == "evidence" else []
    return Artifact(kind=kind, collector=collector, controls=controls, criteria=criteria, account_id=account,
                    account_name=ACCOUNTS.get(account, ""), region=region, collected_at=when,
                    caller_arn="arn:aws:sts::222222222222:assumed-role/CharterEvidenceCollector/charter",
                    charter_version="0.1.0",
                    calls=[ApiCall(service=collector, operation="List", region=region, pages=1)],
                    population=population, raw={"List": {"items": n}},
                    error="AccessDenied: cannot assume CharterEvidenceReader" if kind == "gap" else None)


def run_artifacts(when: datetime, n: int = 4) -> list[Artifact]:
    """A day's collection: every collector x account x region, and one gap."""
    out = [artifact(c, a, r, when + timedelta(minutes=i), n=n)
           for i, (c, a, r) in enumerate((c, a, r) for c in COLLECTORS for a in ACCOUNTS for r in REGIONS)]
    out.append(artifact("cloudtrail", "333333333333", "us-east-1", when, kind="gap"))
    return out
