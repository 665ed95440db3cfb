"""A collector whose later read is refused still evidences what it read: only the checks
that needed the refused read become a gap (naming the call and the fix), the others are
evidence. Through botocore Stubbers (requests and answers checked against the service
models) and the fan-out that turns skipped checks into gap artifacts."""

from __future__ import annotations

from botocore.stub import Stubber
from collectors_testkit import ACCOUNT, small_config, stub_client

from charter.evidence.collectors import get
from charter.evidence.collectors.base import Context, Recorder, Target
from charter.evidence.fanout import FanOut, Unit, _Access

CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/CharterEvidenceReader/test"


def _securityhub_refusing_standards():
    client = stub_client("securityhub")
    stub = Stubber(client)
    stub.add_response("describe_hub", {"HubArn": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:hub/default",
                                       "SubscribedAt": "2026-01-01T00:00:00Z"}, {})
    stub.add_client_error("get_enabled_standards", "AccessDeniedException", "not authorized to GetEnabledStandards",
                          403)
    stub.add_response("get_findings", {"Findings": []}, None)
    stub.activate()
    return client


def test_a_refused_later_read_leaves_the_earlier_checks_as_evidence() -> None:
    cfg = small_config()
    client = _securityhub_refusing_standards()
    rec = Recorder(lambda service, region: client, ACCOUNT, "us-east-1")
    ctx = Context(cfg, Target(ACCOUNT, "prod", "us-east-1", "prod"))
    artifact = get("securityhub").collect(rec, ctx, CALLER, "test")
    # the hub was read: its check is evidence
    assert artifact.kind == "evidence" and artifact.controls == ["MON-04"]
    assert [p.reason for p in artifact.population] == ["Security Hub enabled"]
    # the standards were not: that check is skipped, with the failed call
    assert rec.skipped == {"MON-04": ["standards"]}
    assert "securityhub:GetEnabledStandards" in rec.unreadable["standards"].message
    assert artifact.raw["unreadable"]["standards"].startswith("securityhub:GetEnabledStandards")


def test_the_fan_out_reports_the_skipped_check_as_its_own_gap() -> None:
    cfg = small_config()
    client = _securityhub_refusing_standards()

    class Sessions:  # the fan-out asks its factory only through `_Clients`, replaced below
        pass

    fan = FanOut(Sessions(), cfg, [], collectors=["securityhub"], management_account_id=ACCOUNT)
    fan.clients.factory = lambda account: (lambda service, region: client)  # type: ignore[method-assign]
    unit = Unit(get("securityhub"), Target(ACCOUNT, "prod", "us-east-1", "prod"))
    artifacts = fan.run_unit(unit, _Access(CALLER, None))
    evidence, gap = artifacts
    assert evidence.kind == "evidence" and [p.reason for p in evidence.population] == ["Security Hub enabled"]
    assert gap.kind == "gap" and gap.collector == "securityhub" and gap.controls == ["MON-04"]
    assert "securityhub:GetEnabledStandards" in gap.error and "AccessDenied" in gap.error and "fix:" in gap.error
    assert "other checks are in its evidence" in gap.error


def test_a_collector_whose_first_read_fails_is_one_gap() -> None:
    cfg = small_config()
    client = stub_client("securityhub")
    stub = Stubber(client)
    stub.add_client_error("describe_hub", "AccessDeniedException", "not authorized to DescribeHub", 403)
    stub.activate()

    class Sessions:
        pass

    fan = FanOut(Sessions(), cfg, [], collectors=["securityhub"], management_account_id=ACCOUNT)
    fan.clients.factory = lambda account: (lambda service, region: client)  # type: ignore[method-assign]
    unit = Unit(get("securityhub"), Target(ACCOUNT, "prod", "us-east-1", "prod"))
    (gap,) = fan.run_unit(unit, _Access(CALLER, None))
    assert gap.kind == "gap" and gap.controls == ["MON-04"] and "securityhub:DescribeHub" in gap.error
