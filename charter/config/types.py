"""The value types `org.yaml`'s sections share (names, regions, retention, the strict base model).

Their own module so the sections that live in modules of their own (`workloads.py`,
`cost.py`) build on them without importing the model that assembles every section: the
arrows go types <- sections <- model, with no cycle.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ROOT = "Root"

Environment = Literal["dev", "staging", "prod", "security", "audit", "log-archive", "shared", "sandbox"]
#: Environments that run workloads and get the network, backup and KMS workload baseline.
WORKLOAD_ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod", "shared", "sandbox")

#: CloudWatch Logs accepts only these retention values (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    2557, 2922, 3288, 3653,
)


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """Regions botocore knows, across partitions (fast: no cfn-lint import)."""
    import boto3

    session = boto3.session.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("sts", partition_name=partition))
        regions.update(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(regions)


def _check_region(value: str) -> str:
    if value not in known_regions():
        from difflib import get_close_matches

        close = get_close_matches(value, sorted(known_regions()), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"'{value}' is not an AWS region{hint}")
    return value


def _check_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        allowed = min(LOG_RETENTION_DAYS, key=lambda d: abs(d - value))
        raise ValueError(
            f"{value} is not a retention CloudWatch Logs accepts; nearest allowed is {allowed} "
            "(2557 = 7 years)"
        )
    return value


Region = Annotated[str, AfterValidator(_check_region)]
RetentionDays = Annotated[int, AfterValidator(_check_retention)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,48}[a-z0-9]$")]
OUName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9 _-]{0,127}$")]
AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
ControlId = Annotated[str, Field(pattern=r"^[A-Z]{2,6}-\d{2,3}$")]
Cidr = Annotated[str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")]


class StrictModel(BaseModel):
    """Unknown keys are errors (the loader adds a did-you-mean)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
