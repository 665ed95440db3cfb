"""The price snapshot: what ships, how a price is found, and what a bad file says."""

from __future__ import annotations

import json

import pytest

from charter.cost.errors import PricesError
from charter.cost.prices import load, parse
from charter.cost.schedule import runs_per_month


def test_the_shipped_snapshot_states_its_date_and_source():
    book = load()
    snap = book.snapshot
    assert snap.as_of == "2025-01-15" and snap.currency == "USD"
    assert "NOT fetched from the AWS Price List API" in snap.source and "us-east-1" in snap.source
    for key, entry in snap.prices.items():
        assert entry.usd, key
        assert entry.query.service and entry.query.usagetype, key  # what --refresh looks for
        assert all(v > 0 for v in entry.usd.values()), key
    for region, rules in snap.derived.items():
        for rule in rules:
            assert rule.from_ == "us-east-1" and rule.why, region


def test_a_price_is_explicit_derived_where_the_file_says_so_or_missing():
    book = load()
    nat = book.get("vpc.nat_gateway.hours", "us-east-1")
    assert (nat.usd, nat.unit, nat.note) == (0.045, "hour", "us-east-1 list price")
    assert book.get("vpc.nat_gateway.hours", "eu-west-1").usd == 0.048  # eu-west-1's own figure
    west = book.get("config.item", "us-west-2")
    assert west.usd == 0.003 and west.note.startswith("us-east-1 x 1.00 (")
    approx = book.get("guardduty.management_events", "eu-west-1")
    assert approx.usd == pytest.approx(4.4) and "approximation, not a list price" in approx.note
    assert book.get("sagemaker.training.ml.c5.4xlarge", "eu-west-1") is None  # no rule covers it there
    assert book.get("vpc.nat_gateway.hours", "ap-southeast-2") is None
    assert book.get("no.such.key", "us-east-1") is None
    assert book.get("cloudfront.data_out.gb", "ap-southeast-2").note == "global list price"


def test_per_units_price_a_quantity():
    req = load().get("lambda.requests", "us-east-1")
    assert (req.usd, req.per) == (0.20, 1_000_000)
    assert req.cost(3_000_000) == pytest.approx(0.60)
    assert req.label() == "$0.2 per 1M request"


def test_a_bad_snapshot_says_where(tmp_path):
    with pytest.raises(PricesError, match=r"prices.json:1:2: not JSON"):
        parse("{oops", "prices.json")
    doc = json.loads(load().snapshot.model_dump_json(by_alias=True))
    doc["prices"]["kms.key.month"]["usd"] = {"us-east-1": "one dollar"}
    with pytest.raises(PricesError, match=r"prices.kms.key.month.usd.us-east-1"):
        parse(json.dumps(doc), "mine.json")
    with pytest.raises(PricesError, match="cannot read") as err:
        load(tmp_path / "absent.json")
    assert err.value.exit_code == 2 and "--refresh" in (err.value.hint or "")


@pytest.mark.parametrize(("expression", "runs"), [
    ("rate(5 minutes)", 365 / 12 * 24 * 12),
    ("rate(1 day)", 365 / 12),
    ("rate(2 hours)", 365 / 12 * 12),
    ("cron(0 3 * * ? *)", 365 / 12),
    ("cron(0/15 * * * ? *)", 4 * 24 * 365 / 12),
    ("cron(0 8 ? * MON-FRI *)", 5 * (365 / 12) / 7),
    ("cron(0 0 1 * ? *)", 1),
])
def test_schedule_expressions_give_runs_per_month(expression, runs):
    assert runs_per_month(expression) == pytest.approx(runs)


def test_an_unreadable_schedule_is_none_not_zero():
    assert runs_per_month("every tuesday") is None
    assert runs_per_month("cron(0 3 * *)") is None
