"""The REST authorizer gives each user their own API key in the per-user usage plan (issue #26, 4).

Real Cognito-shaped tokens (an RSA key and its JWKS served on 127.0.0.1, as in the
WebSocket authorizer's tests) and moto's API Gateway and DynamoDB.
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_ws_authorizer import CLIENT, POOL, _claims, _jwk, _Jwks, _key, _token  # noqa: E402

from charter.workloads.handlers import api_authorizer, aws, ws_authorizer  # noqa: E402

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/jobs/abc"
TABLE, PLAN = "acme-prod-optimizer-api-keys", "acme-prod-optimizer-per-user"


@pytest.fixture()
def world(monkeypatch):
    jwks = _Jwks()
    key = _key()
    jwks.keys.append(_jwk(key, "key-1"))
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                 "COGNITO_JWKS_URL": jwks.url, "API_KEYS_TABLE": TABLE, "USAGE_PLAN_NAME": PLAN,
                 "POWERTOOLS_SERVICE_NAME": "acme-prod-optimizer"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(ws_authorizer, "_jwks", {})
    monkeypatch.setattr(api_authorizer, "_plan_ids", {})
    try:
        with mock_aws():
            aws.reset()
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}])
            apigw = boto3.client("apigateway", region_name="us-east-1")
            plan = apigw.create_usage_plan(name=PLAN, throttle={"rateLimit": 10, "burstLimit": 20},
                                           quota={"limit": 10000, "period": "DAY"})["id"]
            yield key, apigw, plan
    finally:
        aws.reset()
        jwks.server.shutdown()


def _event(token: str | None) -> dict:
    headers = {"Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"}
    if token is not None:
        headers["Authorization"] = token
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers, "httpMethod": "GET",
            "stageVariables": {"cognitoUserPoolId": POOL, "cognitoClientId": CLIENT},
            "requestContext": {"identity": {"sourceIp": "203.0.113.7"}, "stage": "prod"}}


def test_each_user_gets_a_key_of_their_own_in_the_per_user_plan(world):
    key, apigw, plan = world
    alice = api_authorizer.handler(_event(_token(key, _claims(sub="alice-sub", **{"cognito:groups": ["compliance"]}))))
    again = api_authorizer.handler(_event(_token(key, _claims(sub="alice-sub"))))
    bob = api_authorizer.handler(_event(_token(key, _claims(sub="bob-sub"))))
    assert alice["usageIdentifierKey"] == again["usageIdentifierKey"] != bob["usageIdentifierKey"]
    assert alice["principalId"] == "alice-sub" and alice["context"]["groups"] == "compliance"
    # one statement for the whole stage: a cached answer serves every method of it
    stmt = alice["policyDocument"]["Statement"][0]
    assert stmt["Effect"] == "Allow"
    assert stmt["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/*"
    keys = {k["id"]: k for k in apigw.get_api_keys(includeValues=True)["items"]}
    in_plan = {k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan)["items"]}
    assert set(keys) == in_plan and len(keys) == 2
    assert {keys[k]["value"] for k in keys} == {alice["usageIdentifierKey"], bob["usageIdentifierKey"]}
    assert {keys[k]["customerId"] for k in keys} == {"alice-sub", "bob-sub"}


def test_a_racing_first_request_keeps_one_key(world, monkeypatch):
    """Two first requests of one user: the second to store loses the condition, deletes its own
    key and answers with the stored one."""
    key, apigw, plan = world
    stored = api_authorizer._stored
    calls = {"n": 0}

    def first_read_misses(table, user):
        calls["n"] += 1
        return None if calls["n"] == 2 else stored(table, user)  # the second request read before the first stored

    api_authorizer.handler(_event(_token(key, _claims(sub="carol"))))
    monkeypatch.setattr(api_authorizer, "_stored", first_read_misses)
    calls["n"] = 1
    answer = api_authorizer.handler(_event(_token(key, _claims(sub="carol"))))
    keys = apigw.get_api_keys(includeValues=True)["items"]
    assert len(keys) == 1 and answer["usageIdentifierKey"] == keys[0]["value"]
    assert len(apigw.get_usage_plan_keys(usagePlanId=plan)["items"]) == 1


@pytest.mark.parametrize("token", [None, "not-a-jwt"])
def test_no_or_bad_token_is_refused_before_any_key_is_made(world, token):
    _, apigw, _ = world
    with pytest.raises(ws_authorizer.Unauthorized) as info:
        api_authorizer.handler(_event(token))
    assert str(info.value) == "Unauthorized"
    assert apigw.get_api_keys()["items"] == []
