"""`charter cost --refresh --prices FILE` as a user types it: the Price List is read (through the
factory's own `pricing` client, answered by botocore's Stubber, which checks every request and
response against the service model), the new snapshot is written to FILE, the keys the Price
List did not answer are named in a warning, and the estimate that follows uses the new prices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from cli_testkit import flat

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"  # governs us-east-1 and us-west-2
KEYS = ("vpc.nat_gateway.hours", "vpc.nat_gateway.gb", "securityhub.finding_ingestion", "kms.key.month")


def _product(service: str, usagetype: str, usd: str) -> str:
    """One PriceList item as the Price List Query API returns it (a JSON string)."""
    dim = {"unit": "Hrs", "beginRange": "0", "endRange": "Inf", "description": "d", "appliesTo": [],
           "rateCode": "SKU.TERM.0", "pricePerUnit": {"USD": usd}}
    return json.dumps({"product": {"productFamily": "x", "sku": "SKU",
                                   "attributes": {"usagetype": usagetype, "servicecode": service}},
                       "serviceCode": service,
                       "terms": {"OnDemand": {"SKU.TERM": {"priceDimensions": {"SKU.TERM.0": dim}, "sku": "SKU",
                                                           "offerTermCode": "TERM",
                                                           "effectiveDate": "2026-01-01T00:00:00Z",
                                                           "termAttributes": {}}}},
                       "version": "1", "publicationDate": "2026-01-01T00:00:00Z"})


def _params(service: str, region: str, **filters: str) -> dict[str, Any]:
    pairs = {**filters, "regionCode": region}
    return {"ServiceCode": service, "FormatVersion": "aws_v1",
            "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in sorted(pairs.items())]}


def _answers(stub: Stubber) -> None:
    """The Price List's answers, in the order refresh asks (service, then region)."""
    nat = {"productFamily": "NAT Gateway"}
    for region, prefix in (("us-east-1", ""), ("us-west-2", "USW2-")):
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
            _product("AWSSecurityHub", f"{prefix}PaidEventsIngested", "0.0000300000")]},
            _params("AWSSecurityHub", region))
    for region, prefix, hours in (("us-east-1", "", "0.0520000000"), ("us-west-2", "USW2-", "0.0530000000")):
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
            _product("AmazonEC2", f"{prefix}NatGateway-Hours", hours),
            _product("AmazonEC2", f"{prefix}NatGateway-Bytes", "0.0450000000")]},
            _params("AmazonEC2", region, **nat))
    for region in ("us-east-1", "us-west-2"):  # KMS: the Price List has nothing
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": []}, _params("awskms", region))


@pytest.fixture()
def pricing(monkeypatch: pytest.MonkeyPatch, test_credentials: None):
    """The session factory's `pricing` clients, each with a Stubber holding the Price List's
    answers; yields the stubbers (to check that every answer was asked for)."""
    from charter.aws import SessionFactory

    stubs: list[Stubber] = []
    made = SessionFactory.client

    def client(self: SessionFactory, service: str, **kwargs: Any) -> Any:
        real = made(self, service, **kwargs)
        assert service == "pricing", service  # --refresh calls nothing else
        stub = Stubber(real)
        _answers(stub)
        stub.activate()
        stubs.append(stub)
        return real

    monkeypatch.setattr(SessionFactory, "client", client)
    yield stubs
    for stub in stubs:
        stub.deactivate()


