"""Custom:: resources answered by their Lambda function, through the real ResponseURL."""

from __future__ import annotations

import json
import threading
from typing import Any

#: request id -> [event set when CloudFormation's response URL receives the answer, answer]
_WAITING: dict[str, list[Any]] = {}
_LOCK = threading.Lock()
#: After the function returned without answering, how long the answer may still take to
#: arrive (a handler that answers from a thread it started).
ANSWER_GRACE_SECONDS = 5.0


def receive(request_id: str, body: bytes) -> bool:
    """The PUT to a custom resource's ResponseURL (see routes): hand it to the waiting resource."""
    with _LOCK:
        slot = _WAITING.get(request_id)
    if slot is None:
        return False
    slot[1] = json.loads(body or b"{}")
    slot[0].set()
    return True


class CustomResourceFailed(Exception):
    """The function answered FAILED, or did not answer."""


def _ask(fn: Any, event: dict[str, Any], endpoint: str, timeout: float) -> dict[str, Any]:
    """Invoke `fn` with `event` (its ResponseURL pointing at the embedded AWS) and return the
    answer the function PUT there."""
    from charter.local import enforcement, lambda_runtime

    slot: list[Any] = [threading.Event(), None]
    with _LOCK:
        _WAITING[event["RequestId"]] = slot
    try:
        try:
            result = lambda_runtime.invoke_function(fn, event, endpoint)
        except enforcement.AccessDenied as exc:  # Lambda cannot become the function's role
            raise CustomResourceFailed(f"{event['LogicalResourceId']}: {exc.message}") from None
        if not slot[0].wait(ANSWER_GRACE_SECONDS if not result.errored else 0.5):
            why = result.payload if result.errored else "it returned without answering"
            raise CustomResourceFailed(
                f"the function {fn.function_name} did not send a response to the ResponseURL ({why[:500]}); "
                f"CloudFormation would wait {timeout:.0f}s for it on AWS")
        return slot[1] or {}
    finally:
        with _LOCK:
            _WAITING.pop(event["RequestId"], None)


def patch_custom_resources() -> None:
    """Custom:: resources served by a Lambda function run that function (from its artifact,
    see lambda_runtime) with CloudFormation's event, and the resource is what the function
    answers at the ResponseURL: SUCCESS with its PhysicalResourceId and Data, or a failed
    resource with CloudFormation's message and the function's Reason. Delete sends the
    Delete event. moto 5.2.1 sent the event to a Docker container and, without one, left the
    stack CREATE_IN_PROGRESS forever.

    Differences from AWS: a function that ends without answering fails the resource at once
    (AWS waits for the ServiceTimeout, up to an hour); a changed custom resource is deleted
    and created again (Delete, then Create) where AWS sends one Update event.
    """
    import uuid

    from moto.awslambda import lambda_backends
    from moto.cloudformation import custom_model

    from charter.local.running import _ENDPOINT

    original = custom_model.CustomModel.create_from_cloudformation_json.__func__

    def function(token: str, account_id: str, region_name: str) -> Any:
        try:
            return lambda_backends[account_id][region_name].get_function(token)
        except Exception:  # noqa: BLE001 - not a function of this account and region: moto's path
            return None

    def event_for(kind: str, token: str, stack_id: str, logical: str, resource_type: str, props: dict,
                  physical: str | None = None) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        event = {"RequestType": kind, "ServiceToken": token, "StackId": stack_id, "RequestId": request_id,
                 "ResponseURL": f"{_ENDPOINT[-1]}/_charter/cfn-response/{request_id}",
                 "LogicalResourceId": logical, "ResourceType": resource_type, "ResourceProperties": props}
        if physical:
            event["PhysicalResourceId"] = physical
        return event

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        fn = function(props["ServiceToken"], account_id, region_name) if _ENDPOINT else None
        if fn is None:
            return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        timeout = float(props.get("ServiceTimeout") or 3600)
        event = event_for("Create", props["ServiceToken"], kwargs["StackId"], kwargs["LogicalId"],
                          kwargs["ResourceType"], props)
        answer = _ask(fn, event, _ENDPOINT[-1], timeout)
        if answer.get("Status") != "SUCCESS":
            raise CustomResourceFailed(f"Received response status [{answer.get('Status', 'none')}] from custom "
                                       f"resource. Message returned: {answer.get('Reason', '')}")
        resource = custom_model.CustomModel(region_name, event["RequestId"], kwargs["LogicalId"],
                                            answer.get("PhysicalResourceId") or resource_name)
        resource.set_data(answer.get("Data") or {})
        resource.charter_request = (props["ServiceToken"], kwargs["StackId"], kwargs["ResourceType"], props)
        return resource

    def delete(self, account_id: str, region_name: str) -> None:
        request = getattr(self, "charter_request", None)
        fn = function(request[0], account_id, region_name) if request and _ENDPOINT else None
        if fn is None:
            return
        token, stack_id, resource_type, props = request
        event = event_for("Delete", token, stack_id, self.logical_id, resource_type, props, self.resource_name)
        answer = _ask(fn, event, _ENDPOINT[-1], float(props.get("ServiceTimeout") or 3600))
        if answer.get("Status") != "SUCCESS":
            raise CustomResourceFailed(f"Received response status [{answer.get('Status', 'none')}] from custom "
                                       f"resource. Message returned: {answer.get('Reason', '')}")

    custom_model.CustomModel.create_from_cloudformation_json = classmethod(create)
    custom_model.CustomModel.delete = delete
