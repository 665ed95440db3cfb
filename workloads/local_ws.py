"""API Gateway's WebSocket API on a laptop, in front of the same Lambda handlers.

On AWS a browser connects to `wss://{api}.execute-api.{region}.amazonaws.com/{stage}`;
API Gateway calls `websocket.connect` / `default` / `disconnect` with WebSocket proxy
events, and the handlers answer through the connection management API
(`POST {endpoint}/@connections/{id}`), which `websocket.notify` also uses when a job
changes. The local server does the same over HTTP on its own port:

- `GET /ws?user=NAME` upgrades to a WebSocket; each frame is a `$default` event, the
  handshake `$connect` (the user is the local identity, as `X-Charter-User` is for the
  REST routes: there is no Cognito locally) and the close `$disconnect`;
- `POST|GET|DELETE /local/@connections/{id}` is the management API. The server names
  itself in the handlers' `WEBSOCKET_ENDPOINT` setting (what a deployment sets when its
  management API is not at the URL the events carry), so the handlers in this process and
  the local job workers (child processes that inherit the environment) post to it as they
  would post to AWS; the SDK's endpoint variables stay for the AWS services. A connection that
  is gone answers 410 `GoneException`, as AWS does, and the handlers drop it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger("charter.workloads.local_ws")
WS_PATH = "/ws"
MANAGEMENT_PREFIX = "/local/@connections/"
#: the handlers' setting (`Settings.websocket_endpoint`) naming where the management API is
MANAGEMENT_ENV = "WEBSOCKET_ENDPOINT"
#: API Gateway's frame limit (128 KB messages, 32 KB frames): larger messages are refused there too.
MAX_MESSAGE_BYTES = 128 * 1024

Invoke = Callable[[str, dict[str, Any]], "asyncio.Future[dict[str, Any]]"]


def ws_event(route: str, connection_id: str, user: str, host: str, stage: str, body: str | None = None,
             query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
             source_ip: str = "127.0.0.1") -> dict[str, Any]:
    """A WebSocket Lambda proxy event (`$connect`, `$default`, `$disconnect`)."""
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    now = time.time()
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": route, "eventType": event_type, "connectionId": connection_id, "stage": stage,
            "domainName": host, "apiId": "local", "requestId": str(uuid.uuid4()), "connectedAt": int(now * 1000),
            "requestTimeEpoch": int(now * 1000), "messageDirection": "IN", "extendedRequestId": str(uuid.uuid4()),
            "identity": {"sourceIp": source_ip, "userAgent": (headers or {}).get("User-Agent", "")},
            # what the $connect authorizer's answer becomes (ws_authorizer.handler: principalId = the user)
            "authorizer": {"principalId": user, "sub": user, "username": user, "token_use": "id"},
        },
        "isBase64Encoded": False,
    }
    if route == "$connect":
        event["headers"] = headers or {}
        event["queryStringParameters"] = query or None
    if body is not None:
        event["body"] = body
    return event


class LocalWebSocketGateway:
    """The WebSocket routes and the management API of the local server."""

    def __init__(self, invoke: Invoke, stage: str, default_user: str) -> None:
        #: invoke(handler name on `websocket`, event) -> the handler's answer, run off the loop
        self.invoke, self.stage, self.default_user = invoke, stage, default_user
        self.connections: dict[str, web.WebSocketResponse] = {}

    def management_endpoint(self, base_url: str) -> str:
        return base_url.rstrip("/") + MANAGEMENT_PREFIX.removesuffix("/@connections/")

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse | None:
        path = request.rel_url.path
        if path == WS_PATH:
            return await self._connect(request)
        if path.startswith(MANAGEMENT_PREFIX):
            return await self._manage(request, path[len(MANAGEMENT_PREFIX):])
        return None

    async def _connect(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"error": "upgrade_required", "message": "connect with a WebSocket client"},
                                     status=426)
        user = request.rel_url.query.get("user") or self.default_user
        host = request.headers.get("Host", "127.0.0.1")
        connection_id = uuid.uuid4().hex[:16] + "="  # API Gateway's ids are short base64 strings
        answer = await self.invoke("connect", ws_event(
            "$connect", connection_id, user, host, self.stage, query=dict(request.rel_url.query),
            headers=dict(request.headers), source_ip=request.remote or "127.0.0.1"))
        if int(answer.get("statusCode", 500)) >= 300:  # refused, as API Gateway refuses the handshake
            return web.json_response({"error": "refused", "message": answer.get("body", "")},
                                     status=int(answer.get("statusCode", 500)))
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_MESSAGE_BYTES)
        await ws.prepare(request)  # type: ignore[arg-type]
        self.connections[connection_id] = ws
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self.invoke("default", ws_event("$default", connection_id, user, host, self.stage,
                                                          body=msg.data))
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.connections.pop(connection_id, None)
            try:
                await self.invoke("disconnect", ws_event("$disconnect", connection_id, user, host, self.stage))
            except Exception:  # noqa: BLE001 - the server may be stopping
                log.debug("disconnect of %s not recorded", connection_id, exc_info=True)
        return ws

    async def _manage(self, request: web.BaseRequest, connection_id: str) -> web.StreamResponse:
        ws = self.connections.get(connection_id)
        if ws is None or ws.closed:
            # botocore reads the error code from this header (rest-json): GoneException
            return web.json_response({"message": "Gone"}, status=410, headers={"x-amzn-ErrorType": "GoneException"})
        if request.method == "POST":
            data = await request.read()
            if len(data) > MAX_MESSAGE_BYTES:
                return web.json_response({"message": "Message too long"}, status=413,
                                         headers={"x-amzn-ErrorType": "PayloadTooLargeException"})
            try:
                await ws.send_str(data.decode("utf-8"))
            except (ConnectionError, RuntimeError):
                return web.json_response({"message": "Gone"}, status=410, headers={"x-amzn-ErrorType": "GoneException"})
            return web.Response(status=200)
        if request.method == "DELETE":
            await ws.close()
            return web.Response(status=204)
        if request.method == "GET":
            return web.json_response({"connectedAt": None, "identity": {"sourceIp": "127.0.0.1"}})
        return web.json_response({"message": "method not allowed"}, status=405)

    async def close_all(self) -> None:
        for ws in list(self.connections.values()):
            await ws.close()


def message(data: str) -> dict[str, Any]:
    """A pushed message as the browser receives it (tests)."""
    return json.loads(data)
