"""WebSocket API: $connect / $disconnect / $default, and status pushes to subscribers.

A connection item (`connection_id`, `user_id`, `endpoint`, `subscriptions`, `expires_at`)
is written on $connect. Messages on $default are JSON with an `action`:

  {"action": "subscribe",   "job_id": "..."}  -> pushes the current status, then every change
  {"action": "unsubscribe", "job_id": "..."}
  {"action": "status",      "job_id": "..."}  -> pushes the current status once
  {"action": "ping"}                          -> {"type": "pong"}

`notify(job)` (called by the worker on every status change) finds the job owner's
connections through the `user_id-index`, keeps those subscribed to the job and posts
the status with `apigatewaymanagementapi.post_to_connection`; a gone connection is
deleted. A user can only subscribe to their own jobs.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any

import boto3

from . import aws
from .jobs import Job, JobStore
from .models import JOB_ID_PATTERN
from .settings import Settings

log = logging.getLogger("charter.workloads.websocket")
#: API Gateway closes WebSocket connections after 2 hours; the item outlives that a little.
CONNECTION_TTL_SECONDS = 3 * 3600
MAX_SUBSCRIPTIONS = 50


def _ok(status: int = 200, body: str = "") -> dict[str, Any]:
    return {"statusCode": status, "body": body}


def _user(ctx: dict[str, Any]) -> str:
    """Who connected: a Lambda authorizer's principal / Cognito claims, else the IAM identity."""
    auth = ctx.get("authorizer") or {}
    ident = ctx.get("identity") or {}
    return str(auth.get("principalId") or (auth.get("claims") or {}).get("sub")
               or ident.get("cognitoIdentityId") or ident.get("userArn") or "anonymous")


def _endpoint(ctx: dict[str, Any], settings: Settings) -> str:
    """Where the connection's management API is: the WEBSOCKET_ENDPOINT setting when the
    deployment names one, else the API's own URL from the event, as API Gateway sends it."""
    if settings.websocket_endpoint:
        return settings.websocket_endpoint
    return f"https://{ctx.get('domainName', '')}/{ctx.get('stage', '')}"


def _conn_table(settings: Settings) -> str:
    return settings.connections_table


