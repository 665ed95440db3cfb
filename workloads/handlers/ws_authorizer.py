"""WebSocket `$connect` authorizer: the caller's Cognito JWT (query string) -> an IAM policy.

A browser cannot set headers on a WebSocket handshake, so the client opens
`wss://.../{stage}?token=<JWT>`; the API stack makes `route.request.querystring.token`
the identity source of this Lambda REQUEST authorizer. It verifies the token and answers
with `principalId` = the token's `sub`, the user id every REST handler uses (the Cognito
user-pool authorizer's `claims.sub`), so `$connect` stores the connection under the same
user whose jobs it may follow (`websocket.connect` reads `requestContext.authorizer.principalId`).

What is checked (PyJWT with `cryptography`):
- the signature, RS256 only, with the key of the header's `kid` from the user pool's
  JWKS (fetched once per container; fetched again for an unknown `kid`, at most every
  `JWKS_REFRESH_SECONDS`, so made-up key ids cannot make us hammer Cognito);
- `iss` = the user pool; `exp` and `iat` (not in the future; `nbf` too when present), with
  `LEEWAY_SECONDS` of clock skew;
- `token_use`: an ID token must name the app client in `aud`, an access token in
  `client_id`; anything else is refused.

Any failure raises `Unauthorized` ("Unauthorized": API Gateway's cue to answer 401 without
calling `$connect`); the reason is logged, never the token.

Which pool and client: `COGNITO_USER_POOL_ID` / `COGNITO_CLIENT_ID` from the environment,
else the WebSocket stage's variables `cognitoUserPoolId` / `cognitoClientId` (the API
stack creates the user pool after the functions, so it hands the ids over as stage
variables, which only the API's owner can set). `COGNITO_JWKS_URL` overrides where the
keys come from (a local Cognito such as the embedded AWS); by default it is the pool's
`{issuer}/.well-known/jwks.json`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.request
from typing import Any

import jwt
from jwt import PyJWKSet

log = logging.getLogger("charter.workloads.ws_authorizer")

LEEWAY_SECONDS = 30
JWKS_REFRESH_SECONDS = 60
JWKS_TIMEOUT_SECONDS = 3
MAX_TOKEN_BYTES = 8192
ALGORITHMS = ["RS256"]  # what Cognito signs with; never the algorithm a token claims
POOL_ID = re.compile(r"^(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)_[0-9A-Za-z]+$")


class Unauthorized(Exception):  # noqa: N818 - the message, not the name, is API Gateway's contract
    """Refused: API Gateway answers 401 when an authorizer raises exactly "Unauthorized"."""

    def __init__(self, reason: str) -> None:
        super().__init__("Unauthorized")
        self.reason = reason


class _Jwks:
    """The signing keys of one JWKS URL, cached; refetched for an unknown kid (rate-limited)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.keys: dict[str, Any] = {}
        self.fetched_at = float("-inf")
        self.lock = threading.Lock()

    def key(self, kid: str) -> Any:
        with self.lock:
            if kid not in self.keys and time.monotonic() - self.fetched_at >= JWKS_REFRESH_SECONDS:
                self._fetch()
            found = self.keys.get(kid)
        if found is None:
            raise Unauthorized(f"unknown signing key {kid[:64]!r}")
        return found

    def _fetch(self) -> None:
        self.fetched_at = time.monotonic()  # also on failure: a Cognito outage is not retried per request
        try:
            with urllib.request.urlopen(self.url, timeout=JWKS_TIMEOUT_SECONDS) as resp:
                data = json.loads(resp.read(1_000_000))
            keyset = PyJWKSet.from_dict(data)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            log.error("cannot read the JWKS at %s: %s", self.url, exc)
            return
        self.keys = {k.key_id: k for k in keyset.keys if k.key_id and k.public_key_use in (None, "sig")}


_jwks: dict[str, _Jwks] = {}
_jwks_lock = threading.Lock()


def _jwks_for(url: str) -> _Jwks:
    with _jwks_lock:
        return _jwks.setdefault(url, _Jwks(url))


def config(event: dict[str, Any]) -> tuple[str, str, str]:
    """(issuer, app client id, JWKS URL) this authorizer accepts tokens for."""
    stage = event.get("stageVariables") or {}
    pool = os.environ.get("COGNITO_USER_POOL_ID") or stage.get("cognitoUserPoolId") or ""
    client = os.environ.get("COGNITO_CLIENT_ID") or stage.get("cognitoClientId") or ""
    match = POOL_ID.match(pool)
    if not match or not client:
        # The deployment is wrong, not the caller: a 500, and an error in the log to alarm on.
        raise RuntimeError("the authorizer has no user pool / app client: set COGNITO_USER_POOL_ID and "
                           "COGNITO_CLIENT_ID or the stage variables cognitoUserPoolId and cognitoClientId")
    issuer = f"https://cognito-idp.{match['region']}.amazonaws.com/{pool}"
    return issuer, client, os.environ.get("COGNITO_JWKS_URL") or f"{issuer}/.well-known/jwks.json"


def _token(event: dict[str, Any]) -> str:
    query = event.get("queryStringParameters") or {}
    token = query.get("token") or ""
    if not token:
        raise Unauthorized("no token in the query string")
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthorized("token too long")
    return token


def verify(token: str, issuer: str, client_id: str, jwks_url: str) -> dict[str, Any]:
    """The claims of a valid token; `Unauthorized` otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"not a JWT: {exc}") from None
    if header.get("alg") not in ALGORITHMS:
        raise Unauthorized(f"algorithm {str(header.get('alg'))[:16]!r} is not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("token names no signing key")
    key = _jwks_for(jwks_url).key(kid)
    try:
        claims = jwt.decode(token, key=key.key, algorithms=ALGORITHMS, issuer=issuer, leeway=LEEWAY_SECONDS,
                            options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False})
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    use = claims.get("token_use")
    if use == "id":
        audience = claims.get("aud")
        if audience != client_id and not (isinstance(audience, list) and client_id in audience):
            raise Unauthorized("ID token of another app client")
    elif use == "access":
        if claims.get("client_id") != client_id:
            raise Unauthorized("access token of another app client")
    else:
        raise Unauthorized(f"token_use {str(use)[:16]!r} is neither id nor access")
    return claims


def policy(principal: str, effect: str, resource: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"principalId": principal, "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}}
    if context:
        out["context"] = context
    return out


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The REQUEST authorizer of `$connect`."""
    event = event or {}
    issuer, client_id, jwks_url = config(event)
    ctx = event.get("requestContext") or {}
    try:
        method_arn = event.get("methodArn")
        if not isinstance(method_arn, str) or not method_arn.startswith("arn:"):
            raise Unauthorized("no methodArn: not an API Gateway authorizer request")
        claims = verify(_token(event), issuer, client_id, jwks_url)
    except Unauthorized as exc:
        log.info("refused %s from %s: %s", ctx.get("connectionId", "?"),
                 (ctx.get("identity") or {}).get("sourceIp", "?"), exc.reason)
        raise
    sub = str(claims["sub"])
    username = claims.get("cognito:username") or claims.get("username") or sub
    # Values of `context` must be strings, numbers or booleans; $connect sees them under requestContext.authorizer.
    return policy(sub, "Allow", method_arn,
                  {"sub": sub, "username": str(username), "token_use": str(claims["token_use"])})
