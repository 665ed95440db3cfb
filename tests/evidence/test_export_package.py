"""Export: a zip with index.html, an xlsx workbook, the manifests, artifacts and public keys,
verifiable offline; index.html renders in headless Chromium with no console errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from chromium_page import CHROMIUM, LAYOUT_PROBE, SKIP_REASON, load_in_chromium
from evstore_helpers import run_artifacts
from openpyxl import load_workbook

from charter.evidence.errors import ExportError, PackageError
from charter.evidence.export import SAMPLE_SIZES, criteria_titles, export, frequency, verify_package
from charter.evidence.manifest import Scope
from charter.evidence.signing import LocalSigner
from charter.evidence.store import EvidenceStore, LocalBackend

START = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
DAYS = 34


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """Forty daily runs, with collection times pinned to the days they claim."""
    import charter.evidence.store as store_mod

    root = tmp_path_factory.mktemp("export") / "evidence"
    store = EvidenceStore(LocalBackend(root))
    signer = LocalSigner.for_directory(root.parent / "key")  # outside the store, as signer_for keeps it
    real = store_mod.utcnow
    try:
        for day in range(DAYS):
            when = START + timedelta(days=day)
            store_mod.utcnow = lambda when=when: when
            run = store.open_run(Scope(organization="acme"), resume=False)
            store.add_all(run, run_artifacts(when, n=2))
            store.seal(run, signer)
    finally:
        store_mod.utcnow = real
    return root


def _signer(store_dir) -> LocalSigner:
    return LocalSigner.for_directory(store_dir.parent / "key")


@pytest.fixture(scope="module")
def package(store_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg") / "q4-evidence.zip"
    result = export(EvidenceStore(LocalBackend(store_dir)), "2026-10-05", "2026-11-03", out,
                    signer=_signer(store_dir), organization="acme")
    return result


def test_package_contents(package):
    names = zipfile.ZipFile(package.path).namelist()
    for required in ("README.md", "index.html", "evidence.xlsx", "package.json"):
        assert required in names
    assert len(package.runs) == 30 and package.runs[0].started_at.date() == date(2026, 10, 5)
    assert sum(n.startswith("store/manifests/") and n.endswith(".sig.json") for n in names) == 30
    assert sum(n.startswith("store/keys/") for n in names) == 1
    assert sum("/artifacts/" in n for n in names) == package.artifacts == 30 * 13
    assert not any(".signing" in n or "PRIVATE" in n for n in names)
    readme = zipfile.ZipFile(package.path).read("README.md").decode()
    assert "charter evidence verify --package q4-evidence.zip" in readme


def test_package_verifies_offline(package):
    report = verify_package(package.path)
    assert report.ok, report.problems
    # the chain starts mid-way (run #5) — allowed in a package — and ends at #34
    assert (report.first.sequence, report.last.sequence, report.manifests) == (5, 34, 30)


def test_tampered_package_is_named(package, tmp_path):
    bad = tmp_path / "tampered.zip"
    with zipfile.ZipFile(package.path) as src, zipfile.ZipFile(bad, "w") as dst:
        victim = next(n for n in src.namelist() if n.endswith("/us-west-2.json"))
        dropped = "store/manifests/00000034.json"
        for item in src.infolist():
            if item.filename == dropped:
                continue
            data = src.read(item.filename)
            if item.filename == victim:
                data = data.replace(b'"pass"', b'"fail"', 1)
            dst.writestr(item, data)
    report = verify_package(bad)
    # problems name package members, as they are in the zip
    assert report.items("changed") == [victim]
    assert dropped in report.items("missing")


def test_bad_packages_are_charter_errors(tmp_path):
    with pytest.raises(PackageError, match="no such file"):
        verify_package(tmp_path / "nope.zip")
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"not a zip at all")
    with pytest.raises(PackageError) as exc:
        verify_package(corrupt)
    assert exc.value.code == "CHARTER-403" and "corrupt" in exc.value.hint
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(PackageError, match="not a Charter evidence package"):
        verify_package(other)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("package.json", "{}")
        zf.writestr("store/manifests/00000001.json", "{}")
        zf.writestr("../../escape.txt", "x")
    # a member escaping the package is a finding naming it (exit 1), and it is never written
    work = tmp_path / "deep" / "er" / "work"
    work.mkdir(parents=True)
    report = verify_package(evil, workdir=work)
    assert "../../escape.txt" in report.items("unsafe") and not report.ok
    assert not (tmp_path / "deep" / "escape.txt").exists()
    assert report.items("unreadable") == ["package.json"]


def test_export_bad_input(store_dir, tmp_path):
    store = EvidenceStore(LocalBackend(store_dir))
    with pytest.raises(ExportError, match="not a date"):
        export(store, "2026-13-01", "2026-12-31", tmp_path / "x.zip", signer=_signer(store_dir))
    with pytest.raises(ExportError, match="after"):
        export(store, "2026-12-01", "2026-11-01", tmp_path / "x.zip", signer=_signer(store_dir))
    with pytest.raises(ExportError, match="no sealed runs"):
        export(store, "2025-01-01", "2025-01-31", tmp_path / "x.zip", signer=_signer(store_dir))
    with pytest.raises(ExportError, match=".zip"):
        export(store, "2026-10-01", "2026-10-31", tmp_path / "x.tar", signer=_signer(store_dir))


def test_export_refuses_a_store_that_fails_verification(tmp_path, store_dir):
    copy = tmp_path / "copy"
    shutil.copytree(store_dir, copy)
    victim = next((copy / "runs").rglob("us-east-1.json"))
    victim.write_bytes(victim.read_bytes()[:-1])
    with pytest.raises(ExportError, match="verification failed"):
        export(EvidenceStore(LocalBackend(copy)), "2026-10-01", "2026-10-31", tmp_path / "x.zip", signer=_signer(store_dir))


def test_workbook_has_summary_criteria_populations_and_seeded_samples(package, tmp_path):
    path = tmp_path / "evidence.xlsx"
    path.write_bytes(zipfile.ZipFile(package.path).read("evidence.xlsx"))
    wb = load_workbook(path, read_only=True)
    assert {"Summary", "Population", "Samples", "Gaps"} <= set(wb.sheetnames)
    assert set(criteria_titles()) <= set(wb.sheetnames)
    summary = [r for r in wb["Summary"].iter_rows(values_only=True)]
    assert ("sampling seed", package.seed) in [tuple(r[:2]) for r in summary]
    # full population: every item of every artifact (30 runs x 12 evidence artifacts x 2 items)
    population = list(wb["Population"].iter_rows(values_only=True))
    assert len(population) - 1 == 30 * 12 * 2
    samples = list(wb["Samples"].iter_rows(values_only=True))[1:]
    by_control: dict[str, list] = {}
    for row in samples:
        by_control.setdefault(row[0], []).append(row)
    assert set(by_control) == {"IAM-01", "IAM-05", "ENC-02", "DAT-01", "LOG-01"}
    for rows in by_control.values():
        # continuous controls collected daily: sized as a daily control, 25
        assert len({r[1] for r in rows}) == 1 and "daily" in rows[0][1] and len(rows) == 25
        assert {r[4] for r in rows} == {package.seed}
    # each sampled row is the population row it names
    pop_by_row = {r[0]: r for r in population[1:]}
    for row in samples:
        assert pop_by_row[row[5]][1:-1] == row[6:]
        assert pop_by_row[row[5]][-1] == "yes"  # the Population sheet marks it sampled
    # CC6.1 sheet lists IAM-01's items
    cc61 = list(wb["CC6.1"].iter_rows(values_only=True))
    assert any(r[0] == "IAM-01" for r in cc61[2:])
    p11 = list(wb["P1.1"].iter_rows(values_only=True))
    assert "no automated evidence" in str(p11[2][0])


def test_samples_are_reproducible_from_the_seed(store_dir, tmp_path):
    store = EvidenceStore(LocalBackend(store_dir))
    # eight days: every control's population (8 per day) exceeds the daily sample of 25
    a = export(store, "2026-10-01", "2026-10-08", tmp_path / "a.zip", signer=_signer(store_dir), seed="fixed-seed")
    b = export(store, "2026-10-01", "2026-10-08", tmp_path / "b.zip", signer=_signer(store_dir), seed="fixed-seed")
    c = export(store, "2026-10-01", "2026-10-08", tmp_path / "c.zip", signer=_signer(store_dir), seed="other-seed")
    assert all(s.size == 25 < s.population for s in a.samples)
    rows = lambda r: [[x["population_row"] for x in s.rows] for s in r.samples]  # noqa: E731
    assert rows(a) == rows(b) != rows(c)


@pytest.mark.parametrize(("runs", "days", "expected"), [
    (31, 30, ("daily", 25)), (5, 28, ("weekly", 5)), (3, 60, ("monthly", 2)), (2, 91, ("quarterly", 2)),
    (1, 0, ("annual", 1)), (200, 2, ("multiple times a day", 40)),
])
def test_sample_size_table(runs, days, expected):
    first = datetime(2026, 1, 1, tzinfo=UTC)
    assert frequency(runs, first, first + timedelta(days=days)) == expected
    assert [s[2] for s in SAMPLE_SIZES] == sorted((s[2] for s in SAMPLE_SIZES), reverse=True)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k == "href" and v:
                self.hrefs.append(v)
            if k == "src" and v:
                self.srcs.append(v)


def test_index_links_resolve_inside_the_extracted_zip(package, tmp_path):
    with zipfile.ZipFile(package.path) as zf:
        zf.extractall(tmp_path)
    parser = _Links()
    parser.feed((tmp_path / "index.html").read_text())
    assert len(parser.hrefs) > 30 * 13
    assert not parser.srcs  # nothing loaded from anywhere
    page = (tmp_path / "index.html").read_text()
    for href in parser.hrefs:
        assert "://" not in href and not href.startswith("/"), href
        if href == "data:,":  # the empty favicon: keeps the browser from asking for /favicon.ico
            continue
        if href.startswith("#"):
            assert f'id="{href[1:]}"' in page, href
            continue
        assert (tmp_path / href).is_file(), href


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_index_renders_in_headless_chromium_without_console_errors(package, tmp_path):
    with zipfile.ZipFile(package.path) as zf:
        zf.extractall(tmp_path)
    dom, errors, console, layout = load_in_chromium(tmp_path / "index.html", tmp_path, LAYOUT_PROBE)
    assert errors == [] and console == []
    for cid in criteria_titles():
        assert f'id="{cid}"' in dom, cid
    assert "IAM-01" in dom and "no automated evidence" in dom
    assert layout["scrollWidth"] <= layout["innerWidth"] == 1280 and layout["brokenAnchors"] == []


@pytest.fixture()
def moto_server_url(spawn):
    """The embedded AWS in its own process: the test's own moto state (mock_aws) stays untouched."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # `charter local`: the embedded AWS states its capabilities to --endpoint-url (plain moto
    # would be taken for AWS behind an endpoint, with the profile's credentials)
    child = spawn([sys.executable, "-m", "charter.cli", "local", "--port", str(port)],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # a hang guard: the server's start takes seconds, more under load
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=10)
            break
        except OSError:
            assert child.proc.poll() is None, "the embedded AWS exited"
            assert time.monotonic() < deadline, f"the embedded AWS did not answer on {url}"
            time.sleep(0.1)
    yield url  # the `spawn` fixture stops it, whatever the test did


