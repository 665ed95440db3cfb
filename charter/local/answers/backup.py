"""AWS Backup: the jobs of the deployed plans."""

from __future__ import annotations

from typing import Any

from charter.local.answers import operation
from charter.local.answers.protocol import Call


@operation("backup", "ListBackupJobs")
def list_backup_jobs(call: Call) -> dict[str, Any]:
    """The jobs the account and region's plans ran: none, since no plan's schedule fires in the
    embedded AWS (on AWS too, a plan has run no job until its first window)."""
    return {"BackupJobs": []}
