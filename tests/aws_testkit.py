"""Helpers for tests that drive AWS APIs whose work runs after the call returns."""

from __future__ import annotations

import time
from typing import Any

#: A safety net against a hang, never an assertion about speed.
PATIENCE_SECONDS = 600


def operation(cfn: Any, stackset: str, response: dict[str, Any]) -> dict[str, Any]:
    """Wait for the StackSet operation a call started (it runs in the background, as on
    AWS) and return its description."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        op = cfn.describe_stack_set_operation(StackSetName=stackset, OperationId=response["OperationId"])
        if op["StackSetOperation"]["Status"] not in ("QUEUED", "RUNNING", "STOPPING"):
            return op["StackSetOperation"]
        if time.monotonic() > deadline:
            raise TimeoutError(f"operation {response['OperationId']} of {stackset} still running")
        time.sleep(0.05)
