"""Errors a user can cause while deploying (codes CHARTER-6xx).

Failures of individual resources during a deploy are not exceptions: they are collected
as one line each (`stackset/account/region[/logical-id]: reason`) so the rest of the
run goes on; these classes are for problems that stop a run before it starts.
"""

from __future__ import annotations

from charter.errors import CharterError


class DeployError(CharterError):
    """A deploy could not start or continue."""

    code = "CHARTER-600"
    fix = "Read the message: it names the stack, account and region and says what to change."


class PlanMissingError(DeployError):
    code = "CHARTER-601"
    fix = "Run `charter synth -c org.yaml -o out/` (or `charter deploy` without --no-synth) first."


class EndpointError(DeployError):
    code = "CHARTER-602"
    fix = "Check the --endpoint-url (is `charter local` still running?) or the network path to AWS."


class CredentialsError(DeployError):
    code = "CHARTER-603"
    fix = "Pass --profile NAME with working credentials, or --local for the embedded AWS."


class WrongAccountError(DeployError):
    code = "CHARTER-604"
    fix = "Use credentials of the management account named in organization.management_account_id."


class OrganizationStateError(DeployError):
    code = "CHARTER-605"
    fix = "Fix the organization as the message says (feature set, policy types), then deploy again."


class AssetError(DeployError):
    code = "CHARTER-606"
    fix = "Make the stack's code asset buildable (pip reaches PyPI for the Lambda's dependencies), then deploy again."
