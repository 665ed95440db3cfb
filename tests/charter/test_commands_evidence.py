"""`charter evidence collect|verify` for scripts and auditors, in this process against moto's
in-process AWS: `collect --output json` is one JSON document on stdout naming the sealed
manifest; a mistyped `--accounts` name is exit 2 listing the accounts there are; `verify
--public-key` pins the store's key (and a key file that is not there is exit 2)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"


@pytest.fixture()
def charter(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`charter(*args)` -> (exit code, stdout, stderr)."""
    from charter.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["charter", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture()
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Moto's in-process AWS with an organization of the management account alone (its own
    credentials, never the developer's profile); yields the management account's id."""
    import boto3
    from moto import mock_aws

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        created = boto3.client("organizations").create_organization(FeatureSet="ALL")["Organization"]
        yield created["MasterAccountId"]


def _flat(text: str) -> str:
    return " ".join(text.split())


COLLECT = ("evidence", "collect", "-c", str(SMALL), "--collector", "iam", "--regions", "us-east-1",
           "--processes", "1", "--operator-role", "")


def test_collect_json_names_the_manifest_and_verify_pins_the_key(charter, org: str, tmp_path: Path) -> None:
    store = tmp_path / "evidence"
    code, out, err = charter(*COLLECT, "--store", str(store), "--output", "json")
    assert code == 0, err
    doc = json.loads(out)  # stdout is the JSON document alone; progress and warnings are on stderr
    assert doc["schema"] == "charter/evidence-collect/v1" and doc["manifest"] == 1 and doc["resumed"] is False
    assert doc["artifacts"] >= 1 and doc["stored"] == doc["artifacts"] and doc["gaps"] == []
    assert doc["store"].endswith(str(store)) and "only the management account" in _flat(err)
    assert [p.name for p in sorted(store.glob("manifests/*.json"))] == ["00000001.json", "00000001.sig.json"]

    keys = sorted((store / "keys").glob("*.pem"))
    assert [k.stem[:16] for k in keys] == [doc["signing_key"][:16]]  # the store publishes the key it was signed with
    code, out, err = charter("evidence", "verify", str(store), "--public-key", str(keys[0]))
    assert code == 0, out + err
    assert "verified" in out and "pin it with --public-key" not in out  # pinned: no advice to pin it

    missing = tmp_path / "not-here.pem"
    code, out, err = charter("evidence", "verify", str(store), "--public-key", str(missing))
    assert code == 2, out + err
    assert f"{missing}: no such key file" in _flat(err) and "keys/<fingerprint>.pem" in err


def test_collect_with_an_unknown_account_is_exit_2_listing_the_accounts(charter, org: str, tmp_path: Path) -> None:
    store = tmp_path / "evidence"
    code, out, err = charter(*COLLECT, "--store", str(store), "--accounts", "prdo")
    said = _flat(err)
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
