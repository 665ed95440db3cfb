"""API Gateway REST proxy plumbing: read an event, build a response, turn errors into 4xx.

Lambda proxy integration hands the handler the whole request (`body` a string, maybe
base64) and expects `{statusCode, headers, body}` back; any exception would become a
502 from API Gateway, so user errors are answered here as 400/404/409 with a JSON body
that names the field at fault.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

log = logging.getLogger("charter.workloads")

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff"}


class HttpError(Exception):
    """An answer other than 2xx that the caller caused (or may retry)."""

    def __init__(self, status: int, error: str, message: str, fields: list[dict[str, str]] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.fields, self.extra = status, error, message, fields, extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.fields is not None:
            out["fields"] = self.fields
        out.update(self.extra)
        return out


def field_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, str]]:
    """pydantic errors as `[{"field": "constraints.max_weight", "message": ...}]`."""
    out = []
    for err in exc.errors(include_url=False):
        loc = [*prefix, *err.get("loc", ())]
        out.append({"field": ".".join(str(p) for p in loc) or "body", "message": err.get("msg", "invalid")})
    return out


def validation_error(fields: list[dict[str, str]]) -> HttpError:
    names = ", ".join(f["field"] for f in fields[:5])
    return HttpError(400, "validation", f"invalid request: {names}", fields=fields)


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "headers": {**JSON_HEADERS, **(headers or {})},
            "body": json.dumps(body, separators=(",", ":"), default=str), "isBase64Encoded": False}


def json_body(event: dict[str, Any]) -> Any:
    raw = event.get("body")
    if raw is None or raw == "":
        raise validation_error([{"field": "body", "message": "a JSON object body is required"}])
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise validation_error([{"field": "body", "message": "body is not valid base64-encoded UTF-8"}]) from None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise validation_error([{"field": "body", "message": f"body is not valid JSON: {exc}"}]) from None


def user_id(event: dict[str, Any]) -> str:
    """The caller: the Cognito `sub` claim the user-pool authorizer put in the request context."""
    ctx = event.get("requestContext") or {}
    auth = ctx.get("authorizer") or {}
    claims = auth.get("claims") or {}
    sub = claims.get("sub") or auth.get("principalId")
    if not sub:
        raise HttpError(401, "unauthorized", "no authenticated user in the request")
    return str(sub)


def query(event: dict[str, Any]) -> dict[str, str]:
    return dict(event.get("queryStringParameters") or {})


def path_param(event: dict[str, Any], name: str) -> str:
    value = (event.get("pathParameters") or {}).get(name)
    if not value:
        raise validation_error([{"field": name, "message": f"path parameter '{name}' is required"}])
    return str(value)


def int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise validation_error([{"field": name, "message": f"'{raw[:40]}' is not an integer"}]) from None
    if not low <= value <= high:
        raise validation_error([{"field": name, "message": f"must be between {low} and {high}"}])
    return value


def endpoint(fn: Callable[[dict[str, Any], Any], dict[str, Any]]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Wrap a proxy handler: HttpError -> its status; anything else -> a logged 500 without internals."""

    def wrapper(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        try:
            return fn(event or {}, context)
        except HttpError as exc:
            return response(exc.status, exc.body())
        except Exception:  # a bug or an AWS outage: log it, never leak it
            request_id = ((event or {}).get("requestContext") or {}).get("requestId", "")
            log.exception("unhandled error in %s (request %s)", fn.__name__, request_id)
            return response(500, {"error": "internal", "message": "internal error", "request_id": request_id})

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper
