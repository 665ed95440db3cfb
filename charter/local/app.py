"""moto's WSGI app, guarded: a service or operation moto does not implement is answered
with a fast HTTP 400 `UnsupportedOperation` in the caller's protocol, not an HTTP 500
that every SDK retries."""

from __future__ import annotations

import json

from charter.local import enforcement


def _guarded_app():
    """moto's WSGI app, answering services moto does not implement with a 4xx AWS error.

    Left alone, moto answers them with HTTP 500, which every AWS SDK retries with backoff
    (ten attempts in Charter's adaptive mode): a call to Access Analyzer would hang for
    minutes before failing. A real AWS account has every service, so the honest answer of
    the embedded AWS is a fast, non-retryable "not implemented here".
    """
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    # moto's own dispatcher lists its package folder on every request (a listdir and ~150
    # stats: 15% of the CPU of a local API request, measured with cProfile); the folder
    # does not change while the server runs.
    modules = frozenset(backends.list_of_moto_modules())

    class Dispatcher(DomainDispatcherApplication):
        # moto matches a host against each of its services' URL patterns (178) in turn, on every
        # request (its host, dynamodb.us-east-1.amazonaws.com, is not a bare service name): up
        # to 0.5 ms a request, measured with cProfile under the local API. The
        # patterns are fixed when the server starts, so each host's backend is remembered
        # (hosts are services' and buckets' names: a few, bounded below all the same). moto
        # calls this under its dispatcher's lock.
        def __init__(self, create_app) -> None:
            super().__init__(create_app)
            self.hosts: dict[str, object] = {}

        def get_backend_for_host(self, host):  # moto's, minus a print() meant for moto's developers
            if host is None or host == "moto_api" or host in modules:
                return host
            try:
                return self.hosts[host]
            except KeyError:
                pass
            found = next((b for b, pattern in self.backend_url_patterns if pattern.match(f"http://{host}")), None)
            if len(self.hosts) >= 4096:
                self.hosts.clear()
            self.hosts[host] = found
            return found

    inner = Dispatcher(create_backend_app)

    def app(environ, start_response):
        refused = enforcement.check_request(environ)
        if refused is not None:  # AWS would refuse it: its SCPs, policies or a trust policy say so
            return _aws_error(start_response, "403 Forbidden", "AccessDenied", refused.message, environ)
        from charter.local.routes import answer

        own = answer(environ, start_response)
        if own is not None:
            return own
        try:
            backend = inner.get_application(environ)
        except Exception:  # moto raises several types when no backend matches the host
            target = environ.get("HTTP_X_AMZ_TARGET", "") or environ.get("HTTP_HOST", "")
            return _unsupported(start_response, f"this service ({target})", environ)
        return _answer(backend, environ, start_response)

    app.dispatcher = inner  # type: ignore[attr-defined]  # (tests count its pattern matches)
    return app


_REST_XML = ("s3", "route53", "cloudfront")  # services whose errors are <Error> XML (s3control signs as s3)


def _unsupported(start_response, what: str, environ: dict | None = None) -> list[bytes]:
    """HTTP 400 `UnsupportedOperation`, in the error shape of the caller's protocol (JSON,
    query XML, EC2 XML or REST XML), so every SDK parses it as an ordinary client error."""
    return _aws_error(start_response, "400 Bad Request", "UnsupportedOperation",
                      f"the embedded AWS (moto) does not implement {what}", environ)


def _aws_error(start_response, status: str, error_code: str, message: str, environ: dict | None = None) -> list[bytes]:
    """An AWS error in the caller's protocol's shape (JSON services name AccessDenied
    `AccessDeniedException`, as AWS's JSON APIs do)."""
    from xml.sax.saxutils import escape

    environ = environ or {}
    scope = environ.get("HTTP_AUTHORIZATION", "").partition("Credential=")[2].split(",")[0].split("/")
    service = scope[3] if len(scope) > 3 else ""
    form = "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "")
    code, msg = f"<Code>{error_code}</Code>", f"<Message>{escape(message)}</Message>"
    if environ.get("HTTP_X_AMZ_TARGET") or not (form or service in _REST_XML or service == "ec2"):
        json_code = "AccessDeniedException" if error_code == "AccessDenied" else error_code
        body, ctype = json.dumps({"__type": json_code, "message": message, "Message": message}).encode(), \
            "application/x-amz-json-1.1"
    elif service == "ec2":
        body, ctype = f"<Response><Errors><Error>{code}{msg}</Error></Errors><RequestID>0</RequestID></Response>".encode(), \
            "text/xml"
    elif service in _REST_XML:
        body, ctype = f"<Error>{code}{msg}</Error>".encode(), "application/xml"
    else:
        body, ctype = (f"<ErrorResponse><Error><Type>Sender</Type>{code}{msg}</Error>"
                       f"<RequestId>0</RequestId></ErrorResponse>").encode(), "text/xml"
    error_type = "AccessDeniedException" if error_code == "AccessDenied" and service not in _REST_XML else error_code
    start_response(status, [("Content-Type", ctype), ("x-amzn-ErrorType", error_type),
                            ("Content-Length", str(len(body)))])
    return [body]


