"""Organizations: the services AWS lets an organization delegate."""

from __future__ import annotations


def add_delegated_admin_services() -> None:
    """Services AWS lets the organization delegate that moto 5.2.1 rejects as "unrecognized
    service principal" (AWS Config's aggregator/conformance-pack delegation, Security Hub,
    Inspector, IAM Identity Center, Backup, CloudTrail, StackSets)."""
    from moto.organizations.models import FakeDelegatedAdministrator

    for principal in ("config.amazonaws.com", "securityhub.amazonaws.com", "inspector2.amazonaws.com",
                      "sso.amazonaws.com", "backup.amazonaws.com", "cloudtrail.amazonaws.com",
                      "member.org.stacksets.cloudformation.amazonaws.com"):
        if principal not in FakeDelegatedAdministrator.SUPPORTED_SERVICES:
            FakeDelegatedAdministrator.SUPPORTED_SERVICES.append(principal)
