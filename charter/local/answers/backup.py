"""AWS Backup: the jobs of the deployed plans."""

from __future__ import annotations

from typing import Any

from charter.local.answers import operation, state
from charter.local.answers.protocol import Call


@operation("backup", "ListBackupJobs")
def list_backup_jobs(call: Call) -> dict[str, Any]:
    """The jobs the account and region's plans ran: none, since no plan's schedule fires in the
    embedded AWS (on AWS too, a plan has run no job until its first window)."""
    return {"BackupJobs": []}


#: AWS Backup's DynamoDB setting before anyone changes it (accounts that started using AWS
#: Backup before November 2021 have the advanced features off; Charter never assumes otherwise).
_DEFAULT_MANAGEMENT = {"DynamoDB": False}


@operation("backup", "UpdateRegionSettings")
def update_region_settings(call: Call) -> dict[str, Any]:
    """Keeps the account and region's settings; a partial map changes only the types it names,
    as on AWS."""
    held = (state.items("backup-region-settings", call.account, call.region) or [{}])[0]
    settings = {k: {**held.get(k, {}), **(call.params.get(k) or {})}
                for k in ("ResourceTypeOptInPreference", "ResourceTypeManagementPreference")}
    state.put("backup-region-settings", call.account, call.region, "settings", settings)
    return {}


@operation("backup", "DescribeRegionSettings")
def describe_region_settings(call: Call) -> dict[str, Any]:
    held = (state.items("backup-region-settings", call.account, call.region) or [{}])[0]
    return {"ResourceTypeOptInPreference": held.get("ResourceTypeOptInPreference", {}),
            "ResourceTypeManagementPreference": {**_DEFAULT_MANAGEMENT,
                                                 **held.get("ResourceTypeManagementPreference", {})}}
