"""The AWS-managed policies Charter attaches, as documents the evaluator can read.

Preflight runs without AWS, so the documents of the AWS-managed policies that Charter's
roles use (AdministratorAccess, SecurityAudit, ...) ship in `aws_managed_policies.json` beside this module.
They are copied from the AWS-managed policy set that moto ships (moto refreshes it from
AWS), by `python -m charter.policy.managed`; a test fails when the copy and moto's
set disagree, so an upgrade of moto says when to refresh.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from charter.policy.documents import Policy

DATA = Path(__file__).parent / "aws_managed_policies.json"

#: The AWS-managed policies Charter's templates and roles attach.
USED = (
    "AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess", "SecurityAudit", "ViewOnlyAccess",
    "AWSXRayDaemonWriteAccess", "AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Backup", "AWSBackupServiceRolePolicyForS3Restore",
    "AWSCodeDeployRoleForLambdaLimited", "AWSConfigRoleForOrganizations", "AWSLambdaVPCAccessExecutionRole",
    "AWS_ConfigRole", "AmazonAPIGatewayPushToCloudWatchLogs",
)


@lru_cache(maxsize=1)
def _documents() -> dict[str, dict[str, Any]]:
    return json.loads(DATA.read_text())


def managed_policy_name(arn: str) -> str | None:
    """`arn:aws:iam::aws:policy/service-role/AWS_ConfigRole` -> `AWS_ConfigRole`; None for
    a customer-managed policy."""
    if ":iam::aws:policy/" not in arn:
        return None
    return arn.rsplit("/", 1)[-1]


@lru_cache(maxsize=64)
def managed_policy(name_or_arn: str) -> Policy | None:
    """The parsed AWS-managed policy, or None when Charter does not ship it."""
    name = managed_policy_name(name_or_arn) or name_or_arn
    entry = _documents().get(name)
    if entry is None:
        return None
    return Policy.parse("identity", name, entry["Document"])


def refresh(names: tuple[str, ...] = USED) -> dict[str, dict[str, Any]]:
    """The documents of `names` from moto's AWS-managed policy set (a development step)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data = json.loads(aws_managed_policies_data)
    return {n: {"Path": data[n]["Path"], "Document": data[n]["Document"]} for n in names}


if __name__ == "__main__":
    DATA.write_text(json.dumps(refresh(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {DATA}")
