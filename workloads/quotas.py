"""The account quotas a workload environment needs, checked before its stacks deploy.

Lambda concurrency: the compute stack reserves concurrency (`ReservedConcurrentExecutions`)
and provisions it on aliases (`ProvisionedConcurrencyConfig`); Lambda refuses either when
it would leave fewer than 100 of the account's concurrent executions unreserved. Many new
accounts start at a quota of 10, where prod's compute stack would fail halfway through its
create. `charter workload plan` and `deploy` read the applied quota from Service Quotas
(GetServiceQuota, else the AWS default) in the environment's account and region, and a
shortfall is one line naming the increase to request, before any stack is touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from charter.aws import error_code


@dataclass(frozen=True)
class Quota:
    service_code: str
    quota_code: str
    name: str


LAMBDA_CONCURRENCY = Quota("lambda", "L-B99A9384", "Concurrent executions")
#: Lambda keeps at least this much of the account's concurrency unreserved.
UNRESERVED_MINIMUM = 100


@dataclass(frozen=True)
class ConcurrencyNeed:
    reserved: int
    provisioned: int

    @property
    def total(self) -> int:
        return self.reserved + self.provisioned + UNRESERVED_MINIMUM


def lambda_concurrency_need(templates: Iterable[dict[str, Any]]) -> ConcurrencyNeed:
    """What the synthesized templates reserve and provision."""
    reserved = provisioned = 0
    for data in templates:
        for res in (data.get("Resources") or {}).values():
            props = res.get("Properties") or {}
            if res.get("Type") == "AWS::Lambda::Function":
                reserved += int(props.get("ReservedConcurrentExecutions") or 0)
            elif res.get("Type") == "AWS::Lambda::Alias":
                provisioned += int((props.get("ProvisionedConcurrencyConfig") or {}).get(
                    "ProvisionedConcurrentExecutions") or 0)
    return ConcurrencyNeed(reserved, provisioned)


@dataclass(frozen=True)
class Shortfall:
    quota: Quota
    where: str  # "<account>/<region>"
    applied: float
    need: ConcurrencyNeed

    def render(self) -> str:
        region = self.where.rsplit("/", 1)[-1]
        n = self.need
        return (f"quota/{self.where}: Lambda's {self.quota.name} quota is {self.applied:g}; these stacks reserve "
                f"{n.reserved}, provision {n.provisioned} on API aliases and Lambda keeps {UNRESERVED_MINIMUM} "
                f"unreserved, so the account needs {n.total}. Request it: aws service-quotas "
                f"request-service-quota-increase --service-code {self.quota.service_code} --quota-code "
                f"{self.quota.quota_code} --desired-value {n.total} --region {region} "
                f"(Service Quotas > AWS Lambda > {self.quota.name}), or lower provisioned_concurrency in org.yaml")


def applied_value(client: Any, quota: Quota) -> float:
    """The quota's value in the client's account and region: the applied one, else AWS's default."""
    args = {"ServiceCode": quota.service_code, "QuotaCode": quota.quota_code}
    try:
        return float(client.get_service_quota(**args)["Quota"]["Value"])
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != "NoSuchResourceException":
            raise
    return float(client.get_aws_default_service_quota(**args)["Quota"]["Value"])


def check_lambda_concurrency(client: Any, need: ConcurrencyNeed, *, where: str) -> Shortfall | None:
    """A Service Quotas client of the environment's account and region -> the shortfall, if any."""
    applied = applied_value(client, LAMBDA_CONCURRENCY)
    return Shortfall(LAMBDA_CONCURRENCY, where, applied, need) if applied < need.total else None
