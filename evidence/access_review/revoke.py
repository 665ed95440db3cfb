"""Carry out one revoke decision. One function per access type, each the documented IAM or
Identity Center call; nothing here decides *whether* to revoke."""

from __future__ import annotations

from typing import Any

from charter.aws import SessionFactory

from .model import AccessRow

#: The IAM calls a revocation makes with the write role (`--role`, default
#: OrganizationAccountAccessRole) in the member account, and with the caller in the
#: management account for Identity Center; `charter preflight` evaluates them.
MEMBER_REVOKE_CALLS: tuple[str, ...] = (
    "iam:DeleteLoginProfile", "iam:UpdateAccessKey", "iam:DeleteAccessKey", "iam:RemoveUserFromGroup",
    "iam:DetachUserPolicy", "iam:DeleteUserPolicy", "iam:DetachRolePolicy", "iam:DeleteRolePolicy",
)
MANAGEMENT_REVOKE_CALLS: tuple[str, ...] = ("sso:DeleteAccountAssignment",)


def _iam(sessions: SessionFactory, row: AccessRow, role: str) -> Any:
    return sessions.client("iam", account_id=row.account_id, role_name=role)


def revoke(sessions: SessionFactory, row: AccessRow, *, role: str) -> None:
    """Remove `row`'s access. Raises botocore errors; the caller records them per row."""
    name = row.principal_id or row.principal
    if row.principal_type == "iam-user":
        iam = _iam(sessions, row, role)
        if row.access_type == "console":
            iam.delete_login_profile(UserName=name)
        elif row.access_type == "access-key":
            # deactivate first: if the delete fails, the key is already unusable
            iam.update_access_key(UserName=name, AccessKeyId=row.access, Status="Inactive")
            iam.delete_access_key(UserName=name, AccessKeyId=row.access)
        elif row.access_type == "group":
            iam.remove_user_from_group(UserName=name, GroupName=row.access)
        elif row.access_type == "managed-policy":
            iam.detach_user_policy(UserName=name, PolicyArn=row.access)
        elif row.access_type == "inline-policy":
            iam.delete_user_policy(UserName=name, PolicyName=row.access)
        else:
            raise ValueError(f"cannot revoke {row.access_type} of an IAM user")
    elif row.principal_type == "iam-role":
        iam = _iam(sessions, row, role)
        if row.access_type == "managed-policy":
            iam.detach_role_policy(RoleName=name, PolicyArn=row.access)
        elif row.access_type == "inline-policy":
            iam.delete_role_policy(RoleName=name, PolicyName=row.access)
        else:
            raise ValueError(f"cannot revoke {row.access_type} of an IAM role")
    else:  # Identity Center assignments live in the management account
        sso = sessions.client("sso-admin")
        sso.delete_account_assignment(
            InstanceArn=row.details["instance"], TargetId=row.account_id, TargetType="AWS_ACCOUNT",
            PermissionSetArn=row.access_ref, PrincipalType="USER" if row.principal_type == "sso-user" else "GROUP",
            PrincipalId=row.principal_id,
        )
