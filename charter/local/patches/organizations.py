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


def accounts_need_an_organization() -> None:
    """ListAccounts from an account in no organization fails with
    AWSOrganizationsNotInUseException, as AWS answers (moto 5.2.1 lists nothing), so code
    that must tell "no organization" from "an organization" sees the same answer as on AWS."""
    from moto.organizations import models as orgs
    from moto.organizations.exceptions import AWSOrganizationsNotInUseException

    original = orgs.OrganizationsBackend.list_accounts

    def list_accounts(self, *args, **kwargs):
        if self.org is None and self.account_id not in orgs.organizations_backends.master_accounts:
            raise AWSOrganizationsNotInUseException
        return original(self, *args, **kwargs)

    orgs.OrganizationsBackend.list_accounts = list_accounts
