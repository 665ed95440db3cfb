"""Commands as a user types them, in this process (charter's own entry point) against moto's
in-process AWS: the evidence a collect writes is verified, exported and shown per control in
text and JSON; a tampered store fails verification with exit 1; the mistakes a user makes with
AWS (a profile that does not exist, an S3 store without its key) end in a message with a fix and
exit 2; every command's --help has an example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_testkit import flat

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"


def test_collected_evidence_is_verified_exported_and_shown_per_control(charter, moto_aws, tmp_path: Path) -> None:
    import boto3

    iam = boto3.client("iam")
    iam.create_user(UserName="alice")  # a user without MFA: IAM evidence has something to say
    # An organization of the management account alone. Without one, plain moto lists a made-up
    # management account while AWS (and the embedded AWS, once its patches are loaded in this
    # process by an earlier test) answers AWSOrganizationsNotInUseException: the test's outcome
    # depended on which tests ran before it on the same worker.
    boto3.client("organizations").create_organization(FeatureSet="ALL")
    store = tmp_path / "evidence"
    code, out, err = charter("evidence", "collect", "-c", str(SMALL), "--store", str(store), "--collector", "iam",
                             "--regions", "us-east-1", "--processes", "1", "--operator-role", "")
    text = flat(out + err)
    assert code == 0, text
    assert "only the management account" in text  # said, not silently a one-account run
    assert "sealed as manifest #1" in text

    code, out, err = charter("evidence", "verify", str(store))
    assert code == 0 and "verified" in out and "pin it with --public-key" in out, out + err
    code, out, _ = charter("evidence", "verify", str(store), "--output", "json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["problems"] == [] and report["target"] == str(store)

    package = tmp_path / "q.zip"
    code, out, err = charter("evidence", "export", "--from", "2000-01-01", "--to", "2999-12-31", "-o", str(package),
                             "--store", str(store), "-c", str(SMALL))
    assert code == 0 and package.is_file(), out + err
    assert f"verify it offline: charter evidence verify --package {package}" in flat(out)
    code, out, err = charter("evidence", "verify", "--package", str(package))
    assert code == 0 and "verified" in out, out + err

    code, out, _ = charter("controls", "show", "IAM-03", "--store", str(store), "--format", "json")
    view = json.loads(out)
    assert code == 0 and view["id"] == "IAM-03" and "iam" in " ".join(view["collector_checks"])
    assert view["latest_evidence"] is not None and view["latest_evidence"]["run_id"]
    code, out, _ = charter("controls", "show", "iam-03", "--store", str(store))
    assert code == 0 and "IAM-03" in out  # ids are not case sensitive

    # an artifact changed after sealing: named, exit 1, in both formats
    artifact = next(p for p in store.rglob("*.json") if "manifest" not in str(p) and p.stat().st_size > 200)
    artifact.write_bytes(artifact.read_bytes().replace(b"alice", b"mallory", 1) + b" ")
    code, out, err = charter("evidence", "verify", str(store))
    assert code == 1 and "verification FAILED" in flat(err) and "FAIL " in out
    code, out, _ = charter("evidence", "verify", str(store), "--output", "json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["problems"]


def test_evidence_collectors_lists_each_collector_with_its_controls(charter) -> None:
    from charter.evidence.collectors import all_collectors

    code, out, _ = charter("evidence", "collectors")
    assert code == 0
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 4}
    for c in all_collectors():
        assert c.name in rows, c.name
        assert c.controls[0] in rows[c.name]


def test_a_profile_that_does_not_exist_is_a_message_with_exit_2(charter, monkeypatch, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile real]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    code, out, err = charter("evidence", "collect", "-c", str(SMALL), "--store", str(tmp_path / "s"),
                             "--profile", "no-such-profile", "--processes", "1")
    text = flat(out + err)
    assert code == 2, text
    assert "Traceback" not in text and "no-such-profile" in text and "fix:" in text


def test_an_s3_store_export_without_its_signing_key_says_which_key_to_pass(charter, moto_aws, tmp_path: Path) -> None:
    import boto3

    boto3.client("s3").create_bucket(Bucket="acme-evidence")
    code, out, err = charter("evidence", "export", "--from", "2026-01-01", "--to", "2026-03-31",
                             "-o", str(tmp_path / "q.zip"), "--store", "s3://acme-evidence/e")
    text = flat(out + err)
    assert code == 2 and "Traceback" not in text, text
    assert "needs the KMS key" in text and "--kms-key" in text
    assert not (tmp_path / "q.zip").exists()


def test_controls_reads_only_a_local_store(charter) -> None:
    code, out, err = charter("controls", "show", "LOG-01", "--store", "s3://acme-evidence/e")
    text = flat(out + err)
    assert code == 2 and "reads a local evidence store" in text and "charter console --store" in text


def _commands() -> list[tuple[str, ...]]:
    """Every command path of `charter` (groups' commands included), read from the CLI itself."""
    import typer.main

    from charter.cli import app

    root = typer.main.get_command(app)
    found: list[tuple[str, ...]] = []

    def walk(cmd, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, (*path, name))
        else:
            found.append(path)

    walk(root, ())
    return sorted(found)


def test_every_command_has_help_with_an_example(charter) -> None:
    commands = _commands()
    assert ("evidence", "collect") in commands and ("drift",) in commands and len(commands) > 30
    missing = []
    for path in commands:
        code, out, err = charter(*path, "--help")
        assert code == 0, (path, err)
        if "Example" not in out:
            missing.append(" ".join(path))
    assert missing == [], f"--help without an example: {missing}"


@pytest.mark.parametrize(("content", "where", "says"), [
    (None, "1:1", "cannot read file"),
    # the parser finds the bracket unclosed where the file ends
    ("baseline: [unclosed\n", "2:1", "YAML syntax error"),
    ("- a list, not settings\n", "1:1", "a what-if file is a mapping of org.yaml settings"),
])
def test_a_bad_what_if_file_is_a_located_error_with_exit_2(charter, tmp_path: Path, content, where, says) -> None:
    what = tmp_path / "what-if.yaml"
    if content is not None:
        what.write_text(content)
    code, out, err = charter("cost", "-c", str(SMALL), "--what-if", str(what))
    text = flat(out + err)
    assert code == 2 and "Traceback" not in text, text
    assert f"{what}:{where}" in text and says in text


def test_a_price_refresh_needs_the_file_to_write(charter) -> None:
    code, out, err = charter("cost", "-c", str(SMALL), "--refresh")
    text = flat(out + err)
    assert code == 2 and "--refresh needs --prices FILE" in text and "--prices prices.json" in text


def test_the_console_reads_artifacts_of_the_store_only(tmp_path: Path) -> None:
    """The console's artifact view takes a path from the browser: anything outside runs/ is
    refused, a path that is not there is "not found", never an error page with a traceback."""
    from charter.commands.console import EvidenceCompliance, open_store
    from charter.workloads.console_site import ConsoleError

    (tmp_path / "store").mkdir()  # an empty local store
    source = EvidenceCompliance(open_store(str(tmp_path / "store")))
    for bad in ("/etc/passwd", "runs/../../secret", "keys/ed25519.pem"):
        with pytest.raises(ConsoleError, match="is not an artifact path"):
            source.artifact(bad)
    assert source.artifact("runs/20260101T000000Z/artifacts/iam/x.json") is None


def test_console_build_check_says_the_committed_build_matches_its_sources(charter) -> None:
    code, out, err = charter("console", "build", "--check")
    assert code == 0, err  # a stale build is exit 2 naming the fix: rebuild and commit workloads/console/dist
    assert "workloads/console/dist matches its sources" in flat(out + err)


def test_packaging_a_workload_that_does_not_exist_names_the_one_that_does(charter, tmp_path: Path) -> None:
    code, out, err = charter("workload", "package", "nope", "-o", str(tmp_path / "dist"))
    text = flat(out + err)
    assert code == 2 and "unknown workload 'nope'" in text and "the only workload is 'optimizer'" in text
    assert not (tmp_path / "dist").exists()


def test_tools_install_uses_a_checkov_the_user_points_at_and_refuses_a_missing_one(charter, monkeypatch,
                                                                                  tmp_path: Path) -> None:
    own = tmp_path / "bin" / "checkov"
    own.parent.mkdir()
    own.write_text("#!/bin/sh\nexit 0\n")
    own.chmod(0o755)
    monkeypatch.setenv("CHARTER_CHECKOV", str(own))
    code, out, err = charter("tools", "install")
    assert code == 0, err
    assert out.strip().endswith(f": {own}")  # nothing installed: the user's own checkov is the one used
    monkeypatch.setenv("CHARTER_CHECKOV", str(tmp_path / "none"))
    code, out, err = charter("tools", "install")
    text = flat(out + err)
    assert code == 2 and f"CHARTER_CHECKOV={tmp_path / 'none'}: no such file" in text and "fix:" in text


def test_assess_refuses_what_it_cannot_do_before_reading_aws(charter, tmp_path: Path) -> None:
    code, out, err = charter("assess", "--landing-zone", "-o", str(tmp_path / "a"))
    text = flat(out + err)
    assert code == 2 and "--landing-zone judges the landing zone org.yaml describes" in text and "-c org.yaml" in text
    taken = tmp_path / "report.txt"
    taken.write_text("not a directory")
    code, out, err = charter("assess", "-o", str(taken), "--regions", "us-east-1")
    text = flat(out + err)
    assert code == 2 and f"{taken}: exists and is not a directory" in text
    assert taken.read_text() == "not a directory"


@pytest.mark.parametrize(("content", "says"), [
    ("{not json", "not a plan saved by `charter plan --save` ("),
    ('{"schema": "terraform/plan", "changes": []}', "not a plan saved by `charter plan --save`"),
])
def test_deploy_refuses_a_plan_file_charter_did_not_save(charter, tmp_path: Path, content, says) -> None:
    saved = tmp_path / "plan.out"
    saved.write_text(content)
    code, out, err = charter("deploy", "-c", str(SMALL), "-o", str(tmp_path / "out"), "--plan-file", str(saved))
    text = flat(out + err)
    assert code == 2 and f"--plan-file {saved}: {says}" in text and "charter plan -c org.yaml --save FILE" in text
    assert not (tmp_path / "out").exists()  # refused before synthesizing or calling AWS
