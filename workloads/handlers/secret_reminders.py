"""Expiry reminders for vendor-issued secrets (daily EventBridge schedule; WKL-08).

A licence or API key a vendor issues cannot be rotated by generating a random string: the
vendor would reject it. Such secrets are never rotated automatically; their owner renews
them with the vendor before they expire and stores the new value. This function keeps
the owner to it: every day it reads each secret tagged `charter:issuer = vendor` and
publishes a reminder to the alerts topic when the secret

- expires within `REMIND_WITHIN_DAYS` (on the days in `REMIND_ON_DAYS`, and daily in the
  last `DAILY_WITHIN_DAYS`), or has expired;
- carries no expiry (`charter:expires`, `YYYY-MM-DD`) or an unreadable one, so nobody
  knows when it lapses;
- still holds the placeholder the stack created (the vendor's value was never stored).

The owner (`charter:owner`) and the renewal instructions are in the message; the owner
sets the expiry when storing a renewed value:

    aws secretsmanager put-secret-value --secret-id <name> --secret-string file://secret.json
    aws secretsmanager tag-resource --secret-id <name> --tags Key=charter:expires,Value=2027-03-31
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from . import aws

log = logging.getLogger("charter.workloads.secret_reminders")

ISSUER_TAG, OWNER_TAG, EXPIRES_TAG = "charter:issuer", "charter:owner", "charter:expires"
VENDOR = "vendor"
#: The value a vendor secret holds until its owner stores the vendor's (set by the stack).
PLACEHOLDER = "set-by-owner"
REMIND_WITHIN_DAYS = 30
REMIND_ON_DAYS = (30, 14, 7)
DAILY_WITHIN_DAYS = 3
TOPIC_ENV = "REMINDER_TOPIC_ARN"


@dataclass(frozen=True)
class Reminder:
    secret: str
    owner: str
    reason: str

    @property
    def subject(self) -> str:
        return f"Renew vendor secret {self.secret}"[:100]

    def message(self) -> str:
        return (f"{self.secret}: {self.reason}.\nOwner: {self.owner}\n"
                "Vendor-issued secrets are not rotated automatically. Renew the key with its vendor, then:\n"
                f"  aws secretsmanager put-secret-value --secret-id {self.secret} --secret-string file://secret.json\n"
                f"  aws secretsmanager tag-resource --secret-id {self.secret} "
                f"--tags Key={EXPIRES_TAG},Value=<YYYY-MM-DD>\n")


def due(name: str, tags: dict[str, str], value: dict[str, Any] | None, today: dt.date) -> Reminder | None:
    """The reminder `name` needs today, or None (a pure function of the secret's state)."""
    owner = tags.get(OWNER_TAG, "(no charter:owner tag)")
    if value is not None and PLACEHOLDER in {v for v in value.values() if isinstance(v, str)}:
        return Reminder(name, owner, "still holds the placeholder: the vendor's value was never stored")
    raw = tags.get(EXPIRES_TAG)
    if not raw:
        return Reminder(name, owner, f"has no {EXPIRES_TAG} tag, so nobody is told before it lapses")
    try:
        expires = dt.date.fromisoformat(raw)
    except ValueError:
        return Reminder(name, owner, f"{EXPIRES_TAG} is '{raw}', not a YYYY-MM-DD date")
    left = (expires - today).days
    if left < 0:
        return Reminder(name, owner, f"expired on {expires.isoformat()} ({-left} days ago)")
    if left <= DAILY_WITHIN_DAYS or left in REMIND_ON_DAYS:
        return Reminder(name, owner, f"expires on {expires.isoformat()}, in {left} days")
    return None


def _vendor_secrets(sm: Any) -> list[dict[str, Any]]:
    found = []
    for page in sm.get_paginator("list_secrets").paginate(Filters=[{"Key": "tag-key", "Values": [ISSUER_TAG]}]):
        for entry in page.get("SecretList", []):
            tags = {t["Key"]: t["Value"] for t in entry.get("Tags", [])}
            if tags.get(ISSUER_TAG) == VENDOR:
                found.append({"name": entry["Name"], "arn": entry["ARN"], "tags": tags})
    return found


def _value(sm: Any, arn: str) -> dict[str, Any] | None:
    try:
        raw = sm.get_secret_value(SecretId=arn).get("SecretString")
        parsed = json.loads(raw) if raw else None
    except (ValueError, ClientError):
        return None
    return parsed if isinstance(parsed, dict) else None


def handler(event: dict[str, Any] | None = None, context: object = None, *,
            today: dt.date | None = None) -> dict[str, Any]:
    """Entry point (`workloads.handlers.secret_reminders.handler`)."""
    today = today or dt.datetime.now(dt.UTC).date()
    topic = os.environ[TOPIC_ENV]
    sm, sns = aws.client("secretsmanager"), aws.client("sns")
    sent = []
    secrets = _vendor_secrets(sm)
    for secret in secrets:
        reminder = due(secret["name"], secret["tags"], _value(sm, secret["arn"]), today)
        if reminder is None:
            continue
        sns.publish(TopicArn=topic, Subject=reminder.subject, Message=reminder.message())
        log.info("reminded %s: %s", reminder.owner, reminder.reason)
        sent.append(reminder.secret)
    return {"checked": len(secrets), "reminded": sent}
