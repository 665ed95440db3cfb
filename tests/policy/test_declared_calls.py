"""Declared calls against the calls the code makes: a call the code makes that its
declaration misses would be a permission preflight never checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.session
import pytest
from moto import mock_aws
from stackset_roles import make_stackset_roles

from charter.landing_zone.builders import account_baseline as builder_module
from charter.landing_zone.custom_resources import account_baseline as handler_module
from charter.policy.actions import iam_action

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every call made through boto3 in the test, as the IAM action it is authorized as."""
    calls: list[str] = []
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    session = botocore.session.get_session()

    def record(model, **_):  # type: ignore[no-untyped-def]
        calls.append(iam_action(model.service_model.service_name, model.name, model.http.get("method")))

    session.register("before-call", record)
    with mock_aws():  # moto resets boto3's default session when it starts: set it after
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3.Session(botocore_session=session))
        yield calls


class _Context:
    log_stream_name = "stream"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:charter-account-baseline"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_account_baseline_handler_calls_only_what_its_role_declares(recorded: list[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler_module.urllib.request, "urlopen", lambda *a, **k: _Response())
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    recorded.clear()
    event = {"RequestType": "Create", "ResponseURL": "https://example.invalid/r", "StackId": "s", "RequestId": "r",
             "LogicalResourceId": "AccountBaseline", "ResourceType": "Custom::AccountBaseline",
             "ResourceProperties": {"ApplyGlobal": "true", "EbsKmsKeyId": key, "PasswordPolicy": {},
                                    "BackupRegionSettings": "true"}}
    handler_module.handler(event, _Context())
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"][0]["GroupId"]
    recorded.clear()
    handler_module.handler({**event, "ResourceType": "Custom::DefaultSecurityGroupClosed",
                            "ResourceProperties": {"GroupId": sg}}, _Context())
    made = set(recorded)
    handler_module.handler(event, _Context())
    made |= set(recorded)
    assert made, "the handler made no call: the recording is broken"
    assert made <= set(builder_module.HANDLER_CALLS), made - set(builder_module.HANDLER_CALLS)


def test_account_baseline_role_grants_exactly_the_declared_calls(small_config) -> None:
    t = builder_module.template(small_config).to_dict()
    policy = t["Resources"]["BaselineFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    granted = {a for s in policy["Statement"] for a in s["Action"]}
    assert set(builder_module.HANDLER_CALLS) <= granted


class _Response:
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def read(self) -> bytes:
        return b""


@pytest.mark.parametrize("name", ["iam", "kms", "s3", "vpc", "ebs", "logs", "cloudtrail", "config", "dynamodb",
                                  "organizations", "stacksets", "backup", "guardduty", "securityhub",
                                  "access_analyzer", "identity_center"])
def test_collector_calls_are_declared(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the collector's fetch on moto; every call its recorder made (even the ones moto
    cannot answer) is in `Collector.calls`."""
    from charter.aws import SessionFactory
    from charter.evidence.collectors import get
    from charter.evidence.collectors.base import Context, Recorder, Target
    from charter.landing_zone.config import load_config

    def small_config():  # noqa: ANN202
        return load_config(Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml")

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        if name == "organizations":
            boto3.client("organizations", region_name=REGION).create_organization(FeatureSet="ALL")
        if name == "s3":
            boto3.client("s3", region_name=REGION).create_bucket(Bucket="charter-test-bucket")
        sessions = SessionFactory(region=REGION)
        rec = Recorder(lambda service, region: sessions.client(service, region=region), ACCOUNT, REGION)
        cfg = small_config()
        try:
            get(name).fetch(rec, Context(cfg, Target(ACCOUNT, "test", REGION, "prod", True)))
        except Exception:  # noqa: BLE001, S110 - moto lacks some reads; the calls made so far are recorded
            pass
    made = {iam_action(c.service, c.operation) for c in rec.calls}
    assert made, f"{name}: no call recorded"
    assert made <= set(get(name).calls), made - set(get(name).calls)


def test_every_collector_declares_its_calls() -> None:
    from charter.evidence.collectors import all_collectors

    silent = [c.name for c in all_collectors() if not c.calls and c.name != "access_review"]
    assert silent == []


@pytest.mark.e2e  # deploys on the embedded AWS
def test_deploy_engine_calls_are_declared(tmp_path: Path) -> None:
    """A deploy of the small example on the embedded AWS: every call it makes is declared
    in `landing_zone.deploy.calls` or by an API step of the plan."""
    from sample_plan import write_sample_plan

    from charter.landing_zone.config import load_config
    from charter.landing_zone.deploy import deploy
    from charter.landing_zone.deploy.calls import MANAGEMENT_CALLS, MEMBER_CALLS
    from charter.landing_zone.synth import Plan
    from charter.local import LocalAws

    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(repo / "examples" / "small" / "org.yaml")
    made: set[str] = set()

    def hook(client) -> None:  # type: ignore[no-untyped-def]
        service = client.meta.service_model.service_name
        client.meta.events.register("before-call", lambda model, **_: made.add(
            iam_action(service, model.name, model.http.get("method"))))

    write_sample_plan(cfg, tmp_path)
    with LocalAws() as aws:
        sessions = aws.sessions()
        # inline, not the AWS-managed policy: a module of the same worker may have reset the
        # embedded AWS without AWS-managed policies loaded
        make_stackset_roles(sessions)
        sessions.on_client.append(hook)
        result = deploy(cfg, tmp_path, sessions)
    assert result.failures == []
    steps = {iam_action(s["service"], s["operation"]) for ps in Plan.read(tmp_path).stacks
             for s in ps.facts.get("api_steps") or []}
    declared = set(MANAGEMENT_CALLS) | set(MEMBER_CALLS) | steps | {"sts:AssumeRole"}
    assert made - declared == set()
