"""The evidence roles the landing zone makes, for tests that skip its deploy (the embedded
AWS enforces trust: without them, nobody may read an account)."""

from __future__ import annotations

from typing import Any

from charter.aws import SessionFactory


def provision_evidence_roles(sessions: SessionFactory, cfg, account_ids: list[str]) -> SessionFactory:
    """What the landing zone makes for evidence, on an embedded AWS that enforces permissions:
    `CharterEvidenceReader` (its template's policies and trust) in `account_ids` and the
    management account, and `CharterEvidenceOperator` in the management account. Returns the
    factory acting as the operator, as an operator's CLI does."""
    import json

    from charter.aws import acting_as
    from charter.landing_zone.builders.identity import operator_template, roles_template
    from charter.local import LOCAL_MANAGEMENT_ACCOUNT
    from charter.naming import EVIDENCE_OPERATOR_ROLE, MEMBER_ACCESS_ROLE
    from charter.policy.cfn import resolve

    org_id = sessions.client("organizations").describe_organization()["Organization"]["Id"]

    def create(iam: Any, template: Any, logical: str, account: str) -> None:
        params = {"AWS::AccountId": account, "AWS::Region": "us-east-1", "AWS::Partition": "aws",
                  "ManagementAccountId": LOCAL_MANAGEMENT_ACCOUNT, "AuditAccountId": account,
                  "OrganizationId": org_id}
        props = resolve(template.to_dict()["Resources"][logical]["Properties"], params)
        iam.create_role(RoleName=props["RoleName"], AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))
        for p in props.get("Policies", []):
            iam.put_role_policy(RoleName=props["RoleName"], PolicyName=p["PolicyName"],
                                PolicyDocument=json.dumps(p["PolicyDocument"]))
        for arn in props.get("ManagedPolicyArns", []):
            iam.attach_role_policy(RoleName=props["RoleName"], PolicyArn=arn)

    roles = roles_template(cfg)
    for account in [LOCAL_MANAGEMENT_ACCOUNT, *account_ids]:
        iam = sessions.client("iam") if account == LOCAL_MANAGEMENT_ACCOUNT else \
            sessions.client("iam", account_id=account, role_name=MEMBER_ACCESS_ROLE)
        create(iam, roles, "EvidenceReaderRole", account)
    create(sessions.client("iam"), operator_template(cfg), "EvidenceOperatorRole", LOCAL_MANAGEMENT_ACCOUNT)
    return acting_as(sessions, EVIDENCE_OPERATOR_ROLE)
