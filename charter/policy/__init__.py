"""AWS's policy evaluation logic, and the data types of Charter's permission model.

Ground floor: pure Python over policy documents (dicts), no AWS calls, no imports from the
domains. The domains declare what their principals do (beside their code); the CLI joins
the declarations into a `PermissionModel` and `check` evaluates it; the embedded AWS
evaluates the same way on every request it serves.

Why Charter evaluates policies itself: no maintained Python engine covers what AWS
evaluates for one request. policyuniverse, parliament and cloudsplaining parse, lint or
expand policies but do not decide a request; principalmapper's local simulator (the
closest) was last released in 2022 and is bound to its own graph model; IAM's
SimulatePrincipalPolicy needs AWS and ignores SCPs. So the evaluation below implements
AWS's documented logic ("Policy evaluation logic" in the IAM User Guide) and is tested
against its documented cases (tests/policy/test_evaluate.py):

- explicit `Deny` in any applicable policy wins (SCP, resource, identity, boundary);
- SCPs are an allow-list at every level of root -> OU -> ... -> account: each level must
  have a policy that allows the action (FullAWSAccess is such a policy); SCPs never apply
  to the management account or to service-linked roles;
- then an `Allow` is needed from the identity policies or, in the same account, from the
  resource policy (a trust policy for sts:AssumeRole; a KMS key policy must always allow,
  directly or by enabling IAM policies through the account root); cross-account access
  needs both; a permissions boundary, when set, must also allow;
- `Action`/`NotAction`, `Resource`/`NotResource`, `Principal`/`NotPrincipal`, `*` and `?`
  wildcards (actions case-insensitive, ARNs per colon-separated component);
- conditions: String*, Arn*, Bool, Numeric*, Date*, IpAddress/NotIpAddress, Null, the
  `...IfExists` suffix and `ForAnyValue:`/`ForAllValues:`; values of one key are ORed,
  keys and operators are ANDed; a key missing from the request makes the condition false,
  except negated operators, `...IfExists`, `Null` and `ForAllValues:` (true);
- `aws:PrincipalArn` of an assumed-role session is the role's ARN (not the session's).
"""

from charter.policy.documents import Policy, Statement
from charter.policy.evaluate import Decision, Principal, Request, evaluate, evaluate_assume

__all__ = ["Decision", "Policy", "Principal", "Request", "Statement", "evaluate", "evaluate_assume"]
