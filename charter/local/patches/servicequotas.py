"""Service Quotas answers, in the embedded AWS, the Lambda concurrency quota its Lambda enforces."""

from __future__ import annotations

import os

#: Lambda's "Concurrent executions" quota, and AWS's documented default for it.
LAMBDA_CONCURRENCY_CODE = "L-B99A9384"
LAMBDA_CONCURRENCY_DEFAULT = 1000


def lambda_concurrency_quota() -> float:
    """The account concurrency moto's Lambda enforces on reserved concurrency
    (MOTO_LAMBDA_CONCURRENCY_QUOTA; unset, it enforces AWS's default of 1000 in spirit)."""
    return float(os.environ.get("MOTO_LAMBDA_CONCURRENCY_QUOTA") or LAMBDA_CONCURRENCY_DEFAULT)


def answer_lambda_concurrency() -> None:
    """moto's Service Quotas knows only VPC quotas, so GetServiceQuota for Lambda's concurrency
    raised NoSuchResource: `charter workload plan` could not check the quota it checks on AWS.
    The embedded AWS answers with the value its own Lambda holds reservations against."""
    from moto.servicequotas.models import ServiceQuotasBackend

    original = ServiceQuotasBackend.get_service_quota

    def get_service_quota(self, service_code: str, quota_code: str):
        if service_code == "lambda" and quota_code == LAMBDA_CONCURRENCY_CODE:
            value = lambda_concurrency_quota()
            return {"ServiceCode": "lambda", "ServiceName": "AWS Lambda", "QuotaCode": quota_code,
                    "QuotaArn": f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:lambda/{quota_code}",
                    "QuotaName": "Concurrent executions", "Value": value, "Unit": "None", "Adjustable": True,
                    "GlobalQuota": False}
        return original(self, service_code, quota_code)

    ServiceQuotasBackend.get_service_quota = get_service_quota
