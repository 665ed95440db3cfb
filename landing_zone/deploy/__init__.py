"""`charter deploy`, `plan` and `drift`: Organizations, SCPs and StackSets through boto3.

Incremental (hash tags on every StackSet and stack, content comparison for SCPs, nothing
touched when nothing changed), resumable (a journal next to the output, mirrored to SSM
in the management account) and precise (one line per failure:
`stackset/account/region[/logical-id]: reason`).
"""

from __future__ import annotations

from .engine import DeployResult, deploy, read_plan
from .errors import DeployError

__all__ = ["DeployError", "DeployResult", "deploy", "read_plan"]