def test_refresh_writes_the_new_snapshot_names_what_is_missing_and_prices_with_it(
        pricing, charter, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from charter.cost.prices import PriceBook, dump, load, parse

    today = datetime.now(UTC).date().isoformat()

    snapshot = load().snapshot.model_copy(deep=True)
    snapshot.prices = {k: snapshot.prices[k] for k in KEYS}
    prices = tmp_path / "prices.json"
    prices.write_text(dump(snapshot), encoding="utf-8")  # the snapshot refreshed in place

    code, out, err = charter("cost", "-c", str(SMALL), "--refresh", "--prices", str(prices),
                              "--output", "json")
    assert code == 0, err
    for stub in pricing:
        stub.assert_no_pending_responses()  # every service and region was asked
    said = flat(err)
    assert f"wrote {prices}: 6 price(s) refreshed for us-east-1, us-west-2 in 6 queries" in said, said
    assert "2 key-region pair(s) not found in the Price List kept their earlier figure and date:" in said
    assert "kms.key.month@us-east-1" in said and "kms.key.month@us-west-2" in said

    written = parse(prices.read_text(encoding="utf-8"))
    assert written.prices["vpc.nat_gateway.hours"].usd["us-west-2"] == pytest.approx(0.053)
    assert written.prices["vpc.nat_gateway.hours"].usd["us-east-1"] == pytest.approx(0.052)
    assert written.prices["kms.key.month"].usd == snapshot.prices["kms.key.month"].usd  # kept, not zeroed
    before, after = PriceBook(snapshot, "old"), PriceBook(written, str(prices))
    assert after.get("kms.key.month", "us-east-1").as_of == before.get("kms.key.month", "us-east-1").as_of != today
    assert after.get("vpc.nat_gateway.hours", "us-west-2").as_of == today  # refreshed: dated today

    report = json.loads(out)  # the estimate that follows reads the refreshed file
    assert report["prices"]["origin"] == str(prices)
    nat_hours = {x["region"]: x["unit_price"] for x in report["lines"] if x["price_key"] == "vpc.nat_gateway.hours"}
    refreshed = {"us-east-1": 0.052, "us-west-2": 0.053}
    assert nat_hours and all(round(v, 6) == refreshed[r] for r, v in nat_hours.items()), nat_hours



def test_the_table_names_unpriced_lines_and_the_gate_says_it_leaves_them_out(
        charter, tmp_path: Path) -> None:
    import re

    from charter.cost.prices import dump, load

    snapshot = load().snapshot.model_copy(deep=True)
    snapshot.prices = {k: snapshot.prices[k] for k in KEYS}  # most of the landing zone has no price here
    prices = tmp_path / "prices.json"
    prices.write_text(dump(snapshot), encoding="utf-8")
    code, out, err = charter("cost", "-c", str(SMALL), "--env", "dev", "--prices", str(prices),
                              "--fail-over", "0.01")
    shown, said = flat(out), flat(err)
    assert code == 1, said
    total = re.search(r"\(dev\): (\$[\d,.]+) a month over [\d,]+ lines", shown)
    unknown = re.search(r"(\d+) line\(s\) have no price in the snapshot and are not in the total", shown)
    assert total and unknown, shown
    assert f"warning: {unknown.group(1)} line(s) have no price; the totals checked below leave them out" in said
    assert f"over budget: monthly estimate {total.group(1)} exceeds --fail-over $0.01" in said


def test_a_what_if_file_that_is_not_utf8_is_exit_2_naming_it(
        charter, tmp_path: Path) -> None:
    what = tmp_path / "lean.yaml"
    what.write_bytes(b"# r\xe9duit\nbaseline: {}\n")
    code, out, err = charter("cost", "-c", str(SMALL), "--what-if", str(what))
    said = flat(err)
    assert code == 2, out + err
    assert f"{what}:1:1" in said and "not UTF-8 text" in said and "save it as UTF-8" in said


def test_an_output_file_that_cannot_be_written_is_exit_2(
        charter, tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "cost.csv"
    code, out, err = charter("cost", "-c", str(SMALL), "-f", "csv", "-o", str(target))
    said = flat(err)
    assert code == 2, out + err
    assert f"{target}: cannot write: No such file or directory" in said and "choose a writable path with -o" in said
    assert "Traceback" not in err and not target.exists()


def test_plan_shows_the_cost_change_since_the_last_deploy(
        charter, tmp_path: Path) -> None:
    from charter.commands.cost import record_deployed_cost
    from charter.landing_zone.config import load_config

    # deployed: prod with one NAT gateway (not three); planned now: the example as it is
    lean = tmp_path / "lean.yaml"
    lean.write_text(SMALL.read_text().replace("\nbaseline:\n", "\nbaseline:\n  network:\n    nat_gateways: {prod: single}\n",
                                              1))
    out = tmp_path / "out"
    code, _, err = charter("plan", "-c", str(lean), "-o", str(out), "--offline")
    assert code == 0, err
    record_deployed_cost(load_config(lean), out)  # what `charter deploy` records when it finishes

    code, shown, err = charter("plan", "-c", str(SMALL), "-o", str(out), "--offline")
    assert code == 0, err
    line = next((x for x in shown.splitlines() if x.startswith("cost: ")), "")
    # two more NAT gateways, 730 h x ($0.045 gateway + $0.005 public IPv4 address) each: +$73.00;
    # the NAT data is the same GB through more gateways
    assert "a month for the landing zone" in line and "+$73.00 since the last deploy (network +$73.00)" in line, line
