"""`charter deploy` on real AWS asks before it creates accounts or changes SCPs; a saved plan applies as saved.

"Real AWS" here is a named profile whose requests botocore sends to the embedded AWS through
$AWS_ENDPOINT_URL (the SDK's own setting): Charter sees a profile, not an embedded AWS, and
takes the real-AWS path, while nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "charter.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, timeout=900)


@pytest.fixture()
def embedded():
    from charter.local import LocalAws

    with LocalAws() as aws:
        yield aws


def _org_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "org.yaml"
    # the embedded AWS's management account is not the example's
    path.write_text(SMALL.read_text().replace('management_account_id: "111111111111"', ""))
    return path


@pytest.mark.e2e
def test_real_aws_deploy_shows_the_plan_and_will_not_create_accounts_unasked(tmp_path: Path, embedded) -> None:
    (tmp_path / "config").write_text("[profile mgmt]\nregion = us-east-1\n")
    (tmp_path / "credentials").write_text("[mgmt]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    env = {"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
           "AWS_ENDPOINT_URL": embedded.endpoint_url}
    result = run("deploy", "-c", str(_org_yaml(tmp_path)), "-o", str(tmp_path / "out"), "--profile", "mgmt", env=env)
    assert result.returncode == 2 and "CHARTER-012" in result.stderr, result.stderr
    assert "create   account prod" in result.stdout and "to add," in result.stdout
    assert "planning organization: DONE" in result.stdout + result.stderr  # the phases show as they run
    orgs = boto3.client("organizations", endpoint_url=embedded.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(orgs.exceptions.AWSOrganizationsNotInUseException):
        orgs.describe_organization()  # nothing was created
    both = run("deploy", "-c", str(SMALL), "--local", "--profile", "mgmt", env=env)
    assert both.returncode == 2 and "CHARTER-010" in both.stderr and "--local and --profile" in both.stderr


@pytest.mark.e2e
def test_a_saved_plan_is_applied_as_saved_and_refused_when_stale(tmp_path: Path, embedded) -> None:
    config = _org_yaml(tmp_path)
    out = tmp_path / "out"
    url = embedded.endpoint_url
    saved = tmp_path / "plan.out"
    offline = run("plan", "-c", str(config), "-o", str(out), "--offline", "--save", str(saved))
    assert offline.returncode == 0, offline.stderr
    refused = run("deploy", "-c", str(config), "-o", str(out), "--endpoint-url", url, "--plan-file", str(saved))
    assert refused.returncode == 2 and "CHARTER-013" in refused.stderr and "offline" in refused.stderr

    planned = run("plan", "-c", str(config), "-o", str(out), "--endpoint-url", url, "--save", str(saved))
    assert planned.returncode == 0, planned.stderr
    assert json.loads(saved.read_text())["totals"]["add"] > 0
    applied = run("deploy", "-c", str(config), "-o", str(out), "--endpoint-url", url, "--plan-file", str(saved),
                  "--output", "json")
    assert applied.returncode == 0, applied.stderr[-3000:]
    assert json.loads(applied.stdout)["ok"] is True

    config.write_text(config.read_text().replace("log_retention_days: 2557", "log_retention_days: 3653")
                      if "log_retention_days: 2557" in config.read_text() else config.read_text() + "\n# edited\n")
    stale = run("deploy", "-c", str(config), "-o", str(out), "--endpoint-url", url, "--plan-file", str(saved))
    assert stale.returncode == 2 and "CHARTER-013" in stale.stderr and "changed since" in stale.stderr
