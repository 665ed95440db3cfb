"""Every AWS call `charter deploy` makes itself (not through CloudFormation), as IAM actions.

`MANAGEMENT_CALLS` are made with the deploy role in the management account (Organizations,
SCPs, StackSets, the templates and assets buckets, the journal mirror, Identity Center
look-ups); `MEMBER_CALLS` with `OrganizationAccountAccessRole` in a member account (its
plain stacks, the assets bucket of the audit account). API steps (`facts["api_steps"]`)
declare their own calls in the plan. `charter preflight` evaluates these; a test records
the calls of a deploy on the embedded AWS and checks that each is declared here.
"""

from __future__ import annotations

MANAGEMENT_CALLS: tuple[str, ...] = (
    "sts:GetCallerIdentity",
    # the organization, OUs, accounts, SCPs, trusted access and delegated administrators
    "organizations:DescribeOrganization", "organizations:CreateOrganization", "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent", "organizations:CreateOrganizationalUnit",
    "organizations:ListAccounts", "organizations:ListAccountsForParent", "organizations:CreateAccount",
    "organizations:DescribeCreateAccountStatus", "organizations:MoveAccount", "organizations:ListParents",
    "organizations:EnablePolicyType", "organizations:ListPolicies", "organizations:DescribePolicy",
    "organizations:CreatePolicy", "organizations:UpdatePolicy", "organizations:DeletePolicy",
    "organizations:AttachPolicy", "organizations:DetachPolicy", "organizations:ListTargetsForPolicy",
    "organizations:ListTagsForResource", "organizations:TagResource",
    "organizations:ListAWSServiceAccessForOrganization", "organizations:EnableAWSServiceAccess",
    "organizations:ListDelegatedAdministrators", "organizations:ListDelegatedServicesForAccount",
    "organizations:RegisterDelegatedAdministrator",
    # StackSets and the management account's own stacks
    "cloudformation:ActivateOrganizationsAccess", "cloudformation:DescribeOrganizationsAccess",
    "cloudformation:CreateStackSet", "cloudformation:UpdateStackSet", "cloudformation:DescribeStackSet",
    "cloudformation:CreateStackInstances", "cloudformation:UpdateStackInstances",
    "cloudformation:DeleteStackInstances", "cloudformation:ListStackInstances",
    "cloudformation:DescribeStackSetOperation", "cloudformation:ListStackSetOperationResults",
    "cloudformation:DetectStackSetDrift", "cloudformation:ListStackInstanceResourceDrifts",
    "cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
    "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:GetTemplate",
    # the self-managed StackSet roles when no stack owns them
    "iam:GetRole", "iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PassRole",
    # templates over 51,200 bytes (deployment.template_bucket)
    "s3:GetBucketLocation", "s3:PutObject", "s3:GetObject",
    # the journal mirror
    "ssm:GetParameter", "ssm:PutParameter",
    # Identity Center look-ups for the identity stack's parameters
    "sso:ListInstances", "identitystore:GetGroupId",
)

MEMBER_CALLS: tuple[str, ...] = (
    "cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
    "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:GetTemplate",
    # the assets bucket (evidence collector code) in the audit account
    "s3:CreateBucket", "s3:GetBucketLocation", "s3:PutBucketEncryption", "s3:PutBucketVersioning",
    "s3:PutBucketPublicAccessBlock", "s3:PutBucketOwnershipControls", "s3:PutBucketPolicy", "s3:PutObject",
    "s3:GetObject",
)
