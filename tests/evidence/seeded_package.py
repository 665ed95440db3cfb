"""A two-run store whose per-control outcomes are known by construction, and its package.

The expected numbers below are written out by hand from the items built here, never computed
by the code under test. One artifact carries several controls and each item speaks to one,
so a whole-artifact count against each of its controls (the old bug) gives other numbers:
IAM-04 has 1 failure (its artifacts hold 2), ORG-05 has no item at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from charter.evidence.artifact import ApiCall, Artifact, PopulationItem
from charter.evidence.export import ExportResult, export
from charter.evidence.manifest import Scope
from charter.evidence.signing import LocalSigner
from charter.evidence.store import EvidenceStore, LocalBackend

DAY1 = datetime(2026, 7, 6, 6, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
A, B = "111111111111", "222222222222"
REASON_IAM04_FAIL = "console password unused for 120 days (> 90)"
REASON_IAM01_FAIL = "minimum length 8 < 14"
REASON_DAT01_FAIL = "bucket acme-raw has no Object Lock"
REASON_IAM02_GAP = "the credential report could not be read, so root MFA and root access keys cannot be judged"
REASON_LOG01_GAP = "AccessDenied: cannot assume CharterEvidenceReader in 222222222222"

#: control -> criteria: the mapping the package is built with
CATALOG = {"IAM-01": ["CC6.1"], "IAM-02": ["CC6.1", "CC6.2"], "IAM-04": ["CC6.2"], "ENC-02": ["CC6.7"],
           "DAT-01": ["CC6.1", "C1.1"], "ORG-05": ["CC6.1"], "LOG-01": ["CC7.2"]}

#: control -> (pass, fail, gaps, not applicable, artifacts), counted by hand from the items below
EXPECTED = {
    "IAM-01": (1, 1, 0, 0, 2),
    "IAM-02": (1, 0, 1, 0, 2),
    "IAM-04": (5, 1, 0, 0, 2),
    "ENC-02": (6, 0, 0, 1, 2),
    "DAT-01": (3, 1, 0, 0, 2),
    "ORG-05": (0, 0, 0, 0, 2),
    "LOG-01": (1, 0, 1, 0, 2),
}
#: criterion -> (pass, fail, gaps): the sums over its controls
EXPECTED_CRITERIA = {"CC6.1": (5, 2, 1), "CC6.2": (6, 1, 1), "CC6.7": (6, 0, 0), "C1.1": (3, 1, 0),
                     "CC7.2": (1, 0, 1)}
#: the whole run: pass, fail, item gaps, artifact gaps, not applicable, population items
EXPECTED_TOTALS = {"pass": 17, "fail": 3, "item_gaps": 1, "artifact_gaps": 1, "na": 1, "population": 22}


def _items(control: str, *results: tuple[str, str]) -> list[PopulationItem]:
    return [PopulationItem(id=f"{control.lower()}-item-{i}", control=control, result=r, reason=why)
            for i, (r, why) in enumerate(results)]


def _art(collector: str, controls: list[str], account: str, when: datetime, population: list[PopulationItem],
         *, gap: str | None = None) -> Artifact:
    return Artifact(kind="gap" if gap else "evidence", collector=collector, controls=controls,
                    criteria=sorted({c for k in controls for c in CATALOG[k]}), account_id=account,
                    account_name={A: "prod", B: "audit"}[account], region="us-east-1", collected_at=when,
                    caller_arn="arn:aws:sts::222222222222:assumed-role/CharterEvidenceCollector/charter",
                    charter_version="0.1.0", calls=[ApiCall(service=collector, operation="List", region="us-east-1")],
                    population=population, error=gap)


OK = ("pass", "checked")


def day1() -> list[Artifact]:
    return [
        _art("iam", ["IAM-01", "IAM-02", "IAM-04"], A, DAY1,
             _items("IAM-01", OK) + _items("IAM-02", ("gap", REASON_IAM02_GAP))
             + _items("IAM-04", OK, ("fail", REASON_IAM04_FAIL), OK)),
        _art("s3", ["DAT-01", "ENC-02", "ORG-05"], A, DAY1 + timedelta(minutes=1),
             _items("ENC-02", OK, OK, OK, ("not_applicable", "the access-log bucket"))
             + _items("DAT-01", OK, ("fail", REASON_DAT01_FAIL))),
        _art("cloudtrail", ["LOG-01"], B, DAY1 + timedelta(minutes=2), [], gap=REASON_LOG01_GAP),
    ]


def day2() -> list[Artifact]:
    return [
        _art("iam", ["IAM-01", "IAM-02", "IAM-04"], A, DAY2,
             _items("IAM-01", ("fail", REASON_IAM01_FAIL)) + _items("IAM-02", OK) + _items("IAM-04", OK, OK, OK)),
        _art("s3", ["DAT-01", "ENC-02", "ORG-05"], A, DAY2 + timedelta(minutes=1),
             _items("ENC-02", OK, OK, OK) + _items("DAT-01", OK, OK)),
        _art("cloudtrail", ["LOG-01"], B, DAY2 + timedelta(minutes=2), _items("LOG-01", OK)),
    ]


def build_store(root: Path, key_dir: Path, days: list[list[Artifact]] | None = None) -> LocalSigner:
    """Seal each day's artifacts as one run, at that day's time."""
    import charter.evidence.store as store_mod

    store = EvidenceStore(LocalBackend(root))
    signer = LocalSigner.for_directory(key_dir)
    real = store_mod.utcnow
    try:
        for arts in days or [day1(), day2()]:
            when = arts[0].collected_at
            store_mod.utcnow = lambda when=when: when
            run = store.open_run(Scope(organization="acme"), resume=False)
            store.add_all(run, arts)
            store.seal(run, signer)
    finally:
        store_mod.utcnow = real
    return signer


def build_package(tmp: Path) -> ExportResult:
    signer = build_store(tmp / "evidence", tmp / "key")
    return export(EvidenceStore(LocalBackend(tmp / "evidence")), DAY1.date(), DAY2.date(), tmp / "pkg" / "q3.zip",
                  signer=signer, catalog=CATALOG, organization="acme", seed="seed-1")
