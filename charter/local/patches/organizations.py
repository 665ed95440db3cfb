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


#: The Organizations calls a delegated administrator may make (AWS: the read-only ones).
DELEGATED_READS = frozenset({
    "DescribeAccount", "DescribeOrganization", "DescribeOrganizationalUnit", "DescribePolicy",
    "DescribeEffectivePolicy", "ListAccounts", "ListAccountsForParent", "ListAWSServiceAccessForOrganization",
    "ListChildren", "ListDelegatedAdministrators", "ListDelegatedServicesForAccount",
    "ListOrganizationalUnitsForParent", "ListParents", "ListPolicies", "ListPoliciesForTarget", "ListRoots",
    "ListTagsForResource", "ListTargetsForPolicy"})
#: What any member account may call about its organization.
MEMBER_CALLS = frozenset({"DescribeOrganization", "LeaveOrganization"})


def members_see_their_organization() -> None:
    """A member account's Organizations calls as AWS answers them: a delegated administrator
    (of any service) reads the whole organization, any member may describe it, and every
    other call from a member is AccessDeniedException. moto 5.2.1 answered a member's
    ListAccounts from the member's own empty backend: an empty organization, so the
    evidence collector in the audit account (a delegated administrator) found no account."""
    from moto.organizations.exceptions import OrganizationsClientError
    from moto.organizations.models import organizations_backends
    from moto.organizations.responses import OrganizationsResponse

    def backend(self):
        own = organizations_backends[self.current_account][self.partition]
        home = organizations_backends.master_accounts.get(self.current_account)
        if own.org is not None or home is None:
            return own  # the management account, or no organization at all
        management = organizations_backends[home[0]][home[1]]
        action = self._get_action()
        admin = any(a.account.id == self.current_account for a in management.admins)
        if action in MEMBER_CALLS or (admin and action in DELEGATED_READS):
            return management
        raise OrganizationsClientError(
            "AccessDeniedException", "You don't have permissions to access this resource.")

    OrganizationsResponse.organizations_backend = property(backend)


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