def connect(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    settings = Settings.from_env()
    ctx = event.get("requestContext") or {}
    connection_id = ctx.get("connectionId")
    if not connection_id:
        return _ok(400, "missing connectionId")
    aws.client("dynamodb").put_item(TableName=_conn_table(settings), Item={
        "connection_id": {"S": connection_id}, "user_id": {"S": _user(ctx)},
        "endpoint": {"S": _endpoint(ctx, settings)},
        "connected_at": {"N": str(int(time.time()))},
        "expires_at": {"N": str(int(time.time()) + CONNECTION_TTL_SECONDS)},
    })
    return _ok()


def disconnect(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    settings = Settings.from_env()
    connection_id = (event.get("requestContext") or {}).get("connectionId")
    if connection_id:
        aws.client("dynamodb").delete_item(TableName=_conn_table(settings),
                                           Key={"connection_id": {"S": connection_id}})
    return _ok()


def post(endpoint: str, connection_id: str, message: dict[str, Any]) -> bool:
    """Send one message; False when the client is gone (410)."""
    api = _management(endpoint) if endpoint else aws.client("apigatewaymanagementapi")
    try:
        api.post_to_connection(ConnectionId=connection_id, Data=json.dumps(message, default=str).encode())
    except api.exceptions.GoneException:
        return False
    return True


def _management(endpoint: str) -> Any:
    """The connection management API at the WebSocket API's own URL, where API Gateway serves it.

    The URL is the connection's (`_endpoint`), never the SDK's configured endpoint: the
    AWS_ENDPOINT_URL a runtime sets for the handler's other clients names where those services
    answer, not where this API's connections live. A gateway other than API Gateway (the local
    server, `workloads.local_ws`) names its own URL through the WEBSOCKET_ENDPOINT setting."""
    cached = _mgmt.get(endpoint)
    if cached is None:
        with _mgmt_lock:
            cached = _mgmt.get(endpoint)
            if cached is None:
                # the API's region: the function runs beside it (Lambda sets AWS_REGION)
                region = boto3.session.Session().region_name or "us-east-1"
                # A session per client: boto3's default session is not thread-safe to create clients from.
                cached = boto3.session.Session().client("apigatewaymanagementapi", endpoint_url=endpoint,
                                                        region_name=region, config=aws.CONFIG)
                _mgmt[endpoint] = cached
    return cached


#: endpoint URL -> its management API client (one per API and stage, reused across invocations)
_mgmt: dict[str, Any] = {}
_mgmt_lock = threading.Lock()


def default(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    settings = Settings.from_env()
    ctx = event.get("requestContext") or {}
    connection_id = ctx.get("connectionId", "")
    endpoint = _endpoint(ctx, settings)
    ddb = aws.client("dynamodb")

    def reply(message: dict[str, Any], status: int = 200) -> dict[str, Any]:
        post(endpoint, connection_id, message)
        return _ok(status)

    try:
        msg = json.loads(event.get("body") or "")
    except json.JSONDecodeError:
        return reply({"type": "error", "error": "validation", "field": "body", "message": "body is not JSON"}, 400)
    if not isinstance(msg, dict):
        return reply({"type": "error", "error": "validation", "field": "body", "message": "send a JSON object"}, 400)
    action = msg.get("action")
    if action == "ping":
        return reply({"type": "pong"})
    if action not in ("subscribe", "unsubscribe", "status"):
        return reply({"type": "error", "error": "validation", "field": "action",
                      "message": "action must be subscribe, unsubscribe, status or ping"}, 400)
    job_id = msg.get("job_id")
    if not isinstance(job_id, str) or not re.fullmatch(JOB_ID_PATTERN, job_id):
        return reply({"type": "error", "error": "validation", "field": "job_id",
                      "message": "job_id must be the 32-character id POST /optimize returned"}, 400)
    conn = ddb.get_item(TableName=_conn_table(settings), Key={"connection_id": {"S": connection_id}}).get("Item")
    if conn is None:
        return reply({"type": "error", "error": "not_connected", "message": "connection unknown; reconnect"}, 410)
    job = JobStore(settings).get(job_id)
    if job is None or job.user_id != conn["user_id"]["S"]:
        return reply({"type": "error", "error": "not_found", "job_id": job_id, "message": "job not found"}, 404)
    key = {"connection_id": {"S": connection_id}}
    if action == "subscribe":
        if len(conn.get("subscriptions", {}).get("SS", [])) >= MAX_SUBSCRIPTIONS:
            return reply({"type": "error", "error": "limit", "message": f"at most {MAX_SUBSCRIPTIONS} subscriptions"},
                         429)
        ddb.update_item(TableName=_conn_table(settings), Key=key, UpdateExpression="ADD subscriptions :j",
                        ExpressionAttributeValues={":j": {"SS": [job_id]}})
    elif action == "unsubscribe":
        ddb.update_item(TableName=_conn_table(settings), Key=key, UpdateExpression="DELETE subscriptions :j",
                        ExpressionAttributeValues={":j": {"SS": [job_id]}})
        return reply({"type": "unsubscribed", "job_id": job_id})
    return reply({"type": "status", **job.public()})


def notify(job: Job, settings: Settings | None = None) -> int:
    """Push `job`'s status to every connection of its owner subscribed to it; returns how many got it."""
    settings = settings or Settings.from_env()
    ddb = aws.client("dynamodb")
    sent = 0
    try:
        pages = ddb.get_paginator("query").paginate(
            TableName=settings.connections_table, IndexName="user_id-index",
            KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": {"S": job.user_id}})
        for page in pages:
            for key in page.get("Items", []):
                cid = key["connection_id"]["S"]
                conn = ddb.get_item(TableName=settings.connections_table,
                                    Key={"connection_id": {"S": cid}}).get("Item")
                if not conn or job.job_id not in conn.get("subscriptions", {}).get("SS", []):
                    continue
                if post(conn.get("endpoint", {}).get("S", settings.websocket_endpoint), cid,
                        {"type": "status", **job.public()}):
                    sent += 1
                else:
                    ddb.delete_item(TableName=settings.connections_table, Key={"connection_id": {"S": cid}})
    except Exception:  # noqa: BLE001 - a push must never fail the job that triggered it
        log.warning("status push for job %s failed", job.job_id, exc_info=True)
    return sent
