"""The compliance dashboard's summary of a store: status per control from its latest
evidence, criteria from their controls, the trend over runs, verification, campaigns."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evstore_helpers import artifact, run_artifacts  # noqa: E402

from charter.evidence.dashboard import artifact_detail, summarize  # noqa: E402
from charter.evidence.manifest import Scope  # noqa: E402
from charter.evidence.signing import LocalSigner  # noqa: E402
from charter.evidence.store import EvidenceStore, LocalBackend  # noqa: E402

DAY = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def _store(tmp_path: Path) -> tuple[EvidenceStore, LocalSigner]:
    return EvidenceStore(LocalBackend(tmp_path / "ev")), LocalSigner.for_directory(tmp_path / "key")


def test_status_follows_the_latest_evidence_of_each_control(tmp_path: Path) -> None:
    store, signer = _store(tmp_path)
    store.write_run(run_artifacts(DAY, n=6), signer, Scope())
    # the next day every iam and s3 item passes; cloudtrail still fails
    fixed = [artifact(c, a, r, DAY + timedelta(days=1), n=6, fail_every=0 if c != "cloudtrail" else 3)
             for c in ("iam", "s3", "cloudtrail") for a in ("111111111111", "222222222222") for r in ("us-east-1",)]
    store.write_run(fixed, signer, Scope())
    s = summarize(store, now=DAY + timedelta(days=2))
    assert s.controls["IAM-01"].status == "passing" and s.controls["IAM-01"].sequence == 2
    assert s.controls["LOG-01"].status == "failing" and s.controls["LOG-01"].failed > 0
    # per-control attribution: the s3 artifact serves ENC-02 and DAT-01; in run 1 only ENC-02's items failed
    first = summarize(store, now=DAY)
    assert [t.failing for t in s.trend][0] == first.trend[0].failing
    assert len(s.trend) == 2 and s.trend[1].failing < s.trend[0].failing
    # a criterion takes its worst control: CC7.2 has LOG-01
    assert next(c for c in s.criteria if c.id == "CC7.2").status == "failing"
    assert len(s.criteria) == 61 and sum(f.criteria for f in s.families) == 61
    assert s.verification.ok and s.verification.manifests == 2
    inherited = [c for c in s.controls.values() if c.kind == "inherited"]
    assert inherited and all(c.status == "inherited" for c in inherited)
    attest = [c for c in s.controls.values() if c.kind == "attestation" and not c.evidence]
    assert attest and all(c.status == "attestation_due" for c in attest)


def test_a_gap_and_a_tampered_artifact_show(tmp_path: Path) -> None:
    store, signer = _store(tmp_path)
    m = store.write_run([artifact("cloudtrail", "333333333333", "us-east-1", DAY, kind="gap")], signer, Scope())
    s = summarize(store, now=DAY)
    assert s.controls["LOG-01"].status == "gap" and s.controls["LOG-01"].gaps == 1
    path = m.artifacts[0].path
    detail = artifact_detail(store, path)
    assert detail.intact and detail.error and detail.kind == "gap"
    target = tmp_path / "ev" / path
    target.chmod(0o644)
    target.write_bytes(target.read_bytes().replace(b"AccessDenied", b"AccessDeniee"))
    assert not artifact_detail(store, path).intact
    assert not summarize(store, now=DAY).verification.ok
