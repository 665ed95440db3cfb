"""CPU priority of the compute the embedded AWS runs for AWS: Processing containers and
Lambda functions (`pipelines`, `lambda_runtime`).

On AWS that compute has machines of its own; on a laptop it shares the cores with the
embedded AWS's services and with whatever is calling them (the local API a user is waiting
on). A burst of optimization jobs is minutes of CPU; run at the same priority it takes the
cores from the API that queued it. So these processes run niced: they get every core the
services leave idle and yield when a request needs one. A moderate niceness, not the
lowest: on a machine loaded by other work they must still finish within their timeouts.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("charter.local.priority")

#: Added to the niceness of a Processing container or Lambda runtime process.
BACKGROUND_NICENESS = 10


def lower(pid: int) -> None:
    """Run process `pid` (a child just started) at background priority; where the platform
    has no niceness (Windows) or refuses it, it runs as it is."""
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None:
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, pid)
        setpriority(os.PRIO_PROCESS, pid, min(19, current + BACKGROUND_NICENESS))
    except OSError as exc:  # the process already ended, or a sandbox forbids it
        log.debug("cannot lower the priority of %s: %s", pid, exc)