def _answer(backend, environ, start_response) -> list[bytes]:
    """A known service's answer, except where moto lacks the operation: moto raises
    NotImplementedError (-> HTTP 500, retried by every SDK) or, for REST APIs, its router
    answers an HTML 404. Both become the same fast 400 `UnsupportedOperation`."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    what = f"this operation ({target or environ.get('REQUEST_METHOD', '') + ' ' + environ.get('PATH_INFO', '')})"
    seen: dict[str, object] = {}

    def capture(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, headers
        return lambda data: None

    try:
        chunks = _moto_view(backend, environ, capture)
        if chunks is None:
            chunks = list(backend(environ, capture))
    except NotImplementedError as exc:
        return _unsupported(start_response, f"{what}: {exc}", environ)
    status = str(seen.get("status", "500"))
    headers = list(seen.get("headers", []))  # type: ignore[call-overload]
    html = any(k.lower() == "content-type" and "text/html" in v for k, v in headers)
    # the router's own page (no route for the path); S3's HEAD of a missing key is an empty 404
    if status.startswith("404") and html and b"404 Not Found" in b"".join(chunks):
        return _unsupported(start_response, what, environ)
    start_response(status, headers)
    return chunks


def _moto_view(backend, environ, start_response) -> list[bytes] | None:
    """moto's view for the request, called as moto's Flask app calls it, without Flask
    around it; None where Flask has work to do (hand the request to the app).

    Flask's part of a moto answer is routing, a request context with its hooks, and the
    response: a third of the embedded AWS's CPU per call (1.30 -> 0.90 ms for the local
    API's calls, measured in one process). Here the same route is matched in the same URL
    map, moto's callback gets a werkzeug `Request` (the base of Flask's) with the app's size
    limits, named as Flask's proxy is named (moto looks), the answer is built by the same
    `flask.Response` call as moto's `convert_to_flask_response` (whose ten lines this
    repeats: it reads the request from Flask's context), and moto's CORS hook's headers
    are added from its own rules. Flask still answers what its other hooks would change:
    a gzip body (moto's hook unpacks it), a browser's CORS request (an Origin header, or
    a preflight), and an unrouted or redirected path.
    tests/local/test_moto_view_without_flask.py compares both ways' answers byte for byte."""
    from urllib.parse import unquote

    from botocore.exceptions import ClientError
    from flask import Response
    from flask_cors.core import ACL_ORIGIN, get_cors_headers, try_match_pattern
    from moto.core.utils import convert_to_flask_response
    from werkzeug.exceptions import HTTPException
    from werkzeug.wrappers import Request

    if environ.get("HTTP_ORIGIN") or environ.get("REQUEST_METHOD") == "OPTIONS" \
            or environ.get("HTTP_CONTENT_ENCODING") or getattr(backend, "service", None) == "moto_api":
        return None  # (moto's own API renders Flask templates: it needs Flask's app context)
    try:
        endpoint, _ = backend.url_map.bind_to_environ(environ, subdomain=backend.url_map.default_subdomain or "").match()
    except HTTPException:  # no such route, a method it lacks, a trailing-slash redirect: Flask's answers
        return None
    view = backend.view_functions.get(endpoint)
    cors = _cors_resources(backend)
    if not isinstance(view, convert_to_flask_response) or cors is None:
        return None
    request = Request(environ)
    config = backend.config
    request.max_content_length = config["MAX_CONTENT_LENGTH"]
    request.max_form_memory_size = config["MAX_FORM_MEMORY_SIZE"]
    request.max_form_parts = config["MAX_FORM_PARTS"]
    try:
        try:
            # moto tells a server's request from its in-process mock's by "werkzeug" in the
            # request's type name (Flask hands it werkzeug's proxy): it then routes S3 keys
            # by the raw path (a key with %2F) and leaves the Date header to the server.
            # werkzeug's own Request class carries that name without a proxy's lookup on
            # each of moto's thirty-odd reads of the request.
            result = view.callback(request, request.url, dict(request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
    except HTTPException as exc:  # moto's errors are werkzeug's HTTP exceptions: Flask answers with their response
        return list(exc.get_response(environ)(environ, start_response))
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    response = Response(response=content, status=status, headers=headers)
    if request.method == "HEAD" and "content-length" in headers:
        response.headers["Content-Length"] = headers["content-length"]
    if not response.headers.get(ACL_ORIGIN):  # what moto's CORS hook adds (flask_cors's after_request)
        path = unquote(request.path)
        for pattern, options in cors:
            if try_match_pattern(path, pattern, caseSensitive=True):
                for name, value in get_cors_headers(options, request.headers, request.method).items():
                    response.headers.add(name, value)
                break
    return list(response(environ, start_response))


def _cors_resources(backend) -> list | None:
    """The CORS rules of moto's app, when its hooks are exactly moto's own (gzip before,
    flask_cors after, nothing else); None for any other app, which Flask answers."""
    try:
        return _HOOKS[backend]
    except KeyError:
        pass
    import inspect

    from moto.moto_server.utilities import decompress_request_body

    before, after = dict(backend.before_request_funcs), dict(backend.after_request_funcs)
    rules = None
    if before == {None: [decompress_request_body]} and len(after.get(None, ())) == 1 and len(after) == 1 \
            and not any(backend.teardown_request_funcs.values()) and not any(backend.url_value_preprocessors.values()):
        hook = after[None][0]
        if hook.__module__ == "flask_cors.extension":
            rules = inspect.getclosurevars(hook).nonlocals.get("resources")
    _HOOKS[backend] = rules
    return rules


#: moto's app for a service -> its CORS rules, or None (Flask answers): apps live as long as the server
_HOOKS: dict[object, list | None] = {}
