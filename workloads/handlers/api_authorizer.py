"""REST API authorizer: the caller's Cognito JWT -> an IAM policy and the caller's own API key.

API Gateway meters a usage plan (throttle and daily quota) per API key. One key shared by
the whole web frontend made the plan one global cap for every portfolio manager; here each
signed-in user gets a key of their own, so the plan's limits are per user:

- the REST API takes its API keys from this authorizer (`ApiKeySourceType: AUTHORIZER`):
  the answer's `usageIdentifierKey` is the caller's key, and the browser holds no key;
- the token is verified exactly as the WebSocket authorizer verifies it (signature against
  the user pool's JWKS, issuer, expiry, app client; `ws_authorizer.verify`);
- a user's key is made on their first request: `CreateApiKey` (value generated here,
  `customerId` = the user's `sub`), `CreateUsagePlanKey` into the per-user plan, and the
  pair stored in the `api-keys` table under a condition, so two first requests racing
  keep one key (the loser deletes its own). Later requests read the table; API Gateway
  caches this answer per token (`AuthorizerResultTtlInSeconds`), so most requests reach
  neither DynamoDB nor this function.

The policy allows every method of the stage (a cached answer serves them all), with
`principalId` = `sub` (what `http.user_id` reads) and the user's groups in the context
(`compliance.groups`).

Environment (set by the compute stack): `API_KEYS_TABLE`, `USAGE_PLAN_NAME`; the user pool
and app client come from the stage variables, as for the WebSocket authorizer.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from typing import Any

from botocore.exceptions import ClientError

from . import aws
from .ws_authorizer import Unauthorized, config, policy, verify

log = logging.getLogger("charter.workloads.api_authorizer")

MAX_TOKEN_BYTES = 8192
KEY_BYTES = 20  # 40 hex characters; API Gateway wants at least 20
_plan_ids: dict[str, str] = {}
_plan_lock = threading.Lock()


def _token(event: dict[str, Any]) -> str:
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    token = str(headers.get("authorization") or "")
    if token[:7].lower() == "bearer ":
        token = token[7:]
    if not token:
        raise Unauthorized("no Authorization header")
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthorized("token too long")
    return token


def usage_plan_id(name: str) -> str:
    """The per-user usage plan's id, by its (deterministic) name; looked up once per container."""
    with _plan_lock:
        found = _plan_ids.get(name)
        if found:
            return found
        for page in aws.client("apigateway").get_paginator("get_usage_plans").paginate():
            for plan in page.get("items", []):
                if plan.get("name") == name:
                    _plan_ids[name] = plan["id"]
                    return plan["id"]
    raise RuntimeError(f"usage plan {name} does not exist: deploy the api stack")


def _stored(table: str, user: str) -> str | None:
    item = aws.client("dynamodb").get_item(TableName=table, Key={"user_id": {"S": user}},
                                           ConsistentRead=True).get("Item")
    return item["key_value"]["S"] if item else None


def user_key(user: str, table: str, plan_name: str, prefix: str) -> str:
    """The value of `user`'s API key, made and added to the per-user plan on first use."""
    found = _stored(table, user)
    if found:
        return found
    apigw = aws.client("apigateway")
    value = secrets.token_hex(KEY_BYTES)
    key = apigw.create_api_key(name=f"{prefix}-user-{user}", value=value, enabled=True, customerId=user,
                               description="Per-user API key (made by the authorizer on first sign-in)")
    plan = usage_plan_id(plan_name)
    in_plan = False
    try:
        apigw.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
        in_plan = True
        aws.client("dynamodb").put_item(
            TableName=table, ConditionExpression="attribute_not_exists(user_id)",
            Item={"user_id": {"S": user}, "key_id": {"S": key["id"]}, "key_value": {"S": value}})
    except ClientError as exc:
        # a concurrent first request of this user stored its key first (or a call failed): drop ours
        if in_plan:
            apigw.delete_usage_plan_key(usagePlanId=plan, keyId=key["id"])
        apigw.delete_api_key(apiKey=key["id"])
        if aws.error_code(exc) != "ConditionalCheckFailedException":
            raise
        stored = _stored(table, user)
        if stored is None:
            raise
        return stored
    log.info("made the API key of user %s", user)
    return value


def _stage_arn(method_arn: str) -> str:
    """`arn:...:api/stage/VERB/path` -> `arn:...:api/stage/*` (every method of the stage)."""
    head, _, rest = method_arn.partition(":execute-api:")
    parts = rest.split("/")
    if not head or len(parts) < 2:
        raise Unauthorized("not an API Gateway method ARN")
    return f"{head}:execute-api:{parts[0]}/{parts[1]}/*"


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The REQUEST authorizer of the REST API's data methods."""
    event = event or {}
    issuer, client_id, jwks_url = config(event)
    method_arn = str(event.get("methodArn") or "")
    try:
        claims = verify(_token(event), issuer, client_id, jwks_url)
        resource = _stage_arn(method_arn)
    except Unauthorized as exc:
        log.info("refused %s: %s", ((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp", "?"),
                 exc.reason)
        raise
    sub = str(claims["sub"])
    groups = claims.get("cognito:groups") or []
    key = user_key(sub, os.environ["API_KEYS_TABLE"], os.environ["USAGE_PLAN_NAME"],
                   os.environ.get("POWERTOOLS_SERVICE_NAME", "optimizer"))
    answer = policy(sub, "Allow", resource, {
        "sub": sub, "username": str(claims.get("cognito:username") or claims.get("username") or sub),
        "groups": ",".join(str(g) for g in (groups if isinstance(groups, list) else [groups])),
        "token_use": str(claims["token_use"])})
    answer["usageIdentifierKey"] = key
    return answer
