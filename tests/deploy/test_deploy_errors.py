"""Bad input stops a deploy with a CHARTER-6xx message saying where and how to fix, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sample_plan import write_sample_plan

from charter.aws import SessionFactory
from charter.landing_zone.config import load_config
from charter.landing_zone.deploy import deploy
from charter.landing_zone.deploy.errors import CredentialsError, EndpointError, PlanMissingError
from charter.landing_zone.deploy.planner import offline_plan
from charter.local import embedded_sessions

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"
CHARTER = [sys.executable, "-c", "from charter.cli import main; main()"]


@pytest.fixture(scope="module")
def small():
    return load_config(SMALL)


@pytest.fixture
def planned(small, tmp_path: Path) -> Path:
    write_sample_plan(small, tmp_path / "out")
    return tmp_path / "out"


def test_unreachable_endpoint_says_where_and_how(small, planned: Path) -> None:
    with pytest.raises(EndpointError) as err:
        deploy(small, planned, embedded_sessions("http://127.0.0.1:9"))
    assert err.value.code == "CHARTER-602"
    assert "http://127.0.0.1:9" in err.value.message
    assert "charter local" in (err.value.hint or "")


def test_unknown_profile_is_a_credentials_error(small, planned: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with pytest.raises(CredentialsError) as err:
        deploy(small, planned, SessionFactory(profile="charter-no-such-profile"))
    assert err.value.code == "CHARTER-603"
    assert "charter-no-such-profile" in err.value.message


def test_missing_plan_dir_names_the_path_and_the_command(small, tmp_path: Path) -> None:
    with pytest.raises(PlanMissingError) as err:
        deploy(small, tmp_path / "nowhere", embedded_sessions("http://127.0.0.1:9"))
    assert err.value.code == "CHARTER-601"
    assert str(tmp_path / "nowhere") in err.value.message
    assert "charter synth" in (err.value.hint or "")


def test_cli_prints_message_and_fix_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([*CHARTER, "deploy", "-c", str(SMALL), "-o", str(tmp_path / "o"), "--no-synth",
                           "--endpoint-url", "http://127.0.0.1:9"], capture_output=True, text=True, timeout=600,
                          cwd=REPO)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "no plan found" in proc.stderr and "fix:" in proc.stderr


def test_offline_plan_before_any_deploy_lists_everything_to_create(small, planned: Path) -> None:
    changes, journal = offline_plan(small, planned)
    assert journal is None
    kinds = {(c.area, c.action) for c in changes}
    assert {("organization", "create"), ("ou", "create"), ("account", "create"), ("scp", "create"),
            ("stackset", "create")} <= kinds
    assert sum(1 for c in changes if c.area == "account") == len(small.accounts)


def test_offline_plan_after_a_deploy_lists_scp_statement_and_target_changes(small, planned: Path) -> None:
    """What the last deploy recorded differs from org.yaml: a statement changed, an OU added
    and one dropped, a policy removed from org.yaml; the offline plan names each."""
    from charter.landing_zone.deploy.journal import Journal, ScpRecord
    from charter.landing_zone.scp.packing import pack

    policy = pack(small)[0]
    kept, *_ = policy.targets
    statements = {sid: "0" * 12 for sid in ("Changed", "Dropped")}
    journal = Journal(organization=small.organization.name, organization_id="o-abc", scps={
        policy.name: ScpRecord(statements=statements, targets=[kept, "ou-no-longer-wanted"]),
        "charter-retired": ScpRecord(statements={"Old": "1" * 12}, targets=["r-root"]),
    })
    journal.save(planned)
    changes, _ = offline_plan(small, planned)
    scp: dict[tuple[str, str], list[str]] = {}
    for c in changes:
        if c.area == "scp":
            scp.setdefault((c.target, c.action), []).extend(c.details)
    assert any("Dropped" in line for line in scp[policy.name, "update"])
    assert any("Changed" in line for line in scp[policy.name, "update"])
    assert scp[policy.name, "detach"] == ["from ou-no-longer-wanted"]
    assert scp.get((policy.name, "attach"), []) == [f"to {t}" for t in sorted(set(policy.targets) - {kept})]
    assert scp["charter-retired", "delete"] == ["no longer in org.yaml (detached first)"]


#: Starts `charter local` with SIGINT ignored, as a shell's background job (`cmd &`) inherits it.
_IGNORING_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                    "os.execv(sys.argv[1], sys.argv[1:])")


@pytest.mark.parametrize(("how", "sig"), [
    pytest.param("ctrl-c", signal.SIGINT, id="ctrl-c"),
    pytest.param("background", signal.SIGINT, id="ctrl-c-started-in-the-background-with-sigint-ignored"),
    pytest.param("sigterm", signal.SIGTERM, id="sigterm"),
])
@pytest.mark.e2e
def test_charter_local_prints_exports_and_stops_on_ctrl_c_or_sigterm(spawn, how: str, sig: int) -> None:
    launcher = [sys.executable, "-c", _IGNORING_SIGINT] if "background" in how else []
    child = spawn([*launcher, *CHARTER, "local", "--port", "0"], cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = [child.readline(timeout=300) for _ in range(4)]  # starting moto takes seconds, minutes under load
    assert lines[0].startswith("export AWS_ENDPOINT_URL=http://127.0.0.1:"), lines
    endpoint = lines[0].strip().split("=", 1)[1]
    import boto3

    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    assert sts.get_caller_identity()["Account"] == "123456789012"
    child.proc.send_signal(sig)
    code, _, err = child.finish(timeout=120)  # the `spawn` fixture kills it if it does not stop
    assert code == 0, err
    assert "embedded AWS stopped" in err and "Traceback" not in err
