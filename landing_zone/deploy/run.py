"""One deploy (or plan) run: clients, the change log, failures and the dry-run switch.

Every mutating AWS call goes through `Run.mutate`, which records a `Change` (what `charter
plan` prints) and, unless the run is a dry run, makes the call. Reads are made directly.
Failures are collected as one line each and never stop unrelated work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charter.aws import SessionFactory, error_code, error_message
from charter.config.model import OrgConfig
from charter.landing_zone.synth import Plan
from charter.naming import MEMBER_ACCESS_ROLE

from .context import DeployContext
from .journal import Journal

#: The longest wait between two polls of the same operation, in poll intervals.
POLL_BACKOFF_MAX = 6


@dataclass
class Change:
    """One thing deploy would do (plan) or did (deploy)."""

    #: organization | ou | account | scp | trusted-access | delegated-admin | stackset | stack-instances
    #: (a StackSet's instances, not a new StackSet) | stack | api-step
    area: str
    target: str  # e.g. "charter-baseline" or "OU Prod"
    action: str  # create | update | move | attach | detach | delete | enable | register | retry | call
    details: list[str] = field(default_factory=list)

    def render(self) -> str:
        head = f"{self.action:<8} {self.area} {self.target}"
        return head + "".join(f"\n           {d}" for d in self.details)


@dataclass
class Run:
    cfg: OrgConfig
    sessions: SessionFactory | None
    plan: Plan
    out_dir: Path
    journal: Journal
    dry_run: bool = False
    #: Seconds between polls of long-running operations (real AWS: seconds; embedded: ms).
    poll_interval: float = 5.0
    #: Maximum wait for one StackSet operation / stack / account creation.
    timeout: float = 3600.0
    progress: Any = None
    ctx: DeployContext = field(default_factory=DeployContext)
    changes: list[Change] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: Things not done for a reason that is not a failure (the embedded AWS lacks the API).
    notes: list[str] = field(default_factory=list)
    #: Planned stack names that failed as a whole (the stacks that depend on them are skipped).
    failed_stacks: set[str] = field(default_factory=set)
    #: Planned StackSet name -> account id -> why, for the accounts where it failed (the
    #: StackSets that depend on it skip those accounts only).
    failed_accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _clients: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    @property
    def home(self) -> str:
        return self.cfg.organization.home_region

    def client(self, service: str, region: str | None = None, account_id: str | None = None) -> Any:
        """A cached client; `account_id` other than the management account assumes the member role."""
        assert self.sessions is not None, "offline runs make no AWS calls"
        region = region or self.home
        member = account_id if account_id and account_id != self.ctx.management_account_id else None
        key = (service, region, member or "")
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self.sessions.client(
                    service, region=region, account_id=member, role_name=MEMBER_ACCESS_ROLE if member else None)
            return self._clients[key]

    def mutate(self, change: Change, fn: Callable[..., Any] | None = None, /, **kwargs: Any) -> Any:
        """Record `change`; make the call unless this is a dry run."""
        with self._lock:
            self.changes.append(change)
        if self.dry_run or fn is None:
            return None
        return fn(**kwargs)

    def fail(self, line: str) -> None:
        line = " ".join(line.split())  # one line per failure, whatever AWS put in the message
        with self._lock:
            if line not in self.failures:
                self.failures.append(line)

    def withdraw(self, line: str) -> None:
        """Take back a failure that a retry in this deploy has since fixed."""
        line = " ".join(line.split())
        with self._lock:
            if line in self.failures:
                self.failures.remove(line)

    def note(self, line: str) -> None:
        line = " ".join(line.split())
        with self._lock:
            if line not in self.notes:
                self.notes.append(line)

    def unsupported_here(self, exc: BaseException) -> bool:
        """True when the endpoint states that it answers operations it does not implement with
        this error code (the embedded AWS's 400 UnsupportedOperation) and it did: the call
        would work on AWS, so it is a note, never a failure. Real AWS never qualifies."""
        code = self.sessions.capabilities.unsupported_operation_code if self.sessions is not None else None
        return code is not None and error_code(exc) == code

    def fail_exc(self, where: str, exc: BaseException) -> None:
        self.fail(f"{where}: {describe_error(exc)}")

    def sleep(self, attempt: int = 0) -> None:
        """Wait before the next poll: the poll interval, growing by half with each `attempt`
        of the same wait up to `POLL_BACKOFF_MAX` intervals (an operation that runs long is
        asked less often; on a shared machine the embedded AWS gets the CPU instead)."""
        time.sleep(self.poll_interval * min(1.5 ** attempt, POLL_BACKOFF_MAX))

    def save_journal(self) -> None:
        with self._lock:
            self.journal.failures = list(self.failures)
            if not self.dry_run:
                self.journal.save(self.out_dir)


def describe_error(exc: BaseException) -> str:
    if not isinstance(exc, __import__("botocore.exceptions", fromlist=["ClientError"]).ClientError):
        # parser errors carry the whole response body; the first line says enough
        return f"{type(exc).__name__}: {str(getattr(exc, 'message', exc)).splitlines()[0][:300]}"
    code = error_code(exc)
    message = error_message(exc)
    if code and not message.startswith(code):
        return f"{code}: {message}"
    return message


#: How each action counts in a plan's totals, as terraform counts them.
_TOTAL_OF = {"create": "add", "register": "add", "enable": "add", "delete": "destroy"}


def unique_changes(changes: list[Change]) -> list[Change]:
    """Each change once (a dry run can meet the same change from two steps), in first-seen order."""
    seen: set[tuple[str, str, str, tuple[str, ...]]] = set()
    out = []
    for c in changes:
        key = (c.area, c.target, c.action, tuple(c.details))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def totals(changes: list[Change]) -> dict[str, int]:
    """{"add": N, "change": N, "destroy": N}: creations, everything that changes what exists
    (updates, moves, attachments, new StackSet instances count as changes of their StackSet), deletions."""
    out = {"add": 0, "change": 0, "destroy": 0}
    for c in changes:
        kind = _TOTAL_OF.get(c.action, "change")
        if c.area == "stack-instances" and kind == "add":
            kind = "change"
        out[kind] += 1
    return out
