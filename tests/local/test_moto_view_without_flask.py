"""The embedded AWS answers moto's routes without Flask around them (`charter.local.app._moto_view`):
the same bytes as moto's Flask app, for the protocols Charter's callers use."""

from __future__ import annotations

import re
from typing import Any

import pytest

import charter.local.app as app_module
from charter.local import LocalAws

pytestmark = pytest.mark.e2e

_NUMBERS = re.compile(rb"\d+")


def _calls(sessions: Any) -> None:
    """JSON (DynamoDB, with a conditional failure), REST XML (S3, a missing key, a HEAD, a key with %2F),
    query XML with a form body (STS, IAM, SQS)."""
    from botocore.exceptions import ClientError

    ddb, s3 = sessions.client("dynamodb"), sessions.client("s3")
    ddb.create_table(TableName="jobs", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    item = {"id": {"S": "a"}, "n": {"N": "1"}, "tags": {"L": [{"S": "x"}, {"M": {"k": {"BOOL": True}}}]}}
    ddb.put_item(TableName="jobs", Item=item, ConditionExpression="attribute_not_exists(id)")
    with pytest.raises(ClientError):
        ddb.put_item(TableName="jobs", Item=item, ConditionExpression="attribute_not_exists(id)")
    ddb.get_item(TableName="jobs", Key={"id": {"S": "a"}}, ConsistentRead=True)
    s3.create_bucket(Bucket="views")
    s3.put_object(Bucket="views", Key="a/b c.json", Body=b'{"x": 1}', ContentType="application/json")
    s3.get_object(Bucket="views", Key="a/b c.json")
    s3.head_object(Bucket="views", Key="a/b c.json")
    with pytest.raises(ClientError):
        s3.get_object(Bucket="views", Key="missing")
    s3.put_object(Bucket="views", Key="a/prïces%2F2026.csv", Body=b"x")  # the raw path names the key
    s3.list_objects_v2(Bucket="views", Prefix="a/")
    sessions.client("sts").get_caller_identity()
    sessions.client("iam").list_roles()
    sqs = sessions.client("sqs")
    sqs.send_message(QueueUrl=sqs.create_queue(QueueName="views")["QueueUrl"], MessageBody="hello")


def _answers(monkeypatch, direct: bool) -> tuple[list[tuple[int, list[tuple[str, bytes]], bytes]], int]:
    """Each raw answer (status, headers, body; numbers masked: timestamps differ between
    runs), and how many the direct path gave."""
    from moto.moto_api._internal import mock_random

    served = [0]
    original = app_module._moto_view

    def counted(*args: Any) -> Any:
        answer = original(*args) if direct else None
        served[0] += answer is not None
        return answer

    monkeypatch.setattr(app_module, "_moto_view", counted)
    seen: list[tuple[int, list[tuple[str, bytes]], bytes]] = []

    def record(response_dict: dict[str, Any], **_: Any) -> None:
        headers = sorted((k.lower(), _NUMBERS.sub(b"0", str(v).encode())) for k, v in response_dict["headers"].items()
                         if k.lower() != "date")
        body = response_dict["body"]
        body = body if isinstance(body, bytes) else body.read()  # a streamed answer (GetObject): read here
        seen.append((response_dict["status_code"], headers, _NUMBERS.sub(b"0", body)))

    with LocalAws() as aws:
        mock_random.seed(24)  # the same request ids and generated names in both runs
        sessions = aws.sessions()
        original_client = sessions.client

        def client(service: str, **kwargs: Any) -> Any:
            made = original_client(service, **kwargs)
            made.meta.events.register("before-parse", record)
            return made

        monkeypatch.setattr(sessions, "client", client)
        _calls(sessions)
        import urllib.request

        with urllib.request.urlopen(f"{aws.endpoint_url}/moto-api/", timeout=60) as page:  # moto's own pages (Flask's)
            assert page.status == 200
    monkeypatch.setattr(app_module, "_moto_view", original)
    return seen, served[0]


def test_moto_routes_answer_the_same_bytes_without_flask(monkeypatch) -> None:
    through_flask, direct_count_off = _answers(monkeypatch, direct=False)
    direct, direct_count = _answers(monkeypatch, direct=True)
    assert direct_count_off == 0
    assert direct_count >= len(direct)  # each of them answered without Flask
    assert len(direct) == len(through_flask) >= 14
    for ours, flask in zip(direct, through_flask, strict=True):
        assert ours == flask
