"""Access-review pieces that need no AWS: workbook round trip, quarters due, trust parsing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from charter.evidence.access_review.coverage import missing_quarters, quarter_of
from charter.evidence.access_review.errors import WorkbookError
from charter.evidence.access_review.model import AccessRow, row_hash
from charter.evidence.access_review.snapshot import _trust_principals
from charter.evidence.access_review.workbook import HEADERS, read_workbook, write_workbook


def _row(**kw) -> AccessRow:
    base = dict(account_id="111122223333", account_name="prod", reviewer="a@acme-corp.example",
                principal_type="iam-user", principal="bob", access_type="access-key", access="AKIA1",
                details={"age_days": "120"}, flags=["key-older-than-90d"])
    return AccessRow(**{**base, **kw})


def test_row_id_is_stable_and_names_the_access() -> None:
    assert _row().row_id == _row(details={"age_days": "121"}).row_id  # details may change between snapshots
    assert _row().row_id != _row(access="AKIA2").row_id


def test_workbook_round_trip_keeps_hashes(tmp_path: Path) -> None:
    rows = [_row(), _row(access_type="group", access="deployers", details={}, flags=[])]
    path = write_workbook(tmp_path / "r.xlsx", campaign_id="c1", quarter="2026Q4", reviewer="a@acme-corp.example",
                          rows=rows)
    book = read_workbook(path)
    assert (book.campaign_id, book.quarter, book.reviewer) == ("c1", "2026Q4", "a@acme-corp.example")
    assert [r.stored_hash for r in book.rows] == [row_hash(r.cells()) for r in rows]
    ws = load_workbook(path)["Review"]
    assert ws.protection.sheet is True
    assert ws.cell(2, HEADERS.index("access") + 1).protection.locked is True
    assert ws.cell(2, HEADERS.index("decision") + 1).protection.locked is False
    assert ws.data_validations.dataValidation[0].formula1 == '"keep,revoke,modify"'


def test_not_a_workbook_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_text("not a spreadsheet")
    with pytest.raises(WorkbookError, match="not a readable .xlsx"):
        read_workbook(bad)


def test_quarters_due() -> None:
    assert quarter_of(date(2026, 11, 28)) == "2026Q4"
    assert missing_quarters({"2026Q1", "2026Q3"}, since="2026Q1", today=date(2026, 11, 28)) == ["2026Q2"]
    assert missing_quarters(set(), since="2025Q4", today=date(2026, 2, 1)) == ["2025Q4"]
    assert missing_quarters(set(), since="2026Q4", today=date(2026, 11, 28)) == []  # in progress, not due


def test_trust_principals_flags_wildcards() -> None:
    doc = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::999999999999:root", "*"]}},
                         {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}},
                         {"Effect": "Deny", "Principal": "*"}]}
    assert _trust_principals(doc) == ["AWS:arn:aws:iam::999999999999:root", "AWS:*", "Service:lambda.amazonaws.com"]


def test_collector_fails_skipped_quarters(small_config) -> None:
    from datetime import UTC, datetime

    from charter.evidence.collectors.access_review import check_quarters
    from charter.evidence.collectors.base import Context, Target

    ctx = Context(cfg=small_config, target=Target("123456789012", "management", "us-east-1", is_management=True),
                  now=datetime(2026, 11, 28, tzinfo=UTC))
    snap = {"campaigns": [{"quarter": "2026Q1", "status": "closed"}, {"quarter": "2026Q3", "status": "closed"},
                          {"quarter": "2026Q4", "status": "open"}]}
    results = {i.id: i.result for i in check_quarters(snap, ctx)}
    assert results == {"access-review/2026Q2": "fail", "access-review/2026Q1": "pass",
                       "access-review/2026Q3": "pass", "access-review/2026Q4": "not_applicable"}
    (never,) = check_quarters({"campaigns": []}, ctx)
    assert never.result == "fail" and "access-review start" in never.reason


def test_matrix_failure_for_skipped_quarters(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from charter.evidence.access_review.coverage import failing_from_state
    from charter.evidence.access_review.model import Campaign

    today = date(2026, 11, 28)
    assert "no access-review campaign" in failing_from_state(tmp_path, today)["IAM-09"]
    for quarter, status in (("2026Q1", "closed"), ("2026Q3", "closed"), ("2026Q4", "open")):
        (tmp_path / quarter).mkdir()
        (tmp_path / quarter / "campaign.json").write_text(Campaign(
            id=f"c-{quarter}", quarter=quarter, started_at=datetime(2026, 1, 1, tzinfo=UTC), snapshot_sha256="0" * 64,
            status=status).model_dump_json())
    assert failing_from_state(tmp_path, today) == {"IAM-09": "no closed access-review campaign for 2026Q2"}
