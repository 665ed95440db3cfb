"""Submit's quota check against Service Quotas and SageMaker, answered by botocore's Stubber
(moto implements neither ListServiceQuotas for SageMaker nor execution states that run)."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from charter.workloads.handlers import aws, quota
from charter.workloads.handlers.http import HttpError
from charter.workloads.handlers.settings import Settings

SETTINGS = Settings(processing_instance_type="ml.c5.4xlarge", job_pipeline_name="acme-dev-optimizer-jobs")


@pytest.fixture()
def stubs(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws.reset()
    quota._cache.clear()
    sq, sm = Stubber(aws.client("service-quotas")), Stubber(aws.client("sagemaker"))
    with sq, sm:
        yield sq, sm
    sq.assert_no_pending_responses()
    sm.assert_no_pending_responses()
    aws.reset()


def _quotas(sq: Stubber, value: float) -> None:
    sq.add_response("list_service_quotas", {"Quotas": [
        {"QuotaName": "ml.m5.large for processing job usage", "QuotaCode": "L-1111", "Value": 20.0}],
        "NextToken": "n"}, {"ServiceCode": "sagemaker"})
    sq.add_response("list_service_quotas", {"Quotas": [
        {"QuotaName": "ml.c5.4xlarge for processing job usage", "QuotaCode": "L-C54X", "Value": value}]},
        {"ServiceCode": "sagemaker", "NextToken": "n"})


def _running(sm: Stubber, states: list[str]) -> None:
    import datetime as dt

    sm.add_response("list_pipeline_executions", {"PipelineExecutionSummaries": [
        {"PipelineExecutionArn": f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/e{i}",
         "PipelineExecutionStatus": s, "StartTime": dt.datetime(2026, 1, 1)} for i, s in enumerate(states)]},
        {"PipelineName": SETTINGS.job_pipeline_name, "SortBy": "CreationTime", "SortOrder": "Descending",
         "MaxResults": 100})


def test_a_job_is_refused_naming_the_quota_that_is_short(stubs):
    sq, sm = stubs
    _quotas(sq, 2.0)
    _running(sm, ["Executing", "Succeeded", "Executing"])
    with pytest.raises(HttpError) as info:
        quota.check(SETTINGS)
    assert info.value.status == 429
    assert "'ml.c5.4xlarge for processing job usage' (L-C54X) is 2 and 2 job(s) are running" in info.value.message


def test_a_job_is_accepted_while_an_instance_is_left_and_the_quota_is_read_once(stubs):
    sq, sm = stubs
    _quotas(sq, 3.0)
    _running(sm, ["Executing", "Failed", "Executing"])
    quota.check(SETTINGS)
    _running(sm, ["Executing"])
    quota.check(SETTINGS)  # the quota's value from the first call; only the executions again


def test_no_instance_type_no_check():
    quota.check(Settings())
