"""The vendor-secret reminder (workloads.handlers.secret_reminders) against moto's Secrets Manager and SNS."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from moto import mock_aws

from charter.workloads.handlers import aws, secret_reminders

TODAY = dt.date(2026, 3, 1)


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.reset()
        sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="reminders")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        monkeypatch.setenv("REMINDER_TOPIC_ARN", topic)
        yield boto3.client("secretsmanager", region_name="us-east-1"), sqs, queue
        aws.reset()


def vendor_secret(sm, name: str, value: dict, **tags: str) -> None:
    sm.create_secret(Name=name, SecretString=json.dumps(value), Tags=[
        {"Key": "charter:issuer", "Value": "vendor"}, {"Key": "charter:owner", "Value": "owner@example.com"},
        *({"Key": k.replace("_", ":"), "Value": v} for k, v in tags.items())])


def received(sqs, queue) -> dict[str, str]:
    out = {}
    for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        body = json.loads(m["Body"])
        out[body["Subject"].removeprefix("Renew vendor secret ")] = body["Message"]
    return out


def test_owner_is_reminded_before_expiry_and_not_otherwise(env):
    sm, sqs, queue = env
    vendor_secret(sm, "in-7-days", {"licence_key": "real"}, charter_expires="2026-03-08")
    vendor_secret(sm, "in-10-days", {"licence_key": "real"}, charter_expires="2026-03-11")
    vendor_secret(sm, "in-2-days", {"api_key": "real"}, charter_expires="2026-03-03")
    vendor_secret(sm, "expired", {"api_key": "real"}, charter_expires="2026-02-20")
    vendor_secret(sm, "no-expiry", {"api_key": "real"})
    vendor_secret(sm, "placeholder", {"api_key": "set-by-owner"}, charter_expires="2027-01-01")
    sm.create_secret(Name="ours", SecretString="{}", Tags=[{"Key": "charter:issuer", "Value": "charter"}])
    out = secret_reminders.handler({}, None, today=TODAY)
    assert out["checked"] == 6
    got = received(sqs, queue)
    assert set(got) == {"in-7-days", "in-2-days", "expired", "no-expiry", "placeholder"}
    assert "expires on 2026-03-08, in 7 days" in got["in-7-days"]
    assert "expired on 2026-02-20" in got["expired"]
    assert "Owner: owner@example.com" in got["no-expiry"] and "tag-resource" in got["no-expiry"]
    assert "placeholder" in got["placeholder"]


@pytest.mark.parametrize(("days_left", "reminded"), [(31, False), (30, True), (29, False), (14, True), (8, False),
                                                      (7, True), (4, False), (3, True), (1, True), (0, True),
                                                      (-1, True)])
def test_reminder_days(days_left, reminded):
    expires = (TODAY + dt.timedelta(days=days_left)).isoformat()
    due = secret_reminders.due("s", {"charter:expires": expires}, {"api_key": "real"}, TODAY)
    assert (due is not None) == reminded
