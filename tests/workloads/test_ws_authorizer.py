"""The WebSocket `$connect` authorizer, called as Lambda calls it, with real Cognito-shaped tokens.

An RSA key pair and its JWKS are made here and the JWKS is served over real HTTP on
127.0.0.1 (`COGNITO_JWKS_URL`), so the authorizer fetches and caches keys exactly as it
does from Cognito. Tokens carry the claims Cognito puts in ID and access tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parent))
from handlers_testkit import SETTINGS, settings_env  # noqa: E402

from charter.workloads.handlers import aws, websocket, ws_authorizer  # noqa: E402
from charter.workloads.server import ensure_resources  # noqa: E402

POOL = "us-east-1_AbC123xyZ"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/$connect"
SUB = "a3f1c2d4-0b5e-4c6f-8a7b-9c0d1e2f3a4b"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256", "use": "sig"}


class _Jwks:
    """A JWKS endpoint on 127.0.0.1 that counts its fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                jwks.fetches += 1
                body = json.dumps({"keys": jwks.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{POOL}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[_Jwks, rsa.RSAPrivateKey]]:
    jwks = _Jwks()
    key = _key()
    jwks.keys.append(_jwk(key, "key-1"))
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL)
    monkeypatch.setenv("COGNITO_CLIENT_ID", CLIENT)
    monkeypatch.setenv("COGNITO_JWKS_URL", jwks.url)
    monkeypatch.setattr(ws_authorizer, "_jwks", {})  # no keys cached by another test
    yield jwks, key
    jwks.server.shutdown()
    jwks.server.server_close()


def _claims(use: str = "id", **over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": SUB, "iss": ISSUER, "token_use": use, "auth_time": now, "iat": now,
                            "exp": now + 3600, "jti": str(uuid.uuid4()), "origin_jti": str(uuid.uuid4()),
                            "event_id": str(uuid.uuid4())}
    if use == "id":
        base.update({"aud": CLIENT, "cognito:username": "alice", "email": "alice@acme-corp.example",
                     "email_verified": True})
    else:
        base.update({"client_id": CLIENT, "username": "alice", "scope": "aws.cognito.signin.user.admin"})
    return {**base, **over}


def _token(key: Any, claims: dict[str, Any], kid: str = "key-1", alg: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _event(token: str | None, stage_variables: dict[str, str] | None = None) -> dict[str, Any]:
    """A REQUEST authorizer event of a WebSocket `$connect`, as API Gateway sends it."""
    query = {"token": token} if token is not None else None
    headers = {"Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "X-Forwarded-For": "203.0.113.7",
               "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"}
    return {
        "type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query, "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()},
        "stageVariables": stage_variables,
        "requestContext": {
            "routeKey": "$connect", "eventType": "CONNECT", "extendedRequestId": "Xyz=", "messageDirection": "IN",
            "requestTime": "28/Nov/2026:10:00:00 +0000", "stage": "prod", "connectedAt": 1795860000000,
            "requestTimeEpoch": 1795860000000, "identity": {"userAgent": "Mozilla/5.0", "sourceIp": "203.0.113.7"},
            "requestId": "Xyz=", "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "connectionId": "AbCdEfGhIjKlMnO=", "apiId": "a1b2c3d4e5"},
    }


def _refused(event: dict[str, Any], why: str) -> None:
    with pytest.raises(ws_authorizer.Unauthorized) as info:
        ws_authorizer.handler(event)
    assert str(info.value) == "Unauthorized"  # the exact message API Gateway turns into 401
    assert why in info.value.reason


def test_id_token_allows_connect_as_its_sub(keys) -> None:
    _, key = keys
    out = ws_authorizer.handler(_event(_token(key, _claims("id"))))
    assert out["principalId"] == SUB
    assert out["policyDocument"] == {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}]}
    assert out["context"] == {"sub": SUB, "username": "alice", "token_use": "id"}
    assert all(isinstance(v, str | int | float | bool) for v in out["context"].values())


def test_access_token_is_checked_by_client_id(keys) -> None:
    _, key = keys
    assert ws_authorizer.handler(_event(_token(key, _claims("access"))))["principalId"] == SUB
    _refused(_event(_token(key, _claims("access", client_id="someone-elses-client"))), "another app client")


