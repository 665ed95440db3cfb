"""End to end on the embedded AWS: the FULL landing-zone plan of examples/small deploys with
no failure, a second deploy changes nothing, and what it built is there in the accounts.
How long it takes is measured by `benchmarks/deploy.py --config examples/small/org.yaml`."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter.aws import SessionFactory
from charter.config.model import OrgConfig
from charter.landing_zone.config import load_config
from charter.landing_zone.deploy import deploy
from charter.landing_zone.deploy.engine import DeployResult
from charter.landing_zone.synth import build_plan, synthesize, write_output
from charter.local import LOCAL_MANAGEMENT_ACCOUNT, LocalAws
from charter.naming import EVIDENCE_READER_ROLE, MEMBER_ACCESS_ROLE

pytestmark = pytest.mark.slow  # the module's deploy of the whole plan takes minutes

REPO = Path(__file__).resolve().parents[2]
READS = ("Describe", "List", "Get")
CREDENTIALS = ("AssumeRole",)


def _reset(server: LocalAws) -> None:
    # moto's backends live in the process: start from an empty AWS whatever ran before
    urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")).read()


class Deployed:
    def __init__(self, cfg: OrgConfig, sessions: SessionFactory, first: DeployResult, second: DeployResult,
                 second_calls: list[str]) -> None:
        self.cfg, self.sessions, self.first, self.second = cfg, sessions, first, second
        self.second_calls = second_calls
        org = sessions.client("organizations")
        self.accounts = {a["Name"]: a["Id"] for a in org.list_accounts()["Accounts"]}

    def member(self, service: str, name: str, region: str | None = None) -> Any:
        return self.sessions.client(service, region=region, account_id=self.accounts[name],
                                    role_name=MEMBER_ACCESS_ROLE)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    cfg = load_config(REPO / "examples" / "small" / "org.yaml")
    out = tmp_path_factory.mktemp("full-plan")
    stacks = synthesize(cfg)
    write_output(stacks, build_plan(cfg, stacks, (REPO / "examples" / "small" / "org.yaml").read_text()), out)
    with LocalAws() as server:
        _reset(server)
        sessions = server.sessions()
        first = deploy(cfg, out, sessions)
        calls: list[str] = []
        again = server.sessions()
        again.on_client.append(lambda client: client.meta.events.register(
            "before-call", lambda model, **_: calls.append(model.name)))
        second = deploy(cfg, out, again)
        yield Deployed(cfg, sessions, first, second, calls)
        _reset(server)


def test_the_full_plan_deploys_without_a_failure(deployed: Deployed) -> None:
    assert deployed.first.failures == []
    # every note is the embedded AWS saying what it lacks, never a hidden failure
    for note in deployed.first.notes:
        assert "embedded AWS" in note, note


def test_a_second_deploy_makes_no_mutating_call(deployed: Deployed) -> None:
    assert deployed.second.failures == []
    assert deployed.second.changes == []
    mutating = [c for c in deployed.second_calls if not c.startswith(READS) and c not in CREDENTIALS]
    assert mutating == []
    assert deployed.second_calls, "the second deploy read nothing: the hook did not see it"


def test_the_organization_trail_logs_to_the_log_archive(deployed: Deployed) -> None:
    trails = deployed.sessions.client("cloudtrail").describe_trails()["trailList"]
    trail = next(t for t in trails if t["Name"] == f"{deployed.cfg.organization.name}-organization-trail")
    assert trail["IsOrganizationTrail"] and trail["IsMultiRegionTrail"] and trail["LogFileValidationEnabled"]
    assert deployed.accounts["log-archive"] in trail["S3BucketName"]
    status = deployed.sessions.client("cloudtrail").get_trail_status(Name=trail["TrailARN"])
    assert status["IsLogging"]


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2"])
def test_a_member_account_records_config_in_every_governed_region(deployed: Deployed, region: str) -> None:
    config = deployed.member("config", "dev", region)
    recorders = config.describe_configuration_recorders()["ConfigurationRecorders"]
    assert [r["name"] for r in recorders] == ["charter"]
    assert config.describe_configuration_recorder_status()["ConfigurationRecordersStatus"][0]["recording"]
    channel = config.describe_delivery_channels()["DeliveryChannels"][0]
    assert deployed.accounts["log-archive"] in channel["s3BucketName"]


def test_member_accounts_have_the_evidence_reader_role_with_read_only_policies(deployed: Deployed) -> None:
    for name in ("dev", "prod", "security"):
        iam = deployed.member("iam", name)
        assert iam.get_role(RoleName=EVIDENCE_READER_ROLE)["Role"]["RoleName"] == EVIDENCE_READER_ROLE
        attached = {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=EVIDENCE_READER_ROLE)[
            "AttachedPolicies"]}
        assert attached == {"SecurityAudit", "ViewOnlyAccess"}


def test_service_managed_stacksets_never_reach_the_management_account(deployed: Deployed) -> None:
    cfn = deployed.sessions.client("cloudformation")
    instances = cfn.list_stack_instances(StackSetName="charter-config-recorder")["Summaries"]
    accounts = {i["Account"] for i in instances}
    assert LOCAL_MANAGEMENT_ACCOUNT not in accounts
    assert accounts == {aid for name, aid in deployed.accounts.items() if name != "master"}
    assert {i["Region"] for i in instances} == {"us-east-1", "us-west-2"}


def test_the_account_baseline_is_applied_by_its_own_handler(deployed: Deployed) -> None:
    # the resources around the custom resource
    lam = deployed.member("lambda", "staging", "us-west-2")
    assert lam.get_function(FunctionName="charter-account-baseline")["Configuration"]["Runtime"] == "python3.12"
    # what the handler's code did in the account: the password policy (home region only,
    # IAM is global), EBS encryption by default with the environment key (every region)
    policy = deployed.member("iam", "staging").get_account_password_policy()["PasswordPolicy"]
    pp = deployed.cfg.baseline.password_policy
    assert policy["MinimumPasswordLength"] == pp.min_length
    assert policy["PasswordReusePrevention"] == pp.reuse_prevention
    for region in ("us-east-1", "us-west-2"):
        ec2 = deployed.member("ec2", "staging", region)
        assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
        key = ec2.get_ebs_default_kms_key_id()["KmsKeyId"]
        assert f":{deployed.accounts['staging']}:key/" in key
    # and in the management account, through the self-managed StackSet
    mgmt = deployed.sessions.client("ec2", region="us-west-2")
    assert mgmt.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    # AWS Backup's advanced DynamoDB features, which copies of tables to the DR region need
    for region in ("us-east-1", "us-west-2"):
        settings = deployed.member("backup", "prod", region).describe_region_settings()
        assert settings["ResourceTypeManagementPreference"]["DynamoDB"] is True


def test_the_audit_data_replicates_into_locked_replicas_in_the_dr_region(deployed: Deployed) -> None:
    org, dr = deployed.cfg.organization.name, deployed.cfg.dr_region
    for account, kind, locked in (("log-archive", "cloudtrail", True), ("log-archive", "config", False),
                                  ("audit", "evidence", True)):
        s3 = deployed.member("s3", account, dr)
        replica = f"{org}-{kind}-{deployed.accounts[account]}-{dr}"
        assert s3.get_bucket_versioning(Bucket=replica)["Status"] == "Enabled"
        if locked:
            retention = s3.get_object_lock_configuration(Bucket=replica)["ObjectLockConfiguration"]["Rule"][
                "DefaultRetention"]
            assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", deployed.cfg.baseline.object_lock_days)


def test_the_security_account_is_guardduty_administrator_with_its_own_detector(deployed: Deployed) -> None:
    gd = deployed.sessions.client("guardduty")
    admins = gd.list_organization_admin_accounts()["AdminAccounts"]
    assert [a["AdminAccountId"] for a in admins] == [deployed.accounts["security"]]
    assert deployed.member("guardduty", "security").list_detectors()["DetectorIds"]


def test_the_evidence_collector_code_is_uploaded_before_its_stack(deployed: Deployed) -> None:
    audit = deployed.accounts["audit"]
    s3 = deployed.member("s3", "audit")
    bucket = f"{deployed.cfg.organization.name}-charter-assets-{audit}-us-east-1"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("charter/evidence-collector-")
    fn = deployed.member("lambda", "audit").list_functions()["Functions"]
    assert any(f["Handler"] == "charter.evidence.continuous.handler" for f in fn)


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_each_workload_account_gets_its_planned_network_and_exports_it(deployed: Deployed, name: str) -> None:
    """The network StackSet is created with its defaults (no CIDR, so no VPC) and each
    account's CIDR arrives as an instance override: the override must build the VPC and
    subnets the plan computed, and the account's exports must be that VPC's, for the
    workload stacks that import them."""
    plan = build_plan(deployed.cfg, synthesize(deployed.cfg))
    network = next(ps for ps in plan.stacks if ps.name == "network").facts["accounts"][name]
    ec2 = deployed.member("ec2", name)
    vpc = next(v for v in ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == network["cidr"])
    subnets = {s["CidrBlock"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "Subnets"]}
    assert subnets == {c for tier in network["subnets"].values() for c in tier}
    exports = {e["Name"]: e for e in deployed.member("cloudformation", name).list_exports()["Exports"]}
    assert exports["charter-vpc-id"]["Value"] == vpc["VpcId"]
    assert "/StackSet-charter-network-" in exports["charter-vpc-id"]["ExportingStackId"]
    private = set(exports["charter-private-subnet-ids"]["Value"].split(","))
    assert {s["CidrBlock"] for s in ec2.describe_subnets(SubnetIds=sorted(private))["Subnets"]} == \
        set(network["subnets"]["private"])


def test_the_evidence_collector_lambda_seals_a_collection_into_the_s3_store(deployed: Deployed) -> None:
    """The scheduled collector, invoked as EventBridge would: its code runs from the zip deploy
    uploaded (the import closure, no landing-zone builder), as its role, and seals a run
    that Charter's verify accepts."""
    import json as _json

    from charter.evidence.store import EvidenceStore, S3Backend
    from charter.evidence.verify import verify

    lam = deployed.member("lambda", "audit")
    name = f"{deployed.cfg.organization.name}-evidence-collector"
    answer = lam.invoke(FunctionName=name, Payload=_json.dumps({"collectors": ["kms", "organizations", "iam"]}))
    payload = _json.loads(answer["Payload"].read())
    if "FunctionError" in answer:  # what the function wrote to its log group says why
        logs = deployed.member("logs", "audit")
        group = f"/aws/lambda/{name}"
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        lines = [e["message"] for s in streams for e in logs.get_log_events(
            logGroupName=group, logStreamName=s["logStreamName"])["events"]]
        pytest.fail(f"{payload}\n" + "\n".join(lines[-40:]))
    assert payload["sealed"] and payload["sequence"] == 1 and payload["artifacts"] > 0, payload
    # the store in the home region (its replica in the DR region has the same prefix)
    bucket = next(b["Name"] for b in deployed.member("s3", "audit").list_buckets()["Buckets"]
                  if b["Name"].startswith(f"{deployed.cfg.organization.name}-evidence-")
                  and b["Name"].endswith(deployed.cfg.organization.home_region))
    store = EvidenceStore(S3Backend(deployed.member("s3", "audit"), bucket, ""))
    manifest = store.manifests()[-1]
    assert manifest.sha256 == payload["manifest_sha256"]
    assert {e.collector for e in manifest.artifacts} >= {"kms", "organizations", "iam"}
    # written by the Lambda's role, with the SCP statements deploy put in its package
    assert "assumed-role/CharterEvidenceCollector/" in manifest.caller_arn
    report = verify(store.backend)
    assert report.ok, [p.render() for p in report.problems]
