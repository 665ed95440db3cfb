"""StackSet operations done once per OperationId, as AWS does them."""

from __future__ import annotations

import threading
from typing import Any

#: The StackSet operations whose OperationId is an idempotency token (the service model's
#: `idempotencyToken` trait; botocore fills it in once per call and keeps it on retries).
OPERATIONS = ("create_stack_instances", "update_stack_instances", "delete_stack_instances", "update_stack_set")


class _Once:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


def stackset_operations_once_per_operation_id() -> None:
    """AWS performs a StackSet operation once per OperationId, "even if you retry the request
    multiple times" (the API reference); moto performed every request. moto also answers them
    synchronously, so a CreateStackInstances that creates many instance stacks can outlast
    the SDK's read timeout on a loaded machine; botocore then sends the same request again,
    with the same OperationId, and moto created every instance's resources a second time
    ("log group already exists"). A repeated OperationId now gets the first request's answer,
    after waiting for it when the first is still running."""
    from moto.cloudformation.responses import CloudFormationResponse

    lock = threading.Lock()
    seen: dict[tuple[str, ...], _Once] = {}

    def once(action: str, original: Any) -> Any:
        def call(self: Any) -> Any:
            token = self._get_param("OperationId")
            if not token:
                return original(self)
            key = (self.current_account, self.region, action, str(self._get_param("StackSetName")), str(token))
            with lock:
                first = seen.get(key)
                if first is None:
                    seen[key] = mine = _Once()
            if first is not None:  # a retry: the first request's answer, when it has one
                first.done.wait()
                if first.error is not None:
                    raise first.error
                return first.result
            try:
                mine.result = original(self)
                return mine.result
            except BaseException as exc:
                mine.error = exc
                raise
            finally:
                mine.done.set()

        call._charter_once = True  # type: ignore[attr-defined]
        return call

    for action in OPERATIONS:
        original = getattr(CloudFormationResponse, action)
        if not getattr(original, "_charter_once", False):
            setattr(CloudFormationResponse, action, once(action, original))
