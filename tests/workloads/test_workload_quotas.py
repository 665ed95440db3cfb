"""`charter workload plan` checks the Lambda concurrency quota before anything deploys (issue #26, 7).

Prod reserves concurrency for the aggregator and provisions it on every API alias; Lambda
keeps 100 of the account's concurrency unreserved. Many new accounts start at a quota of
10, where the compute stack would fail halfway. The check reads the applied quota from
Service Quotas (botocore's Stubber checks the requests and answers against the real
service model) and says which increase to request; the embedded AWS answers from the quota
its Lambda enforces.
"""

from __future__ import annotations

import botocore.session
import pytest
from botocore.stub import Stubber

from charter.workloads import quotas
from charter.workloads.synth import synthesize_workloads


@pytest.fixture(scope="module")
def compute(small_config):
    return {s.name.split("-", 2)[-1]: s.data for env in ("prod", "dev")
            for s in synthesize_workloads(small_config, env) if s.name.endswith("-compute")}


def sq_client():
    return botocore.session.get_session().create_client(
        "service-quotas", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_prod_needs_its_reservations_its_provisioned_aliases_and_lambdas_unreserved_floor(small_config):
    stacks = synthesize_workloads(small_config, "prod")
    need = quotas.lambda_concurrency_need([s.data for s in stacks])
    api_aliases = sum(1 for s in stacks for r in s.data["Resources"].values()
                      if r["Type"] == "AWS::Lambda::Alias" and "ProvisionedConcurrencyConfig" in r["Properties"])
    assert api_aliases >= 6
    assert need.reserved == 10 and need.provisioned == 5 * api_aliases
    assert need.total == 10 + 5 * api_aliases + quotas.UNRESERVED_MINIMUM
    dev = quotas.lambda_concurrency_need([s.data for s in synthesize_workloads(small_config, "dev")])
    assert dev.provisioned == 0 and dev.total == 10 + quotas.UNRESERVED_MINIMUM


def test_a_new_accounts_quota_of_10_is_reported_with_the_request_to_file(small_config):
    need = quotas.lambda_concurrency_need([s.data for s in synthesize_workloads(small_config, "prod")])
    client = sq_client()
    with Stubber(client) as stub:
        stub.add_response("get_service_quota", {"Quota": {
            "ServiceCode": "lambda", "QuotaCode": "L-B99A9384", "QuotaName": "Concurrent executions", "Value": 10.0}},
            {"ServiceCode": "lambda", "QuotaCode": "L-B99A9384"})
        short = quotas.check_lambda_concurrency(client, need, where="prod/us-east-1")
        stub.assert_no_pending_responses()
    assert short is not None
    line = short.render()
    assert "prod/us-east-1" in line and "quota is 10" in line and f"needs {need.total}" in line
    assert (f"aws service-quotas request-service-quota-increase --service-code lambda --quota-code L-B99A9384 "
            f"--desired-value {need.total} --region us-east-1") in line


def test_an_unapplied_quota_falls_back_to_the_aws_default(small_config):
    need = quotas.lambda_concurrency_need([s.data for s in synthesize_workloads(small_config, "prod")])
    client = sq_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_service_quota", "NoSuchResourceException", "no applied value",
                              expected_params={"ServiceCode": "lambda", "QuotaCode": "L-B99A9384"})
        stub.add_response("get_aws_default_service_quota", {"Quota": {
            "ServiceCode": "lambda", "QuotaCode": "L-B99A9384", "Value": 1000.0}},
            {"ServiceCode": "lambda", "QuotaCode": "L-B99A9384"})
        assert quotas.check_lambda_concurrency(client, need, where="prod/us-east-1") is None
        stub.assert_no_pending_responses()


@pytest.mark.e2e
def test_the_embedded_aws_answers_from_the_quota_its_lambda_enforces(monkeypatch, small_config, tmp_path):
    """`charter workload plan --local`: with the embedded Lambda enforcing 100 concurrent
    executions (moto's MOTO_LAMBDA_CONCURRENCY_QUOTA), plan fails before any stack and names the request."""
    from charter.local import LocalAws
    from charter.workloads.deploy import deploy_workload

    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "100")
    with LocalAws() as aws:
        sessions = aws.sessions()
        got = sessions.client("service-quotas").get_service_quota(ServiceCode="lambda", QuotaCode="L-B99A9384")
        assert got["Quota"]["Value"] == 100.0
        # deploy makes the account (as on AWS, where the landing zone did), then stops before any stack
        deployed = deploy_workload(small_config, "prod", sessions, tmp_path / "deploy", local=True)
        planned = deploy_workload(small_config, "prod", sessions, tmp_path / "plan", dry_run=True, local=True)
        stacks = sessions.client("cloudformation", account_id=next(
            a["Id"] for a in sessions.client("organizations").list_accounts()["Accounts"] if a["Name"] == "prod"),
            role_name="OrganizationAccountAccessRole").list_stacks()["StackSummaries"]
    for result in (deployed, planned):
        assert not result.ok
        assert any("L-B99A9384" in f and "quota is 100" in f for f in result.failures), result.failures
        assert not [c for c in result.changes if c.area == "stack"]
    assert stacks == []



def test_plain_moto_does_not_know_lambdas_quota():
    """Why the embedded AWS patches Service Quotas: plain moto answers only VPC quotas (run in a
    child interpreter, since this one may already hold the embedded AWS's patches)."""
    import subprocess
    import sys

    code = ("import boto3, os; from moto import mock_aws\n"
            "os.environ.update(AWS_ACCESS_KEY_ID='x', AWS_SECRET_ACCESS_KEY='x')\n"
            "with mock_aws():\n"
            " c = boto3.client('service-quotas', region_name='us-east-1')\n"
            " try: c.get_service_quota(ServiceCode='lambda', QuotaCode='L-B99A9384'); print('answered')\n"
            " except c.exceptions.NoSuchResourceException: print('NoSuchResource')\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.strip() == "NoSuchResource"
