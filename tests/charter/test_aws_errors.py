"""AWS failures a user meets (unreachable endpoint, no credentials, throttling, denial) end
in a message with a fix, never a traceback, whichever command met them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import botocore.exceptions
import pytest

from charter.aws import explain

ROOT = Path(__file__).resolve().parents[2]


def client_error(code: str, op: str = "ListAccounts") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": f"{code} says no"}}, op)


@pytest.mark.parametrize(("exc", "says", "fix"), [
    (client_error("ThrottlingException"), "kept throttling ListAccounts", "--max-workers"),
    (client_error("TooManyRequestsException", "CreateStackInstances"), "kept throttling CreateStackInstances",
     "continue where they stopped"),
    (client_error("AccessDeniedException"), "AWS refused ListAccounts: AccessDeniedException", "no SCP"),
    (client_error("ExpiredToken"), "ExpiredToken", "aws sso login"),
    (client_error("ValidationError"), "AWS refused ListAccounts: ValidationError: ValidationError says no",
     "AWS's message"),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="https://sts.eu-west-9.amazonaws.com/x?y=1"),
     "cannot reach https://sts.eu-west-9.amazonaws.com (EndpointConnectionError)", "--region"),
    (botocore.exceptions.NoCredentialsError(), "no usable AWS credentials", "--profile"),
    (botocore.exceptions.NoRegionError(), "no AWS region", "--region"),
])
def test_each_failure_says_what_failed_and_what_to_do(exc, says, fix):
    err = explain(exc)
    assert says in err.message
    assert fix in err.hint


def _charter(tmp_path, *args: str) -> tuple[int, str]:
    # no credentials anywhere: empty HOME, none in the environment, no instance metadata
    done = subprocess.run([sys.executable, "-m", "charter.cli", *args], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true",
                               "AWS_DEFAULT_REGION": "us-east-1"}, timeout=600)
    return done.returncode, done.stdout + done.stderr


def test_an_unreachable_endpoint_fails_at_once_with_the_fix(tmp_path):
    code, out = _charter(tmp_path, "evidence", "verify", "s3://evidence/x", "--endpoint-url", "http://127.0.0.1:9")
    assert code == 2 and "Traceback" not in out, out
    assert "cannot reach http://127.0.0.1:9 (Connection refused)" in out and "charter local" in out


def test_an_unreachable_endpoint_is_found_before_any_request_is_sent():
    """The probe answers before a client exists, so botocore's ~50 s of retries on a refused
    connection never start (what the message above relies on)."""
    from charter.aws import EndpointUnreachableError, SessionFactory

    sent: list[str] = []
    sessions = SessionFactory(endpoint_url="http://127.0.0.1:9", credentials=("testing", "testing"))
    sessions.on_client.append(lambda c: c.meta.events.register("before-send", lambda request, **_: sent.append(
        request.url)))
    with pytest.raises(EndpointUnreachableError) as info:
        sessions.client("s3").list_buckets()
    assert "Connection refused" in info.value.message and sent == []


def test_missing_credentials_end_in_a_message_not_a_traceback(tmp_path):
    code, out = _charter(tmp_path, "evidence", "verify", "s3://evidence/x")
    assert code == 2 and "Traceback" not in out, out
    assert "no usable AWS credentials" in out and "--profile" in out


def test_plan_with_an_expired_sso_login_says_so_and_calls_itself_plan(tmp_path) -> None:
    """A profile whose SSO token is missing or expired: the real-AWS preflight explains it as every
    AWS error is explained (log in again), and names the command that ran, not "deploy"."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "config").write_text(
        "[profile sso]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Admin\n"
        "region = us-east-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
        "sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    out = tmp_path / "out"
    synth = subprocess.run([sys.executable, "-m", "charter.cli", "synth", "-c", str(repo / "examples/small/org.yaml"),
                            "-o", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert synth.returncode == 0, synth.stderr
    result = subprocess.run([sys.executable, "-m", "charter.cli", "plan", "-c", str(repo / "examples/small/org.yaml"),
                             "-o", str(out), "--no-synth", "--profile", "sso"], capture_output=True, text=True,
                            env=env, timeout=600)
    text = " ".join(result.stderr.split())
    assert result.returncode == 2 and "Traceback" not in text, text
    assert "plan:" in text and "deploy:" not in text
    assert "aws sso login" in text and "--endpoint-url / --region" not in text