@pytest.mark.e2e  # ~10 s, most of it the moto server loading its backends on first use
@pytest.mark.slow
def test_cli_collect_export_verify_against_the_embedded_aws(tmp_path, monkeypatch, capsys, moto_server_url):
    """collect (real collectors, embedded AWS with an org) -> verify -> export -> verify --package."""
    import boto3
    from evidence_roles import provision_evidence_roles

    from charter.cli import main
    from charter.landing_zone.config import load_config
    from charter.local import embedded_sessions

    def cli(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["charter", "evidence", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return code, " ".join((out.out + out.err).split())

    config = str(Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml")
    store = str(tmp_path / "ev")
    # an account in no organization is its own estate: the caller's account alone is collected
    code, text = cli("collect", "--endpoint-url", moto_server_url, "-c", config, "--store", store, "--collector", "kms",
                     "--regions", "us-east-1")
    assert code == 0 and "sealed as manifest #1" in text and "Traceback" not in text, text
    org = boto3.client("organizations", endpoint_url=moto_server_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    org.create_organization(FeatureSet="ALL")
    prod = org.create_account(AccountName="prod", Email="aws+prod@acme-corp.example")["CreateAccountStatus"]["AccountId"]
    # in an organization, collect reads every account as CharterEvidenceOperator through
    # CharterEvidenceReader; the embedded AWS enforces trust, so the roles the landing zone
    # deploys are made here as it makes them (this test skips the deploy)
    provision_evidence_roles(embedded_sessions(moto_server_url), load_config(Path(config)), [prod])
    code, text = cli("collect", "--endpoint", moto_server_url, "-c", config, "--store", store,
                     "--collector", "kms", "--regions", "us-east-1")
    assert code == 0, text
    assert "sealed as manifest #2" in text
    code, text = cli("verify", store)
    assert code == 0 and "verified" in text
    today = datetime.now(UTC).date().isoformat()
    out = tmp_path / "pkg.zip"
    code, text = cli("export", "--from", today, "--to", today, "-o", str(out), "--store", store, "-c", config)
    assert code == 0 and out.is_file(), text
    code, text = cli("verify", "--package", str(out))
    assert code == 0 and "verified" in text
    meta = json.loads(zipfile.ZipFile(out).read("package.json"))
    assert meta["organization"] == "acme" and len(meta["runs"]) == 2
    code, text = cli("collectors")
    assert code == 0 and "kms" in text and "ENC-01" in text

    # the production path: an Object Lock bucket, signed by the stack's KMS key (by alias), one account by name
    kw = dict(endpoint_url=moto_server_url, region_name="us-east-1", aws_access_key_id="testing",
              aws_secret_access_key="testing")
    s3 = boto3.client("s3", **kw)
    s3.create_bucket(Bucket="acme-evidence-123456789012-us-east-1", ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket="acme-evidence-123456789012-us-east-1", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    kms = boto3.client("kms", **kw)
    key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/acme-evidence-signing", TargetKeyId=key)
    url = "s3://acme-evidence-123456789012-us-east-1/charter"
    code, text = cli("collect", "--endpoint", moto_server_url, "-c", config, "--store", url, "--collector", "kms",
                     "--regions", "us-east-1", "--accounts", "prod")
    assert code == 0 and "sealed as manifest #1: 1 artifacts" in text, text
    code, text = cli("verify", url, "--endpoint", moto_server_url)
    assert code == 0 and "verified" in text, text
    code, text = cli("collect", "--endpoint", moto_server_url, "-c", config, "--store", url, "--collector", "kms",
                     "--accounts", "nosuch")
    assert code == 2 and "no such account" in text and "prod" in text


def test_export_checks_the_whole_chain_but_only_the_exported_artifacts(store_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(store_dir, copy)
    store = EvidenceStore(LocalBackend(copy))
    november = [m for m in store.manifests() if m.started_at.month == 11]
    october_artifact = copy / store.manifests()[0].artifacts[0].path
    october_artifact.write_bytes(october_artifact.read_bytes() + b" ")
    # a changed October artifact does not block a November export...
    export(store, "2026-11-01", "2026-11-30", tmp_path / "nov.zip", signer=_signer(store_dir))
    # ...a changed October manifest does: the chain the November runs hang from is broken
    first = copy / "manifests/00000001.json"
    first.write_bytes(first.read_bytes().replace(b'"acme"', b'"acmf"'))
    with pytest.raises(ExportError, match="00000001"):
        export(store, "2026-11-01", "2026-11-30", tmp_path / "nov2.zip", signer=_signer(store_dir))
    assert november


def test_criteria_come_from_the_control_mapping_not_the_artifact_cross_product(package, tmp_path):
    path = tmp_path / "evidence.xlsx"
    path.write_bytes(zipfile.ZipFile(package.path).read("evidence.xlsx"))
    wb = load_workbook(path, read_only=True)
    cc63 = {r[0] for r in list(wb["CC6.3"].iter_rows(values_only=True))[2:]}
    assert "IAM-05" in cc63 and "IAM-01" not in cc63  # IAM-01 is CC6.1 only


def test_catalog_frequency_fixes_the_sample_size():
    from charter.evidence.export import _samples
    from charter.evidence.manifest import Entry

    first = datetime(2026, 7, 1, tzinfo=UTC)
    manifests = []
    for day in range(60):
        art = run_artifacts(first + timedelta(days=day), n=2)[0]
        m = type("M", (), {})()
        m.run_id, m.started_at = f"r{day}", first + timedelta(days=day)
        m.artifacts = [Entry.of("p", b"x", art)]
        manifests.append(m)
    population = [{"control": c, "run_id": f"r{d}", "row": i} for i, (c, d) in
                  enumerate(((c, d) for d in range(60) for c in ("IAM-01", "IAM-05")), 1)]
    by = {s.control: s for s in _samples(population, manifests, "seed",
                                          {"IAM-01": "quarterly", "IAM-05": "continuous"})}
    assert (by["IAM-01"].frequency, by["IAM-01"].size) == ("quarterly", 2)
    assert (by["IAM-05"].frequency, by["IAM-05"].size) == ("continuous (collected daily)", 25)
