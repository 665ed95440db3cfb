"""Secrets Manager rotation for the optimizer's secrets (WKL-08).

Secrets Manager calls this function four times per rotation, with the same
`ClientRequestToken` (the new version id), which it has already labelled AWSPENDING:

1. `createSecret`: generate the new value and store it under AWSPENDING;
2. `setSecret`: push it to the system that checks it (none for keys we issue ourselves);
3. `testSecret`: check the pending value is usable;
4. `finishSecret`: move AWSCURRENT to it (the old version becomes AWSPREVIOUS).

Secrets are JSON objects. Fields named `*_key`, `api_key` or `password` are regenerated
(`GetRandomPassword`, 40 characters, no punctuation); every other field (vendor, client,
licensee) is carried over, so one function rotates both the pricing licence and the API
keys. Every step is idempotent: Secrets Manager retries steps that fail.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import botocore.exceptions

log = logging.getLogger(__name__)
log.setLevel(logging.INFO)

PENDING, CURRENT = "AWSPENDING", "AWSCURRENT"
KEY_LENGTH = 40
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


class RotationError(ValueError):
    """The secret is not in a state this rotation can act on (Secrets Manager retries)."""


def is_rotated_field(name: str) -> bool:
    return name.endswith("_key") or name in ("api_key", "password")


def _client() -> Any:
    return boto3.client("secretsmanager")


def handler(event: dict[str, Any], context: object = None) -> None:
    """Entry point (`workloads.handlers.rotation.handler`)."""
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if step not in STEPS:
        raise RotationError(f"unknown rotation step {step!r}")
    client = _client()
    meta = client.describe_secret(SecretId=arn)
    if not meta.get("RotationEnabled"):
        raise RotationError(f"rotation is not enabled for {arn}")
    versions = meta.get("VersionIdsToStages", {})
    if token not in versions:
        raise RotationError(f"version {token} of {arn} has no stage for rotation")
    if CURRENT in versions[token]:
        log.info("%s: version %s is already AWSCURRENT", arn, token)
        return
    if PENDING not in versions[token]:
        raise RotationError(f"version {token} of {arn} is not AWSPENDING")
    {"createSecret": create_secret, "setSecret": set_secret, "testSecret": test_secret,
     "finishSecret": finish_secret}[step](client, arn, token)


def _value(client: Any, arn: str, stage: str, token: str | None = None) -> dict[str, Any] | None:
    args: dict[str, Any] = {"SecretId": arn, "VersionStage": stage}
    if token:
        args["VersionId"] = token
    try:
        raw = client.get_secret_value(**args).get("SecretString")
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    if raw is None:
        return None
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise RotationError(f"{arn}: the secret is not a JSON object")
    return value


def create_secret(client: Any, arn: str, token: str) -> None:
    current = _value(client, arn, CURRENT) or {}
    pending = _value(client, arn, PENDING, token)
    if pending is not None and pending != current:
        log.info("%s: pending version %s already created", arn, token)
        return
    rotated = [k for k in current if is_rotated_field(k)]
    if not rotated:
        raise RotationError(f"{arn}: no field to rotate (expected *_key, api_key or password)")
    new = dict(current)
    for name in rotated:
        new[name] = client.get_random_password(PasswordLength=KEY_LENGTH, ExcludePunctuation=True)["RandomPassword"]
    client.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=json.dumps(new),
                            VersionStages=[PENDING])
    log.info("%s: created pending version %s (%s)", arn, token, ", ".join(rotated))


def set_secret(client: Any, arn: str, token: str) -> None:
    # The rotated keys are issued by us (clients read them from Secrets Manager), so there is
    # no downstream system to update; a vendor-issued key would be re-registered here.
    log.info("%s: setSecret has no downstream system to update", arn)


def test_secret(client: Any, arn: str, token: str) -> None:
    pending = _value(client, arn, PENDING, token)
    current = _value(client, arn, CURRENT) or {}
    if pending is None:
        raise RotationError(f"{arn}: pending version {token} has no value; createSecret has not run")
    for name, value in pending.items():
        if not is_rotated_field(name):
            continue
        if not isinstance(value, str) or len(value) < KEY_LENGTH:
            raise RotationError(f"{arn}: {name} of version {token} is not a {KEY_LENGTH}-character key")
        if value == current.get(name):
            raise RotationError(f"{arn}: {name} of version {token} equals the current value")


def finish_secret(client: Any, arn: str, token: str) -> None:
    versions = client.describe_secret(SecretId=arn).get("VersionIdsToStages", {})
    current = next((v for v, stages in versions.items() if CURRENT in stages), None)
    if current == token:
        return
    client.update_secret_version_stage(SecretId=arn, VersionStage=CURRENT, MoveToVersionId=token,
                                       RemoveFromVersionId=current)
    log.info("%s: version %s is now AWSCURRENT (was %s)", arn, token, current)