@pytest.mark.parametrize(("claims", "why"), [
    (_claims("id", exp=int(time.time()) - 3600), "expired"),
    (_claims("id", iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"), "issuer"),
    (_claims("id", aud="someone-elses-client"), "another app client"),
    (_claims("refresh"), "neither id nor access"),
    (_claims("id", iat=int(time.time()) + 3600), "not yet valid (iat)"),
    ({k: v for k, v in _claims("id").items() if k != "sub"}, "sub"),
    ({k: v for k, v in _claims("id").items() if k != "token_use"}, "token_use"),
])
def test_bad_claims_are_refused(keys, claims, why) -> None:
    _, key = keys
    _refused(_event(_token(key, claims)), why)


def test_forged_and_malformed_tokens_are_refused(keys) -> None:
    _, key = keys
    # same kid, another key: the signature does not verify
    _refused(_event(_token(_key(), _claims())), "Signature verification failed")
    # algorithm confusion: HS256 "signed" with the public key (PEM) as the HMAC secret
    # (built by hand: PyJWT itself refuses to sign like that)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    mac = _b64(hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    _refused(_event(f"{head}.{body}.{mac}"), "algorithm 'HS256'")
    _refused(_event(jwt.encode(_claims(), None, algorithm="none", headers={"kid": "key-1"})), "algorithm 'none'")
    _refused(_event("not.a.jwt"), "not a JWT")
    _refused(_event(_token(key, _claims()) + "x" * 9000), "too long")
    _refused(_event(None), "no token")
    _refused(_event(""), "no token")
    no_arn = _event(_token(key, _claims()))
    del no_arn["methodArn"]
    _refused(no_arn, "methodArn")


def test_unknown_key_ids_refetch_the_jwks_at_most_once_a_minute(keys) -> None:
    jwks, key = keys
    assert ws_authorizer.handler(_event(_token(key, _claims())))["principalId"] == SUB
    assert jwks.fetches == 1
    for n in range(5):  # made-up key ids do not make us fetch again and again
        _refused(_event(_token(key, _claims(), kid=f"made-up-{n}")), "unknown signing key")
    assert jwks.fetches == 1
    assert ws_authorizer.handler(_event(_token(key, _claims())))["principalId"] == SUB  # cached key still good
    assert jwks.fetches == 1


def test_rotated_key_is_picked_up(keys, monkeypatch: pytest.MonkeyPatch) -> None:
    jwks, key = keys
    assert ws_authorizer.handler(_event(_token(key, _claims())))["principalId"] == SUB
    new = _key()
    jwks.keys.append(_jwk(new, "key-2"))  # Cognito publishes the next key
    monkeypatch.setattr(ws_authorizer, "JWKS_REFRESH_SECONDS", 0)
    assert ws_authorizer.handler(_event(_token(new, _claims(), kid="key-2")))["principalId"] == SUB
    assert jwks.fetches == 2


def test_pool_and_client_from_stage_variables(keys, monkeypatch: pytest.MonkeyPatch) -> None:
    _, key = keys
    monkeypatch.delenv("COGNITO_USER_POOL_ID")
    monkeypatch.delenv("COGNITO_CLIENT_ID")
    token = _token(key, _claims())
    stage = {"cognitoUserPoolId": POOL, "cognitoClientId": CLIENT}
    assert ws_authorizer.handler(_event(token, stage))["principalId"] == SUB
    _refused(_event(token, {**stage, "cognitoClientId": "another-client"}), "another app client")
    with pytest.raises(RuntimeError, match="no user pool"):  # a deployment error (500), not the caller's
        ws_authorizer.handler(_event(token, None))


def test_connect_stores_the_connection_under_the_authorized_sub(keys, monkeypatch: pytest.MonkeyPatch) -> None:
    """The authorizer's answer, as API Gateway hands it to `$connect`, becomes the connection's user."""
    _, key = keys
    for k, v in settings_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CHARTER_LOCAL", "0")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws.reset()
    allowed = ws_authorizer.handler(_event(_token(key, _claims())))
    connect = _event(None)
    del connect["methodArn"], connect["type"]
    # API Gateway puts principalId and the context values under requestContext.authorizer
    connect["requestContext"]["authorizer"] = {"principalId": allowed["principalId"], **allowed["context"],
                                               "integrationLatency": 41}
    try:
        with mock_aws():
            ensure_resources(SETTINGS)
            assert websocket.connect(connect)["statusCode"] == 200
            item = boto3.client("dynamodb", region_name="us-east-1").get_item(
                TableName=SETTINGS.connections_table, Key={"connection_id": {"S": "AbCdEfGhIjKlMnO="}})["Item"]
            assert item["user_id"] == {"S": SUB}
    finally:
        aws.reset()
