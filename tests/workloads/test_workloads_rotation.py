"""The rotation Lambda (workloads.handlers.rotation), called directly against moto."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from charter.workloads.handlers import rotation


@pytest.fixture
def sm(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def start_rotation(sm, name: str, value: dict) -> str:
    """Put the secret where Secrets Manager has it when it first calls the function: rotation
    enabled, a new version id labelled AWSPENDING (no value yet), AWSCURRENT unchanged."""
    original = sm.create_secret(Name=name, SecretString=json.dumps(value))["VersionId"]
    token = "a" * 32 + "-rotation"
    sm.rotate_secret(SecretId=name, ClientRequestToken=token, RotationRules={"AutomaticallyAfterDays": 30})
    # moto 5 reads RotateImmediately=False as True and makes the new version current at once;
    # put the labels back to the state the real service leaves before createSecret.
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=original,
                                   RemoveFromVersionId=token)
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSPREVIOUS", RemoveFromVersionId=token)
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING", MoveToVersionId=token)
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[original] and stages[token] == ["AWSPENDING"]
    return token


def run_all(name: str, token: str) -> None:
    for step in rotation.STEPS:
        rotation.handler({"SecretId": name, "ClientRequestToken": token, "Step": step})


def test_workloads_rotation_replaces_keys_and_keeps_other_fields(sm):
    old = {"vendor": "pricing-library", "licence_key": "x" * 40}
    token = start_rotation(sm, "acme-prod-optimizer/pricing-licence", old)
    run_all("acme-prod-optimizer/pricing-licence", token)
    current = json.loads(sm.get_secret_value(SecretId="acme-prod-optimizer/pricing-licence")["SecretString"])
    assert current["vendor"] == "pricing-library"
    assert current["licence_key"] != old["licence_key"] and len(current["licence_key"]) == 40
    previous = json.loads(sm.get_secret_value(SecretId="acme-prod-optimizer/pricing-licence",
                                              VersionStage="AWSPREVIOUS")["SecretString"])
    assert previous == old
    stages = sm.describe_secret(SecretId="acme-prod-optimizer/pricing-licence")["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[token]  # the service itself drops AWSPENDING afterwards


def test_workloads_rotation_steps_are_idempotent(sm):
    token = start_rotation(sm, "keys", {"client": "optimizer", "api_key": "k" * 40})
    event = {"SecretId": "keys", "ClientRequestToken": token, "Step": "createSecret"}
    rotation.handler(event)
    first = sm.get_secret_value(SecretId="keys", VersionStage="AWSPENDING")["SecretString"]
    rotation.handler(event)  # Secrets Manager retries a step: the pending value must not change
    assert sm.get_secret_value(SecretId="keys", VersionStage="AWSPENDING")["SecretString"] == first
    for step in ("setSecret", "testSecret", "finishSecret"):
        rotation.handler({**event, "Step": step})
    rotation.handler({**event, "Step": "finishSecret"})  # already current: no-op
    assert json.loads(sm.get_secret_value(SecretId="keys")["SecretString"]) == json.loads(first)


def test_workloads_rotation_test_step_rejects_an_unrotated_value(sm):
    token = start_rotation(sm, "keys", {"api_key": "k" * 40})
    with pytest.raises(rotation.RotationError, match="createSecret has not run"):
        rotation.handler({"SecretId": "keys", "ClientRequestToken": token, "Step": "testSecret"})
    # a pending value that kept the old key must not become current
    sm.put_secret_value(SecretId="keys", ClientRequestToken=token, SecretString=json.dumps({"api_key": "k" * 40}),
                        VersionStages=["AWSPENDING"])
    with pytest.raises(rotation.RotationError, match="equals the current value"):
        rotation.handler({"SecretId": "keys", "ClientRequestToken": token, "Step": "testSecret"})


def test_workloads_rotation_refuses_unknown_tokens_and_disabled_rotation(sm):
    token = start_rotation(sm, "keys", {"api_key": "k" * 40})
    with pytest.raises(rotation.RotationError, match="no stage for rotation"):
        rotation.handler({"SecretId": "keys", "ClientRequestToken": "b" * 40, "Step": "createSecret"})
    with pytest.raises(rotation.RotationError, match="unknown rotation step"):
        rotation.handler({"SecretId": "keys", "ClientRequestToken": token, "Step": "explode"})
    sm.create_secret(Name="plain", SecretString=json.dumps({"api_key": "k" * 40}))
    version = sm.describe_secret(SecretId="plain")["VersionIdsToStages"]
    with pytest.raises(rotation.RotationError, match="not enabled"):
        rotation.handler({"SecretId": "plain", "ClientRequestToken": next(iter(version)), "Step": "createSecret"})


def test_workloads_rotation_needs_a_rotatable_field(sm):
    token = start_rotation(sm, "odd", {"vendor": "x"})
    with pytest.raises(rotation.RotationError, match="no field to rotate"):
        rotation.handler({"SecretId": "odd", "ClientRequestToken": token, "Step": "createSecret"})
