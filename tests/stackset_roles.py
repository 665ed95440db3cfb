"""The self-managed StackSet roles, made as AWS's documented template makes them, for tests that
deploy StackSets without the stack that creates them."""

from __future__ import annotations

import json

from charter.aws import SessionFactory
from charter.local import LOCAL_MANAGEMENT_ACCOUNT
from charter.naming import STACKSET_ADMIN_ROLE, STACKSET_EXECUTION_ROLE

TRUST = {STACKSET_ADMIN_ROLE: {"Service": "cloudformation.amazonaws.com"},
         STACKSET_EXECUTION_ROLE: {"AWS": f"arn:aws:iam::{LOCAL_MANAGEMENT_ACCOUNT}:root"}}
#: AWSCloudFormationStackSetExecutionRole's AdministratorAccess, inline: the embedded AWS
#: enforces permissions (a role without a policy can do nothing) and the tests that make these
#: roles skip loading AWS-managed policies into moto (seconds per account)
ADMINISTRATOR_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def make_stackset_role(sessions: SessionFactory, name: str, *, permissions: bool = True) -> None:
    iam = sessions.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": TRUST[name], "Action": "sts:AssumeRole"}]}))
    if permissions:
        iam.put_role_policy(RoleName=name, PolicyName="AdministratorAccess",
                            PolicyDocument=json.dumps(ADMINISTRATOR_ACCESS))


def make_stackset_roles(sessions: SessionFactory) -> None:
    for name in TRUST:
        make_stackset_role(sessions, name)
