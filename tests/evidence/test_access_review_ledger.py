"""IAM-09 from the evidence store: campaigns sealed by `charter access-review` are found by the
collector that has no local records (the scheduled Lambda), and only as far as the signed
manifests vouch for them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from collectors_testkit import small_config
from test_continuous_handler import BUCKET, CONFIG, LambdaContext, lambda_env  # noqa: F401 - the fixture

from charter.evidence.access_review.ledger import INDEX, read_campaigns, seal_campaign
from charter.evidence.artifact import Artifact, PopulationItem
from charter.evidence.collectors.access_review import check_quarters, fetch
from charter.evidence.collectors.base import Context, Target
from charter.evidence.errors import CampaignSourceError
from charter.evidence.manifest import Scope
from charter.evidence.signing import LocalSigner
from charter.evidence.store import EvidenceStore, LocalBackend, S3Backend

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def campaign_artifacts(quarter: str, *, closed: bool) -> list[Artifact]:
    """A campaign's snapshot (sealed at start) and, when closed, its report, as campaign.py makes them."""
    common = dict(collector="access_review", controls=["IAM-09"], criteria=["CC6.2"], account_id="organization",
                  account_name=f"access review {quarter}", region="us-east-1", caller_arn="arn:aws:iam::1:user/a",
                  charter_version="0.1.0")
    out = [Artifact(kind="evidence", collected_at=datetime(2026, 7, 2, tzinfo=UTC), raw={"quarter": quarter},
                    population=[PopulationItem(id="111/user/alice/console/login", control="IAM-09",
                                               result="not_applicable", reason="under review")], **common)]
    if closed:
        out.append(Artifact(kind="campaign", collected_at=datetime(2026, 9, 20, tzinfo=UTC),
                            raw={"quarter": quarter, "campaign_id": f"ar-{quarter}"}, **common))
    return out


@pytest.fixture()
def store(tmp_path):
    return EvidenceStore(LocalBackend(tmp_path / "evidence")), LocalSigner.for_directory(tmp_path / "key")


def _seal(store, signer, artifacts):
    return seal_campaign(store, artifacts, signer, Scope(organization="acme", collectors=["access_review"]))


def _judge(sources: dict, tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("CHARTER_ACCESS_REVIEW_DIR", str(tmp_path / "no-local-records"))
    ctx = Context(small_config(), Target("123456789012", "management", "us-east-1", is_management=True), NOW,
                  {}, sources)
    return {i.id: i.result for i in check_quarters(fetch(None, ctx), ctx)}


def test_a_campaign_closed_elsewhere_passes_without_local_records(store, tmp_path, monkeypatch):
    ev, signer = store
    _seal(ev, signer, campaign_artifacts("2026Q3", closed=False))  # `start`
    _seal(ev, signer, campaign_artifacts("2026Q3", closed=True)[1:])  # `close`, a later run
    found = read_campaigns(ev)
    assert [c["quarter"] for c in found["campaigns"]] == ["2026Q3"]
    assert found["campaigns"][0]["status"] == "closed" and found["campaigns"][0]["id"] == "ar-2026Q3"
    assert {r["manifest"] for r in found["read"]} == {1, 2} and not found["rejected"]
    assert _judge({"access_review": found}, tmp_path, monkeypatch)["access-review/2026Q3"] == "pass"
    # without the store the same collector knows of no campaign at all
    assert _judge({}, tmp_path, monkeypatch) == {"access-review/none": "fail"}


def test_a_started_campaign_is_in_progress_not_closed(store, tmp_path, monkeypatch):
    ev, signer = store
    _seal(ev, signer, campaign_artifacts("2026Q4", closed=False))
    results = _judge({"access_review": read_campaigns(ev)}, tmp_path, monkeypatch)
    assert results == {"access-review/2026Q4": "not_applicable"}


def test_forged_or_altered_pointers_are_not_believed(store, tmp_path, monkeypatch):
    ev, signer = store
    _seal(ev, signer, campaign_artifacts("2026Q2", closed=True))
    manifest_path_of_q2 = ev.backend.list(INDEX)[0]
    # a pointer written without a sealed run: claims 2026Q3 closed, names a real manifest and path
    real = json.loads(ev.backend.get(manifest_path_of_q2))
    forged = dict(real, quarter="2026Q3", status="closed", sha256="0" * 64)
    ev.backend.put(f"{INDEX}2026Q3/closed-000000000000.json", json.dumps(forged).encode())
    ev.backend.put(f"{INDEX}2026Q3/closed-garbage.json", b"not json")
    found = read_campaigns(ev)
    assert [c["quarter"] for c in found["campaigns"]] == ["2026Q2"]
    reasons = {r["pointer"]: r["reason"] for r in found["rejected"]}
    assert "does not list" in reasons[f"{INDEX}2026Q3/closed-000000000000.json"]
    assert "not a campaign pointer" in reasons[f"{INDEX}2026Q3/closed-garbage.json"]
    results = _judge({"access_review": found}, tmp_path, monkeypatch)
    assert results["access-review/2026Q2"] == "pass" and results["access-review/2026Q3"] == "fail"


def test_a_changed_campaign_artifact_is_not_believed(store):
    ev, signer = store
    _seal(ev, signer, campaign_artifacts("2026Q3", closed=True))
    report = next(p for p in ev.backend.list("runs/") if p.endswith(".2.json"))
    path = ev.backend.root / report
    path.write_bytes(path.read_bytes().replace(b"ar-2026Q3", b"ar-2026Q9"))
    found = read_campaigns(ev)
    assert found["campaigns"][0]["status"] == "open"  # the snapshot still stands, the report does not
    assert any("no longer hashes" in r["reason"] for r in found["rejected"])


def test_an_unreadable_store_is_a_gap_not_a_failing_quarter(tmp_path, monkeypatch):
    with pytest.raises(CampaignSourceError, match="AccessDenied"):
        _judge({"access_review": {"store": "s3://b", "error": "AccessDenied"}}, tmp_path, monkeypatch)


def test_the_scheduled_collector_finds_campaigns_in_its_s3_store(lambda_env, tmp_path, monkeypatch):  # noqa: F811
    from charter.evidence.continuous import handler

    s3, _, _ = lambda_env
    monkeypatch.setenv("CHARTER_ACCESS_REVIEW_DIR", str(tmp_path / "none"))  # a Lambda has no local records
    # moto's organization is managed from 123456789012: the management-only collector runs there
    from charter.landing_zone.config import load_config_text

    cfg = tmp_path / "org.json"  # the validated config, as deploy writes it into the package
    cfg.write_text(load_config_text(CONFIG.read_text().replace('management_account_id: "111111111111"',
                                                               'management_account_id: "123456789012"'))
                   .model_dump_json(by_alias=True))
    monkeypatch.setenv("CHARTER_CONFIG", str(cfg))
    store = EvidenceStore(S3Backend(s3, BUCKET))
    _seal(store, LocalSigner.for_directory(tmp_path / "key"), campaign_artifacts("2026Q3", closed=True))
    summary = handler({"collectors": ["access_review"]}, LambdaContext(900_000))
    assert summary["sealed"] and summary["gaps"] == 0
    entry = next(e for e in store.manifests()[-1].artifacts if e.collector == "access_review")
    artifact = Artifact.model_validate_json(store.backend.get(entry.path))
    assert {p.id: p.result for p in artifact.population}["access-review/2026Q3"] == "pass"
    assert artifact.raw  # the pointers read and the manifests that vouched for them are in the evidence
    assert "access-reviews/2026Q3/" in json.dumps(artifact.raw)
