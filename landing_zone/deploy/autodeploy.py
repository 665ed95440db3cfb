"""Which service-managed StackSets AWS may deploy to a new account by itself.

AWS auto-deploys a service-managed StackSet to every account that joins one of its target
OUs. Two things it does not do: it ignores the account filter (an environment's `kms-<env>`
and `backup-<env>` target their accounts' OUs filtered to those accounts, so a new account in
an OU shared by staging and dev would receive both environments' stacks, and the second KMS
stack fails on the `charter-kms-key-arn` export the first one made), and it deploys a new
account's StackSets in no order (an `account-baseline` importing that key could run before
any KMS stack). So a StackSet auto-deploys only when it targets whole OUs and depends on no
other StackSet; every other one reaches a new account through `charter deploy`, which adds
the account's instances wave by wave, exactly for its environment.
"""

from __future__ import annotations

from charter.landing_zone.synth import Plan, PlannedStack


def auto_deploys(plan: Plan, stack: PlannedStack) -> bool:
    dep = stack.deployment
    if dep.kind != "stackset" or dep.permission_model != "SERVICE_MANAGED" or dep.target_accounts:
        return False
    kinds = {s.name: s.deployment.kind for s in plan.stacks}
    return not any(kinds.get(d) == "stackset" for d in dep.depends_on)


def auto_deployment(plan: Plan, stack: PlannedStack) -> dict[str, bool]:
    """The StackSet's AutoDeployment argument (RetainStacksOnAccountRemoval only when enabled, as AWS requires)."""
    if auto_deploys(plan, stack):
        return {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    return {"Enabled": False}
