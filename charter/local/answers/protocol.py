"""Which AWS operation a raw request is, and its answer in the service's JSON protocol.

The service comes from the request's SigV4 credential scope; the operation and its input
from botocore's own model of the service (the X-Amz-Target of the JSON protocol, or the
method and path template of REST-JSON), so the request is read as AWS would read it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote

#: SigV4 signing name -> botocore service name, for the services answered here.
SERVICES = {"config": "config", "securityhub": "securityhub", "guardduty": "guardduty",
            "access-analyzer": "accessanalyzer", "backup": "backup", "cloudtrail": "cloudtrail"}
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class Call:
    """One request: the operation, who asks (account, region) and its input."""

    service: str
    operation: str
    account: str
    region: str
    params: dict[str, Any] = field(default_factory=dict)
    protocol: str = "json"


def _scope(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (match.group(1), match.group(2), match.group(3)) if match else None


def signing_service(environ: dict[str, Any]) -> str | None:
    scope = _scope(environ)
    return scope[2] if scope else None


@lru_cache(maxsize=16)
def _model(service: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(SERVICES[service])


def _template(uri: str) -> re.Pattern[str]:
    path = uri.split("?", 1)[0]
    pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile(f"^{pattern}/?$")


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length:
        return {}
    stream = environ["wsgi.input"]
    raw = stream.read(length)
    import io

    environ["wsgi.input"] = io.BytesIO(raw)  # readable again by whoever answers if not us
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def identify(environ: dict[str, Any], service: str, operations: set[str]) -> Call | None:
    """The call, when the request is one of `operations` of `service`; else None."""
    scope = _scope(environ)
    if scope is None or service not in SERVICES:
        return None
    model = _model(service)
    protocol = model.metadata["protocol"]
    name = None
    params: dict[str, Any] = {}
    if protocol == "json":
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        name = target.rpartition(".")[2]
        if name not in operations:
            return None
        params = _body(environ)
    elif protocol == "rest-json":
        path = unquote(environ.get("PATH_INFO", ""))
        for candidate in sorted(operations):
            op = model.operation_model(candidate)
            if op.http["method"] != environ.get("REQUEST_METHOD"):
                continue
            match = _template(op.http["requestUri"]).match(path)
            if match is None:
                continue
            name = candidate
            params.update(_wire(op.input_shape, _body(environ), out=False) or {})
            members = op.input_shape.members if op.input_shape else {}
            query = parse_qs(environ.get("QUERY_STRING", ""))
            for member, shape in members.items():
                where, wire = shape.serialization.get("location"), shape.serialization.get("name", member)
                if where == "uri" and wire in match.groupdict():
                    params[member] = match.group(wire)
                elif where == "querystring" and wire in query:
                    params[member] = query[wire] if shape.type_name == "list" else query[wire][0]
            break
        if name is None:
            return None
    else:
        return None
    from moto.iam.models import get_account_id_from

    return Call(service=service, operation=name, account=get_account_id_from(scope[0]), region=scope[1],
                params=params, protocol=protocol)


def _wire(shape: Any, value: Any, out: bool) -> Any:
    """`value` between botocore's member names and the JSON on the wire (each member's
    `locationName`, e.g. GuardDuty's `findingIds` for `FindingIds`); `out`: to the wire."""
    if shape is None or value is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        converted = {}
        for member, member_shape in shape.members.items():
            wire = member_shape.serialization.get("name", member)
            if member_shape.serialization.get("location") in ("header", "uri", "querystring", "headers"):
                continue  # not in the body
            src, dst = (member, wire) if out else (wire, member)
            if src in value:
                converted[dst] = _wire(member_shape, value[src], out)
        return converted
    if shape.type_name == "list" and isinstance(value, list):
        return [_wire(shape.member, v, out) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _wire(shape.value, v, out) for k, v in value.items()}
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class AnswerError(Exception):
    """An AWS error answer (code, message, HTTP status)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _error(code: str, message: str, number: int) -> tuple[bytes, str, list[tuple[str, str]]]:
    body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
    return body, f"{number} Error", [("x-amzn-ErrorType", code)]


def respond(start_response: Callable[..., Any], call: Call, answer: Callable[[], dict[str, Any]]) -> Iterable[bytes]:
    """`answer()` (the operation's output shape) in the call's protocol, or its error (moto's
    own errors, raised by the backends it reads, keep their code and status)."""
    ctype = "application/x-amz-json-1.1" if call.protocol == "json" else "application/json"
    try:
        output = _model(call.service).operation_model(call.operation).output_shape
        body, status, extra = json.dumps(_jsonable(_wire(output, answer(), out=True))).encode(), "200 OK", []
    except AnswerError as exc:
        code, message, number = exc.code, exc.message, exc.status
        body, status, extra = _error(code, message, number)
    except Exception as exc:
        if hasattr(exc, "error_type"):  # moto's REST errors: the code is the HTTP status
            body, status, extra = _error(exc.error_type, exc.message, int(exc.code))
        elif isinstance(getattr(exc, "code", None), str):  # moto's service errors
            body, status, extra = _error(exc.code, getattr(exc, "message", str(exc)), 400)
        else:
            raise  # a bug of the embedded AWS: a 500, so that it is seen
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body))),
                            ("x-amzn-RequestId", "charter-embedded"), *extra])
    return [body]


def page(items: list[Any], params: dict[str, Any], key: str, token_key: str = "NextToken",
         size_key: str = "MaxResults", default: int = 100) -> dict[str, Any]:
    """One page of `items` as AWS pages them: up to MaxResults, and a token for the rest."""
    start = int(params.get(token_key) or 0)
    size = int(params.get(size_key) or default)
    out: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        out[token_key] = str(start + size)
    return out
