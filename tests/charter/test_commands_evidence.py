"""`charter evidence collect|verify` for scripts and auditors, in this process against moto's
in-process AWS: `collect --output json` is one JSON document on stdout naming the sealed
manifest; a mistyped `--accounts` name is exit 2 listing the accounts there are; `verify
--public-key` pins the store's key (and a key file that is not there is exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_testkit import flat

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"


@pytest.fixture()
def org(moto_aws: None) -> str:
    """Moto's in-process AWS with an organization of the management account alone; the
    management account's id."""
    import boto3

    return str(boto3.client("organizations").create_organization(FeatureSet="ALL")["Organization"]["MasterAccountId"])


COLLECT = ("evidence", "collect", "-c", str(SMALL), "--collector", "iam", "--regions", "us-east-1",
           "--processes", "1", "--operator-role", "")


def test_collect_json_names_the_manifest_and_verify_pins_the_key(charter, org: str, tmp_path: Path) -> None:
    store = tmp_path / "evidence"
    code, out, err = charter(*COLLECT, "--store", str(store), "--output", "json")
    assert code == 0, err
    doc = json.loads(out)  # stdout is the JSON document alone; progress and warnings are on stderr
    assert doc["schema"] == "charter/evidence-collect/v1" and doc["manifest"] == 1 and doc["resumed"] is False
    assert doc["artifacts"] >= 1 and doc["stored"] == doc["artifacts"] and doc["gaps"] == []
    assert doc["store"].endswith(str(store)) and "only the management account" in flat(err)
    assert [p.name for p in sorted(store.glob("manifests/*.json"))] == ["00000001.json", "00000001.sig.json"]

    keys = sorted((store / "keys").glob("*.pem"))
    assert [k.stem[:16] for k in keys] == [doc["signing_key"][:16]]  # the store publishes the key it was signed with
    code, out, err = charter("evidence", "verify", str(store), "--public-key", str(keys[0]))
    assert code == 0, out + err
    assert "verified" in out and "pin it with --public-key" not in out  # pinned: no advice to pin it

    missing = tmp_path / "not-here.pem"
    code, out, err = charter("evidence", "verify", str(store), "--public-key", str(missing))
    assert code == 2, out + err
    assert f"{missing}: no such key file" in flat(err) and "keys/<fingerprint>.pem" in err


def test_collect_with_an_unknown_account_is_exit_2_listing_the_accounts(charter, org: str, tmp_path: Path) -> None:
    store = tmp_path / "evidence"
    code, out, err = charter(*COLLECT, "--store", str(store), "--accounts", "prdo")
    said = flat(err)
    assert code == 2, out + err
    assert "--accounts prdo: no such account in the organization" in said
    assert "pass one of the accounts these credentials can read:" in said and f"({org})" in said
    assert "Traceback" not in err and not list(store.glob("manifests/*.json"))  # nothing sealed


def test_assess_with_org_yaml_reads_its_governed_regions(charter, org: str, tmp_path: Path) -> None:
    out = tmp_path / "assessment"
    code, _, err = charter("assess", "-c", str(SMALL), "-o", str(out), "--collector", "ebs")
    assert code == 3, err  # a new account's EBS encryption by default is off: a failing control
    result = json.loads((out / "assessment.json").read_text())
    failing = {(f["account_id"], f["region"]) for f in result["findings"] if f["result"] == "fail"}
    assert failing == {(org, "us-east-1"), (org, "us-west-2")}  # org.yaml's governed regions, no other
