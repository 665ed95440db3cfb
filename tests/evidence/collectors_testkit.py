"""Helpers for the collector tests: run one collector against in-process moto or Stubbers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from charter.aws import SessionFactory
from charter.evidence.artifact import Artifact, utcnow
from charter.evidence.collectors import get
from charter.evidence.collectors.base import Context, Recorder, Target
from charter.landing_zone.config import load_config

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


def small_config():
    return load_config(ROOT / "examples" / "small" / "org.yaml")


def stub_client(service: str, region: str = "us-east-1") -> Any:
    """A real botocore client (for Stubber) that can never reach AWS."""
    return boto3.client(service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing",
                        endpoint_url="http://127.0.0.1:9")


def run_collector(name: str, cfg=None, *, region: str = "us-east-1", environment: str | None = "prod",
                  account_id: str = ACCOUNT, now: datetime | None = None, clients: dict[str, Any] | None = None,
                  management: bool = False, account_ids: dict[str, str] | None = None) -> Artifact:
    """Collect with moto (inside mock_aws) or with the given (stubbed) clients per service."""
    cfg = cfg or small_config()
    sessions = SessionFactory(region=region)

    def factory(service: str, reg: str) -> Any:
        if clients and service in clients:
            return clients[service]
        return sessions.client(service, region=reg)

    rec = Recorder(factory, account_id, region)
    ctx = Context(cfg, Target(account_id, "test", region, environment, management), now or utcnow(),
                  account_ids or {})
    return get(name).collect(rec, ctx, f"arn:aws:sts::{account_id}:assumed-role/CharterEvidenceReader/test", "test")


def results(artifact: Artifact, control: str) -> dict[str, str]:
    return {p.id: p.result for p in artifact.population if p.control == control}


from evidence_roles import provision_evidence_roles  # noqa: E402,F401 - shared with the e2e tests
