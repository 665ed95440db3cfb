"""`--refresh`: the snapshot rebuilt from pricing:GetProducts, checked against the service model
by botocore's Stubber (request parameters and response shapes)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from cli_testkit import run_cli
from costkit import SMALL

from charter.cost.prices import PriceBook, dump, load, parse
from charter.cost.refresh import refresh

KEYS = ("vpc.nat_gateway.hours", "vpc.nat_gateway.gb", "securityhub.finding_ingestion", "kms.key.month")


def _product(service: str, usagetype: str, tiers: list[tuple[str, str]]) -> str:
    """One PriceList item as the Price List Query API returns it (a JSON string)."""
    dims = {f"SKU.TERM.{i}": {"unit": "Hrs", "beginRange": begin, "endRange": "Inf", "description": "d",
                              "appliesTo": [], "rateCode": f"SKU.TERM.{i}", "pricePerUnit": {"USD": usd}}
            for i, (begin, usd) in enumerate(tiers)}
    return json.dumps({"product": {"productFamily": "x", "sku": "SKU",
                                   "attributes": {"usagetype": usagetype, "servicecode": service}},
                       "serviceCode": service,
                       "terms": {"OnDemand": {"SKU.TERM": {"priceDimensions": dims, "sku": "SKU", "offerTermCode": "TERM",
                                                           "effectiveDate": "2026-01-01T00:00:00Z", "termAttributes": {}}}},
                       "version": "1", "publicationDate": "2026-01-01T00:00:00Z"})


def _params(service: str, region: str, token: str | None = None, **filters: str) -> dict:
    pairs = {**filters, "regionCode": region}
    p = {"ServiceCode": service, "FormatVersion": "aws_v1",
         "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in sorted(pairs.items())]}
    if token:
        p["NextToken"] = token
    return p


@pytest.fixture
def base():
    snap = load().snapshot.model_copy(deep=True)
    snap.prices = {k: snap.prices[k] for k in KEYS}
    return snap


def test_refresh_reads_every_key_for_every_region(base):
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    ec2 = {"productFamily": "NAT Gateway"}
    with Stubber(client) as stub:
        # Security Hub: the first 10,000 findings are free; the price is the first non-zero tier
        for region, prefix in (("us-east-1", ""), ("us-west-2", "USW2-")):
            stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
                _product("AWSSecurityHub", f"{prefix}PaidEventsIngested", [("0", "0.0000000000"),
                                                                           ("10000", "0.0000300000")])]},
                _params("AWSSecurityHub", region))
        # EC2, us-east-1 over two pages: NAT bytes on the first, NAT hours on the second
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "NextToken": "page2", "PriceList": [
            _product("AmazonEC2", "NatGateway-Bytes", [("0", "0.0450000000")])]}, _params("AmazonEC2", "us-east-1", **ec2))
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
            _product("AmazonEC2", "NatGateway-Hours", [("0", "0.0520000000")])]},
            _params("AmazonEC2", "us-east-1", "page2", **ec2))
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
            _product("AmazonEC2", "USW2-NatGateway-Hours", [("0", "0.0530000000")]),
            _product("AmazonEC2", "USW2-NatGateway-Bytes", [("0", "0.0460000000")])]},
            _params("AmazonEC2", "us-west-2", **ec2))
        # KMS: nothing comes back
        for region in ("us-east-1", "us-west-2"):
            stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": []}, _params("awskms", region))
        result = refresh(base, client, ["us-east-1", "us-west-2"], "2026-02-01")
        stub.assert_no_pending_responses()
    new = result.snapshot
    assert result.queries == 6
    assert new.as_of == "2026-02-01" and "AWS Price List Query API" in new.source
    assert new.prices["vpc.nat_gateway.hours"].usd == {"us-east-1": 0.052, "eu-west-1": 0.048, "us-west-2": 0.053}
    assert new.prices["vpc.nat_gateway.gb"].usd["us-west-2"] == 0.046
    assert new.prices["securityhub.finding_ingestion"].usd["us-east-1"] == pytest.approx(0.00003)
    assert new.prices["vpc.nat_gateway.hours"].as_of == {"us-east-1": "2026-02-01", "us-west-2": "2026-02-01",
                                                         "eu-west-1": "2025-01-15"}  # not refreshed: its own date
    # not found: the old figure stays, dated as before, and is reported
    assert new.prices["kms.key.month"].usd == {"us-east-1": 1.0}
    assert new.prices["kms.key.month"].as_of == {"us-east-1": "2025-01-15"}
    assert sorted(result.missing) == [("kms.key.month", "us-east-1"), ("kms.key.month", "us-west-2")]
    # the new file reads back, and its prices are what the estimate uses
    book = PriceBook(parse(dump(new)), "refreshed.json")
    assert book.get("vpc.nat_gateway.hours", "us-west-2").usd == 0.053
    assert book.get("vpc.nat_gateway.hours", "us-west-2").as_of == "2026-02-01"
    assert book.get("kms.key.month", "us-east-1").as_of == "2025-01-15"


def test_per_unit_prices_are_stored_per_the_keys_units(base):
    snap = load().snapshot.model_copy(deep=True)
    snap.prices = {"lambda.requests": snap.prices["lambda.requests"]}
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
            _product("AWSLambda", "Request", [("0", "0.0000002000")])]}, _params("AWSLambda", "us-east-1"))
        result = refresh(snap, client, ["us-east-1"], "2026-02-01")
    assert result.snapshot.prices["lambda.requests"].usd["us-east-1"] == pytest.approx(0.20)  # per million


def test_refresh_needs_a_file_to_write(capsys):
    code, _, err = run_cli(capsys, "cost", "-c", str(SMALL), "--refresh")
    assert code == 2 and "--refresh needs --prices FILE" in err and "fix:" in err
