"""The jobs table: one item per optimization job, keyed (`job_id`, `timestamp` = submission time).

A job id carries its submission time: the first 14 hex digits are the microseconds
since the epoch of `timestamp`, the other 18 are random (72 bits). So a reader who has
only the id still knows the whole key and reads the job with one consistent GetItem;
ids made otherwise (older jobs, ids given by callers) fall back to a Query of the
partition (newest first, limit 1). Writers use the full key. Every change bumps
`version`, which long polling and the WebSocket pushes use to tell "changed" from
"same". Timestamps are ISO-8601 UTC strings (they sort); `expires_at` is epoch seconds
for cleanup.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from . import aws
from .settings import Settings

_ser, _de = TypeSerializer(), TypeDeserializer()


#: Progress details a worker records beside `progress` and `message` (JobStatus's optional fields).
PROGRESS_DETAILS = ("step", "trials_done", "trials_total", "best_score")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_TIME_DIGITS = 14  # hex digits of microseconds: good until the year 4253


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _iso(micros: int) -> str:
    return (_EPOCH + dt.timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_job_key() -> tuple[str, str]:
    """(job_id, timestamp) of a job submitted now; the id encodes the timestamp."""
    micros = time.time_ns() // 1000
    return f"{micros:0{_TIME_DIGITS}x}{secrets.token_hex(9)}", _iso(micros)


def timestamp_of(job_id: str) -> str | None:
    """The submission timestamp a `new_job_key` id encodes (None if it cannot be one)."""
    if len(job_id) != 32:
        return None
    try:
        micros = int(job_id[:_TIME_DIGITS], 16)
        return _iso(micros)
    except (ValueError, OverflowError):
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def _dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo(v) for v in value]
    return value


@dataclass
class Job:
    job_id: str
    timestamp: str
    user_id: str
    status: str = "QUEUED"
    version: int = 1
    progress: float = 0.0
    message: str = ""
    error: str | None = None
    objective: str | None = None
    request: str = "{}"
    updated_at: str = ""
    expires_at: int = 0
    result_prefix: str | None = None
    execution_arn: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def request_data(self) -> dict[str, Any]:
        return json.loads(self.request)

    def item(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "extra" and v is not None}
        data.update(self.extra)
        return {k: _ser.serialize(_dynamo(v)) for k, v in data.items()}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Job:
        data = {k: _plain(_de.deserialize(v)) for k, v in item.items()}
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    def public(self, base_url: str = "") -> dict[str, Any]:
        """The JobStatus the API returns."""
        return {
            "job_id": self.job_id, "status": self.status, "created_at": self.timestamp,
            "updated_at": self.updated_at or self.timestamp, "version": self.version,
            "progress": round(float(self.progress), 4), "message": self.message, "error": self.error,
            "objective": self.objective,
            **{k: self.extra[k] for k in PROGRESS_DETAILS if self.extra.get(k) is not None},
            "results_url": f"{base_url}/jobs/{self.job_id}/results" if self.status == "SUCCEEDED" else None,
        }


def _update_expression(changes: dict[str, Any], names: dict[str, str], values: dict[str, Any]) -> str:
    """UpdateExpression that sets `changes` (None removes the attribute) and bumps `#version`
    by `:one`; fills `names` and `values` with the placeholders it uses."""
    sets, removes = [], []
    for i, (key, value) in enumerate(changes.items()):
        names[f"#a{i}"] = key
        if value is None:
            removes.append(f"#a{i}")
        else:
            values[f":v{i}"] = _ser.serialize(_dynamo(value))
            sets.append(f"#a{i} = :v{i}")
    expr = "SET " + ", ".join(sets) + " ADD #version :one"
    return expr + (" REMOVE " + ", ".join(removes) if removes else "")


class JobStore:
    def __init__(self, settings: Settings) -> None:
        self.table = settings.jobs_table
        self.retention_seconds = settings.job_retention_days * 86400
        self.ddb = aws.client("dynamodb")

    def create(self, user_id: str, request: dict[str, Any], objective: str | None = None,
               job_id: str | None = None, key: tuple[str, str] | None = None) -> Job:
        new_id, stamp = key or new_job_key()
        job = Job(job_id=job_id or new_id, timestamp=stamp, user_id=user_id, objective=objective,
                  request=json.dumps(request, separators=(",", ":"), default=str), updated_at=stamp,
                  message="queued", expires_at=int(time.time()) + self.retention_seconds)
        self.ddb.put_item(TableName=self.table, Item=job.item(),
                          ConditionExpression="attribute_not_exists(job_id)")
        return job

    def put(self, job: Job, expected_version: int | None = None) -> bool:
        """Overwrite the whole item; with `expected_version`, only if nobody changed it meanwhile."""
        kwargs: dict[str, Any] = {}
        if expected_version is not None:
            kwargs = {"ConditionExpression": "#v = :v", "ExpressionAttributeNames": {"#v": "version"},
                      "ExpressionAttributeValues": {":v": {"N": str(expected_version)}}}
        try:
            self.ddb.put_item(TableName=self.table, Item=job.item(), **kwargs)
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, job_id: str, consistent: bool = True) -> Job | None:
        stamp = timestamp_of(job_id)
        if stamp is not None:
            item = self.ddb.get_item(TableName=self.table, Key={"job_id": {"S": job_id}, "timestamp": {"S": stamp}},
                                     ConsistentRead=consistent).get("Item")
            if item:
                return Job.from_item(item)
        resp = self.ddb.query(
            TableName=self.table, KeyConditionExpression="job_id = :id",
            ExpressionAttributeValues={":id": {"S": job_id}}, ScanIndexForward=False, Limit=1,
            ConsistentRead=consistent)
        items = resp.get("Items") or []
        return Job.from_item(items[0]) if items else None

    def update(self, job: Job, **changes: Any) -> Job:
        """Set attributes (None removes them), bump the version and the update time."""
        changes["updated_at"] = now_iso()
        names: dict[str, str] = {"#version": "version"}
        values: dict[str, Any] = {":one": {"N": "1"}}
        expr = _update_expression(changes, names, values)
        resp = self.ddb.update_item(
            TableName=self.table, Key={"job_id": {"S": job.job_id}, "timestamp": {"S": job.timestamp}},
            UpdateExpression=expr, ExpressionAttributeNames=names, ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW")
        return Job.from_item(resp["Attributes"])

    def transition(self, job: Job, status: str, **changes: Any) -> Job | None:
        """Move `job` to `status` (with `changes`) only from a state that may move there
        (`models.TRANSITIONS`), decided by DynamoDB on the stored item, so two writers
        racing cannot undo an end state. None when the stored job may not move."""
        from .models import states_before

        allowed = states_before(status)
        changes = {"status": status, **changes, "updated_at": now_iso()}
        names: dict[str, str] = {"#version": "version", "#status": "status"}
        values: dict[str, Any] = {":one": {"N": "1"}}
        expr = _update_expression(changes, names, values)
        for i, state in enumerate(allowed):
            values[f":from{i}"] = {"S": state}
        try:
            resp = self.ddb.update_item(
                TableName=self.table, Key={"job_id": {"S": job.job_id}, "timestamp": {"S": job.timestamp}},
                UpdateExpression=expr, ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                ConditionExpression="attribute_exists(job_id) AND #status IN ("
                                    + ", ".join(f":from{i}" for i in range(len(allowed))) + ")",
                ReturnValues="ALL_NEW")
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return None
        return Job.from_item(resp["Attributes"])

    def for_user(self, user_id: str, limit: int, start_key: dict[str, Any] | None = None
                 ) -> tuple[list[Job], dict[str, Any] | None]:
        """One page of `user_id`'s jobs, newest first (the `user_id-index`), and the key to continue from."""
        kwargs: dict[str, Any] = {}
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        resp = self.ddb.query(
            TableName=self.table, IndexName="user_id-index", KeyConditionExpression="user_id = :u",
            ExpressionAttributeValues={":u": {"S": user_id}}, ScanIndexForward=False, Limit=limit, **kwargs)
        return [Job.from_item(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")

    def delete(self, job: Job) -> None:
        self.ddb.delete_item(TableName=self.table,
                             Key={"job_id": {"S": job.job_id}, "timestamp": {"S": job.timestamp}})

    def scan(self) -> Any:
        """Every job, page by page (cleanup)."""
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.table):
            for item in page.get("Items", []):
                yield Job.from_item(item)
