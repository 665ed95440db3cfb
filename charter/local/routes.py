"""Requests the embedded AWS answers itself, before moto sees them: its own paths under
`/_charter/` (its capabilities; the response URL of custom resources), and the operations
moto lacks that Charter reads (`charter.local.answers`), answered from the state moto holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WsgiResult = Iterable[bytes]
Route = Callable[[dict[str, Any], Callable[..., Any]], WsgiResult]

#: path prefix -> WSGI handler, for the embedded AWS's own paths
_OWN: dict[str, Route] = {}
PREFIX = "/_charter/"


def own(path: str) -> Callable[[Route], Route]:
    """Register a handler for `/_charter/<path>...`."""
    def register(fn: Route) -> Route:
        _OWN[PREFIX + path] = fn
        return fn
    return register


def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> WsgiResult | None:
    """The embedded AWS's own answer to this request, or None to let moto answer."""
    path = environ.get("PATH_INFO", "")
    if path.startswith(PREFIX):
        for prefix, fn in _OWN.items():
            if path == prefix or path.startswith(prefix + "/"):
                return fn(environ, start_response)
        return respond(start_response, "404 Not Found", b'{"message": "no such path"}')
    from charter.local.answers import answer as answer_missing

    return answer_missing(environ, start_response)


def respond(start_response: Callable[..., Any], status: str, body: bytes,
            content_type: str = "application/json", headers: list[tuple[str, str]] | None = None) -> WsgiResult:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *(headers or [])])
    return [body]


@own("capabilities")
def _capabilities(environ: dict[str, Any], start_response: Callable[..., Any]) -> WsgiResult:
    from charter.local.capabilities import as_json

    return respond(start_response, "200 OK", as_json())


@own("cfn-response")
def _cfn_response(environ: dict[str, Any], start_response: Callable[..., Any]) -> WsgiResult:
    """A custom resource's answer, PUT by its function to the ResponseURL of the event (on AWS
    a pre-signed S3 URL; here the embedded AWS itself)."""
    from charter.local.patches.custom_resources import receive

    request_id = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    if environ.get("REQUEST_METHOD") != "PUT" or not receive(request_id, body):
        return respond(start_response, "403 Forbidden", b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
    return respond(start_response, "200 OK", b"", "text/plain")
