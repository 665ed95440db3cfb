"""Collect evidence from every account and governed region, concurrently, never silently.

`collect_all` plans one unit of work per (account, region, collector) — global collectors
(IAM, S3 account level, Organizations, StackSets, Identity Center) once per account in
the home region, management-only collectors only in the management account — and runs
the units on a thread pool. Member accounts are read through the `CharterEvidenceReader`
role (assumed once per account, up front); the caller's own account is read with the
caller's session. Calls are bounded per (account, service) by semaphores and retried by
the session factory's adaptive retry mode.

Every planned unit yields evidence, or `kind="gap"` saying what could not be read (role not
assumable, access denied, region unreachable, throttled beyond retries) and how to fix it;
when only some of a collector's checks could not be read, the unit yields its evidence for
the others and one gap per check that could not be (see `Recorder.optional`). A run never
skips a unit silently and never crashes on one account; completeness is that every planned
(collector, account, region) has an artifact.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import botocore.exceptions

from charter import __version__ as CHARTER_VERSION
from charter.aws import (
    DENIED_PREFIXES,
    THROTTLED_CODES,
    AwsError,
    SessionFactory,
    error_code,
    error_message,
    explain,
    paginate,
)
from charter.config.model import OrgConfig
from charter.evidence.artifact import ApiCall, Artifact, utcnow
from charter.evidence.collectors import all_collectors
from charter.evidence.collectors import get as get_collector
from charter.evidence.collectors.base import (
    Collector,
    Context,
    Recorder,
    Target,
    Throttle,
    criteria_for,
)
from charter.naming import EVIDENCE_READER_ROLE, MEMBER_ACCESS_ROLE

Progress = Callable[[int, int, Artifact], None]
log = logging.getLogger(__name__)

_REGION_OFF = {"OptInRequired", "UnrecognizedClientException", "InvalidClientTokenId", "AuthFailure",
               "SubscriptionRequiredException"}


class DiscoveryError(AwsError):
    """The account list could not be read from Organizations."""

    code = "CHARTER-471"
    fix = "Run from the management account (or a delegated administrator), or pass the accounts explicitly."


@dataclass(frozen=True)
class AccountRef:
    """An account to read, with what org.yaml says about it (when it is there)."""

    id: str
    name: str
    environment: str | None = None
    email: str | None = None
    status: str = "ACTIVE"


@dataclass(frozen=True)
class Unit:
    collector: Collector
    target: Target


@dataclass
class _Access:
    """How one account is reached: its client factory and the identity the calls run as."""

    caller_arn: str
    account_id: str | None  # None: the caller's own session
    error: str | None = None


def _match(cfg: OrgConfig, account_id: str, name: str, email: str | None) -> tuple[str, str | None]:
    """(name, environment) from org.yaml, matched by account id, email, then name."""
    for acct in cfg.accounts:
        if (acct.account_id and acct.account_id == account_id) or (
                email and str(acct.email).lower() == email.lower()) or acct.name == name:
            return acct.name, acct.environment
    return name, None


#: Organizations' answer for an account that belongs to no organization.
NO_ORGANIZATION = "AWSOrganizationsNotInUseException"


def caller_account(sessions: SessionFactory) -> AccountRef:
    """The credentials' own account, named by its IAM account alias when it has one."""
    try:
        account_id = sessions.client("sts").get_caller_identity()["Account"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise AwsError(f"no usable AWS credentials: {error_message(exc)}",
                       hint="pass --profile NAME for real AWS, or --local for the embedded AWS") from None
    try:
        aliases = sessions.client("iam").list_account_aliases().get("AccountAliases", [])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        aliases = []  # the alias is only a name: the account is read all the same
    return AccountRef(account_id, aliases[0] if aliases else account_id)


def _own(sessions: SessionFactory, cfg: OrgConfig) -> AccountRef:
    own = caller_account(sessions)
    name, env = _match(cfg, own.id, own.name, None)
    return AccountRef(own.id, name, env)


def discover_accounts(sessions: SessionFactory, cfg: OrgConfig) -> list[AccountRef]:
    """Every account of the organization (ListAccounts, drained), named as in org.yaml; an
    account in no organization is its own whole estate: the caller's account alone."""
    try:
        drained = paginate(sessions.client("organizations"), "list_accounts", "Accounts")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        code = error_code(exc)
        if code == NO_ORGANIZATION:
            return [_own(sessions, cfg)]
        org_side = code.startswith(DENIED_PREFIXES) or code.startswith("AWSOrganizations")
        raise DiscoveryError(f"cannot list the organization's accounts: {error_message(exc)}",
                             hint="use the management account's credentials, or pass account ids" if org_side
                             else explain(exc).hint) from None
    if not drained.items:  # an organization always lists its management account: this is none
        return [_own(sessions, cfg)]
    out = []
    for acct in drained.items:
        name, env = _match(cfg, acct["Id"], acct.get("Name", ""), acct.get("Email"))
        out.append(AccountRef(acct["Id"], name, env, acct.get("Email"), acct.get("Status", "ACTIVE")))
    return sorted(out, key=lambda a: a.id)


def _fix_for(exc: BaseException, service: str, operation: str, account: str, region: str, role: str) -> str:
    code = error_code(exc)
    if isinstance(exc, AwsError):
        return exc.hint or exc.fix
    if code in THROTTLED_CODES:
        return "throttled beyond the adaptive retries: rerun later or with fewer workers (--max-workers)"
    if code.startswith(DENIED_PREFIXES):
        return (f"allow {service}:{operation} to {role} in {account} (it needs SecurityAudit + ViewOnlyAccess), "
                "and check no SCP denies it")
    if code in _REGION_OFF:
        return f"enable region {region} for account {account}, or remove it from governed_regions"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError
                  | botocore.exceptions.ReadTimeoutError):
        return f"the {service} endpoint in {region} is unreachable: check the network, proxy and that the region exists"
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status >= 500:
            return (f"the {service} endpoint failed {service}:{operation} with HTTP {status} (given up without "
                    "further retries when it cannot succeed); rerun later, or check what answers at the endpoint")
        return f"AWS refused {service}:{operation}; see the message, then rerun `charter evidence collect`"
    return "an unexpected error in Charter: rerun with --collector to isolate it and report it with this artifact"


class _Clients:
    """One client per (account, region, service), shared by the units of an account (boto3
    clients are thread-safe; creating one is the expensive part), and let go of when the
    account is done: each client holds its own copy of the session's event hooks, endpoint
    rules and connection pool, so keeping every account's clients to the end of a run makes
    memory, and the garbage collector's passes over it, grow with the organization."""

    def __init__(self, sessions: SessionFactory, role_name: str) -> None:
        self.sessions = sessions
        self.role_name = role_name
        self._cache: dict[tuple[str | None, str, str], Any] = {}
        self._lock = threading.Lock()

    def factory(self, account_id: str | None) -> Callable[[str, str], Any]:
        def make(service: str, region: str) -> Any:
            key = (account_id, region, service)
            with self._lock:
                found = self._cache.get(key)
            if found is None:
                found = self.sessions.client(service, region=region, account_id=account_id,
                                             role_name=self.role_name if account_id else None)
                with self._lock:
                    found = self._cache.setdefault(key, found)
            return found
        return make

    def release(self, account_id: str | None) -> None:
        """Close and forget the account's clients (call when none of its units runs any more)."""
        with self._lock:
            gone = [self._cache.pop(key) for key in [k for k in self._cache if k[0] == account_id]]
        for client in gone:
            close = getattr(client, "close", None)  # botocore >= 1.25: the connection pool's sockets
            if close:
                close()


class FanOut:
    """A planned run; `collect_all` is the one-call form."""

    def __init__(self, sessions: SessionFactory, cfg: OrgConfig, accounts: Sequence[AccountRef], *,
                 regions: Sequence[str] | None = None, collectors: Iterable[str | Collector] | None = None,
                 role_name: str = EVIDENCE_READER_ROLE, throttle: Throttle | None = None,
                 management_account_id: str | None = None, now: datetime | None = None,
                 skip: Iterable[tuple[str, str, str]] = (), sources: dict[str, Any] | None = None) -> None:
        self.sessions = sessions
        self.cfg = cfg
        self.accounts = list(accounts)
        self.home = cfg.organization.home_region
        #: Regional collectors run in each of these; global ones once, in the home region.
        self.regions = list(regions or cfg.organization.governed_regions)
        chosen = list(collectors) if collectors is not None else all_collectors()
        self.collectors = [c if isinstance(c, Collector) else get_collector(c) for c in chosen]
        self.role_name = role_name
        self.throttle = throttle or Throttle()
        self.management_account_id = management_account_id
        self.now = now or utcnow()
        self.clients = _Clients(sessions, role_name)
        self.account_ids = {a.name: a.id for a in self.accounts}
        self._caller: tuple[str, str] | None = None
        #: (collector, account id, region) already stored by an earlier pass of a resumed run.
        self.skip = frozenset(skip)
        #: `Context.sources`: what collectors read that the caller fetched before the run
        self.sources = dict(sources or {})

    # -- planning ---------------------------------------------------------------------
    def caller(self) -> tuple[str, str]:
        """(account id, ARN) of the credentials the run uses."""
        if self._caller is None:
            try:
                ident = self.sessions.client("sts", region=self.home).get_caller_identity()
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                raise AwsError(f"no usable AWS credentials: {error_message(exc)}",
                               hint="pass --profile NAME for real AWS, or --local for the embedded AWS") from None
            self._caller = (ident["Account"], ident["Arn"])
        return self._caller

    def units_for(self, account: AccountRef) -> list[Unit]:
        mgmt = account.id == (self.management_account_id or self.cfg.organization.management_account_id)
        units = []
        for collector in self.collectors:
            for region in ([self.home] if collector.scope == "global" else self.regions):
                target = Target(account.id, account.name, region, account.environment, mgmt)
                if collector.applies_to(target, self.home) and (
                        (collector.name, account.id, region) not in self.skip):
                    units.append(Unit(collector, target))
        return units

    def plan(self) -> list[Unit]:
        return [u for a in self.accounts if a.status == "ACTIVE" for u in self.units_for(a)]

    # -- running ----------------------------------------------------------------------
    def _access(self, account: AccountRef) -> _Access:
        caller_account, caller_arn = self.caller()
        # Every account is read through the read-only role, the caller's own account too: the
        # collector and the operator hold no read permissions of their own (least privilege),
        # and the reader trusts both of them in every account. OrganizationAccountAccessRole
        # (`charter assess` of an organization without Charter) exists only in member accounts:
        # AWS never creates it in the management account, so the caller reads that one itself.
        own_directly = not self.role_name or self.role_name == MEMBER_ACCESS_ROLE
        if account.id == caller_account and (own_directly or f":assumed-role/{self.role_name}/" in caller_arn):
            return _Access(caller_arn, None)
        try:
            sts = self.clients.factory(account.id)("sts", self.home)
            return _Access(sts.get_caller_identity()["Arn"], account.id)
        except AwsError as exc:
            return _Access(caller_arn, account.id, f"{exc.message}; fix: {exc.hint or exc.fix}")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            fix = _fix_for(exc, "sts", "GetCallerIdentity", account.id, self.home, self.role_name)
            return _Access(caller_arn, account.id, f"{account.id}: cannot read with {self.role_name}: "
                                                  f"{error_message(exc)}; fix: {fix}")

    def _gap(self, unit: Unit, caller_arn: str, error: str, calls: list[ApiCall] | None = None,
             controls: list[str] | None = None) -> Artifact:
        t = unit.target
        controls = controls if controls is not None else unit.collector.controls
        return Artifact(kind="gap", collector=unit.collector.name, controls=controls,
                        criteria=criteria_for(controls), account_id=t.account_id,
                        account_name=t.account_name, region=t.region, collected_at=self.now, caller_arn=caller_arn,
                        charter_version=CHARTER_VERSION, calls=calls or [], error=error)

    def run_unit(self, unit: Unit, access: _Access) -> list[Artifact]:
        """The unit's evidence, and a gap for each check that could not be read (or one gap
        for the whole unit when nothing could be)."""
        if access.error:
            return [self._gap(unit, access.caller_arn, access.error)]
        t = unit.target
        rec = Recorder(self.clients.factory(access.account_id), t.account_id, t.region, self.throttle)
        ctx = Context(self.cfg, t, self.now, self.account_ids, self.sources)
        try:
            artifact = unit.collector.collect(rec, ctx, access.caller_arn, CHARTER_VERSION)
        except Exception as exc:  # noqa: BLE001 - one unit must never end the run
            return [self._unit_gap(unit, access, rec, exc)]
        by_cause: dict[tuple[str, ...], list[str]] = {}
        for control, parts in sorted(rec.skipped.items()):
            by_cause.setdefault(tuple(sorted(parts)), []).append(control)
        gaps = [self._check_gap(unit, access, rec, controls, list(parts)) for parts, controls in sorted(by_cause.items())]
        return ([artifact] if artifact.controls else []) + gaps

    def _check_gap(self, unit: Unit, access: _Access, rec: Recorder, controls: list[str], parts: list[str]) -> Artifact:
        """A gap for the checks of a collector that needed what could not be read (`parts`),
        while its other checks have their evidence."""
        t = unit.target
        reasons = []
        for part in parts:
            why = rec.unreadable[part]
            if why.error is not None and why.call is not None:
                fix = _fix_for(why.error, why.call.service, why.call.operation, t.account_id, t.region, self.role_name)
                reasons.append(f"{why.message}; fix: {fix}")
            else:
                reasons.append(why.message)
        error = (f"{t.account_id}/{t.region} {', '.join(controls)} ({', '.join(parts)}): {' | '.join(reasons)} "
                 f"(the collector's other checks are in its evidence)")
        return self._gap(unit, access.caller_arn, error, rec.calls, controls=controls)

    def _unit_gap(self, unit: Unit, access: _Access, rec: Recorder, exc: BaseException) -> Artifact:
        """A gap for the whole unit: its essential read failed (or Charter did)."""
        t = unit.target
        last = rec.calls[-1] if rec.calls else None
        service, op = (last.service, last.operation) if last else (unit.collector.name, "?")
        fix = _fix_for(exc, service, op, t.account_id, t.region, self.role_name)
        text = error_message(exc) if not isinstance(exc, AwsError) else exc.message
        if not isinstance(exc, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError | AwsError):
            text = f"{type(exc).__name__}: {exc}"
        return self._gap(unit, access.caller_arn, f"{t.account_id}/{t.region} {service}:{op}: {text}; fix: {fix}",
                         rec.calls)

    def run(self, *, max_workers: int = 16, progress: Progress | None = None,
            processes: int = 1) -> Iterator[Artifact]:
        """Artifacts in completion order (the store orders them; order carries no meaning).

        `processes > 1` splits the accounts into that many groups of about equal work, each
        read by its own process with `max_workers / processes` threads (see `_run_processes`);
        `processes=0` picks the number from the organization's size (`auto_processes`)."""
        active = [a for a in self.accounts if a.status == "ACTIVE"]
        skipped = [a for a in self.accounts if a.status != "ACTIVE"]
        planned = self.plan()
        total = len(planned) + len(skipped)
        self.caller()  # once, before the workers need it
        finished: set[tuple[str, str, str]] = set()

        def report(artifact: Artifact) -> Artifact:
            # a unit may yield its evidence and gaps of single checks: it counts once
            finished.add((artifact.collector, artifact.account_id, artifact.region))
            if progress:
                progress(len(finished), total, artifact)
            return artifact

        for acct in skipped:
            yield report(Artifact(kind="gap", collector="fanout", controls=[], account_id=acct.id,
                                  account_name=acct.name, region=self.home, collected_at=self.now,
                                  caller_arn=self.caller()[1], charter_version=CHARTER_VERSION,
                                  error=f"account {acct.status}: not collected (suspended accounts are denied "
                                        "everything by ORG-05; closed accounts cannot be read)"))
        if processes <= 0:
            processes = auto_processes(len(active))
        groups = self.groups(active, processes) if max_workers > 1 and processes > 1 else [active]
        stream = self._run_processes(groups, max_workers) if len(groups) > 1 else self._run_threads(active, max_workers)
        try:
            for artifact in stream:
                yield report(artifact)
        finally:
            stream.close()

    def _run_threads(self, accounts: Sequence[AccountRef], max_workers: int,
                     stop: Callable[[], bool] = lambda: False) -> Iterator[Artifact]:
        """The accounts' units on a thread pool (in this process). `stop()` true: no new unit
        starts (those running finish); the process pool's workers use it when the run is cut short."""
        if max_workers <= 1:
            for acct in accounts:
                access = self._access(acct)
                try:
                    for unit in self.units_for(acct):
                        if stop():
                            return
                        yield from self.run_unit(unit, access)
                finally:
                    self.clients.release(access.account_id)
            return
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="charter-evidence") as pool:
            # Reach every account first (one role assumption each), then run its units as
            # soon as its access is known.
            pending: dict[Future, tuple[str, Any]] = {pool.submit(self._access, a): ("access", a) for a in accounts}
            running: dict[str, int] = {}  # account id -> its units not finished yet
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    kind, payload = pending.pop(fut)
                    if kind == "access":
                        if fut.cancelled():
                            continue
                        account, access = payload.id, fut.result()
                        units = [] if stop() else self.units_for(payload)
                        running[account] = len(units)
                        for unit in units:
                            pending[pool.submit(self.run_unit, unit, access)] = ("unit", (account, access))
                    else:
                        account, access = payload
                        running[account] -= 1
                    if running[account] == 0:
                        self.clients.release(access.account_id)
                    if kind == "unit" and not fut.cancelled():
                        yield from fut.result()
                if stop():
                    for fut in pending:
                        fut.cancel()

    # -- several processes ------------------------------------------------------------
    def groups(self, accounts: Sequence[AccountRef], processes: int) -> list[list[AccountRef]]:
        """Accounts in at most `processes` groups of about the same number of units: the
        largest account first, each to the group with the fewest units so far (ties: the
        lower group). Deterministic for the same accounts, collectors and regions."""
        weights = {a.id: len(self.units_for(a)) for a in accounts}
        count = max(1, min(processes, len(accounts)))
        groups: list[list[AccountRef]] = [[] for _ in range(count)]
        load = [0] * count
        for acct in sorted(accounts, key=lambda a: (-weights[a.id], a.id)):
            i = min(range(count), key=lambda g: (load[g], g))
            groups[i].append(acct)
            load[i] += max(weights[acct.id], 1)
        return [sorted(g, key=lambda a: a.id) for g in groups if g]

    def _spec(self, index: int, group: Sequence[AccountRef], threads: int) -> _GroupSpec:
        registered = {c.name for c in all_collectors()}
        return _GroupSpec(
            index=index, sessions=self.sessions, cfg=self.cfg, accounts=self.accounts,
            group=[a.id for a in group], regions=self.regions,
            # registered collectors by name (the worker imports the same modules); others as objects
            collectors=[c.name if c.name in registered and get_collector(c.name) is c else c for c in self.collectors],
            role_name=self.role_name, limits=dict(self.throttle.limits), default_limit=self.throttle.default,
            management_account_id=self.management_account_id, now=self.now, skip=self.skip, sources=self.sources,
            caller=self.caller(), threads=threads)

    def _run_processes(self, groups: list[list[AccountRef]], max_workers: int) -> Iterator[Artifact]:
        """Each group of accounts in its own process, artifacts streamed back as they are made.

        One process's Python runs one thread at a time, and creating clients, signing,
        parsing and judging is CPU work: past a few dozen accounts a single process is
        CPU-bound long before AWS is. Accounts are independent (own role session, clients,
        per-(account, service) semaphores), so a group runs exactly as the threads would run
        it, with its own `SessionFactory` (rebuilt from the profile, region, endpoint and
        `on_client` hooks, which must therefore be picklable). Processes are spawned, not
        forked: the caller may have threads. A process that fails or dies leaves no unit
        silent: every unit it did not return becomes a gap artifact naming the failure.
        Where processes cannot be made (AWS Lambda has no /dev/shm for their locks), the
        run falls back to threads in this process.
        """
        threads = max(1, -(-max_workers // len(groups)))
        try:
            ctx = multiprocessing.get_context("spawn")
            results = ctx.Queue()
            stop = ctx.Event()
        except (OSError, NotImplementedError, ImportError) as exc:
            log.info("no worker processes (%s): reading every account in this process", exc)
            yield from self._run_threads([a for g in groups for a in g], max_workers)
            return
        specs = [self._spec(i, g, threads) for i, g in enumerate(groups)]
        try:
            pickle.dumps(specs)
        except (pickle.PicklingError, TypeError, AttributeError, RuntimeError) as exc:
            # e.g. an `on_client` hook that is a closure: the workers could not rebuild the sessions
            log.warning("cannot hand the run to worker processes (%s): reading every account in this process", exc)
            yield from self._run_threads([a for g in groups for a in g], max_workers)
            return
        expected = {i: {(u.collector.name, u.target.account_id, u.target.region)
                        for a in group for u in self.units_for(a)} for i, group in enumerate(groups)}
        seen: dict[int, set[tuple[str, str, str]]] = {i: set() for i in expected}
        finished: set[int] = set()
        failures: dict[int, str] = {}

        def receive() -> Artifact | None:
            """The next artifact from a worker, or None (an end marker, or nothing yet)."""
            try:
                index, item = results.get(timeout=0.5)
            except queue.Empty:
                # a worker that died (killed, out of memory) never sends its end marker
                for fut, index in futures.items():
                    if index not in finished and fut.done() and fut.exception() is not None:
                        failures[index] = _describe(fut.exception())
                        finished.add(index)
                return None
            if isinstance(item, Artifact):
                seen[index].add((item.collector, item.account_id, item.region))
                return item
            finished.add(index)  # the end marker: None, or the text of the worker's exception
            if item:
                failures[index] = item
            return None

        pool = ProcessPoolExecutor(max_workers=len(groups), mp_context=ctx, initializer=_worker_init,
                                   initargs=(results, stop))
        futures: dict[Future, int] = {}
        try:
            futures.update({pool.submit(_worker_run, spec): spec.index for spec in specs})
            while len(finished) < len(groups):
                artifact = receive()
                if artifact is not None:
                    yield artifact
        finally:
            if len(finished) < len(groups):
                # Cut short (the consumer stopped, or raised): no new unit starts, and what the
                # workers still send is read and dropped, since a process cannot exit while its
                # queue's pipe holds unread data.
                stop.set()
                while len(finished) < len(groups):
                    receive()
            pool.shutdown(wait=True, cancel_futures=True)
            results.close()
        for index in sorted(failures):
            yield from self._lost(groups[index], expected[index] - seen[index], failures[index])

    def _lost(self, group: Sequence[AccountRef], missing: set[tuple[str, str, str]], why: str) -> Iterator[Artifact]:
        """Gap artifacts for the units a failed worker process did not return."""
        caller_arn = self.caller()[1]
        for acct in group:
            for unit in self.units_for(acct):
                if (unit.collector.name, unit.target.account_id, unit.target.region) in missing:
                    yield self._gap(unit, caller_arn, f"{unit.target.account_id}/{unit.target.region}: the worker "
                                                      f"process reading this account failed: {why}; fix: rerun "
                                                      "`charter evidence collect` (it resumes), or run with "
                                                      "--processes 1 and report the error")


#: Accounts per worker process when the count is automatic. Starting a process (importing
#: boto3 and every collector, building its sessions) costs about a second of CPU: below this
#: many accounts per process, threads in one process finish first.
ACCOUNTS_PER_PROCESS = 16


def auto_processes(active_accounts: int) -> int:
    """One process per `ACCOUNTS_PER_PROCESS` active accounts, at most one per usable CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, active_accounts // ACCOUNTS_PER_PROCESS))


@dataclass
class _GroupSpec:
    """What a worker process needs to read its group of accounts exactly as this process would."""

    index: int
    sessions: SessionFactory
    cfg: OrgConfig
    accounts: list[AccountRef]  # all of them: collectors map account names to ids across the organization
    group: list[str]
    regions: list[str]
    collectors: list[str | Collector]
    role_name: str
    limits: dict[str, int]
    default_limit: int
    management_account_id: str | None
    now: datetime
    skip: frozenset[tuple[str, str, str]]
    sources: dict[str, Any]
    caller: tuple[str, str]
    threads: int


_WORKER: dict[str, Any] = {}


def _worker_init(results: Any, stop: Any) -> None:
    _WORKER["results"], _WORKER["stop"] = results, stop


def _worker_run(spec: _GroupSpec) -> int:
    """In a worker process: read one group of accounts, putting each artifact on the results
    queue as it is made, then an end marker (None, or the error that ended the group early)."""
    results, stop = _WORKER["results"], _WORKER["stop"]
    count = 0
    try:
        fan = FanOut(spec.sessions, spec.cfg, spec.accounts, regions=spec.regions, collectors=spec.collectors,
                     role_name=spec.role_name, throttle=Throttle(spec.limits, spec.default_limit),
                     management_account_id=spec.management_account_id, now=spec.now, skip=spec.skip,
                     sources=spec.sources)
        fan._caller = spec.caller
        members = set(spec.group)
        stream = fan._run_threads([a for a in fan.accounts if a.id in members], spec.threads, stop.is_set)
        try:
            for artifact in stream:
                results.put((spec.index, artifact))
                count += 1
        finally:
            stream.close()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which turns the rest into gaps
        results.put((spec.index, _describe(exc)))
        raise
    results.put((spec.index, None))
    return count


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, AwsError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def collect_all(sessions: SessionFactory, cfg: OrgConfig,
                accounts: Sequence[tuple[str, str] | AccountRef | str] | None = None, *,
                regions: Sequence[str] | None = None, collectors: Iterable[str | Collector] | None = None,
                max_workers: int = 16, progress: Progress | None = None, role_name: str = EVIDENCE_READER_ROLE,
                throttle: Throttle | None = None, now: datetime | None = None,
                skip: Iterable[tuple[str, str, str]] = (), processes: int = 1,
                sources: dict[str, Any] | None = None) -> Iterator[Artifact]:
    """Evidence from every account and governed region (see the module docstring).

    `accounts`: (account_id, account_name) pairs, AccountRefs or bare ids; when None, every
    account of the organization (Organizations ListAccounts, drained), matched to org.yaml
    by email/name. `max_workers=1` runs sequentially (same artifacts, same calls per unit).
    `skip`: (collector, account id, region) triples a resumed run already stored; not read again.
    `progress(done, total, artifact)` is called after each artifact (in this process).
    `processes`: split the accounts over that many worker processes, `max_workers` threads in
    all (see `FanOut._run_processes`); same artifacts as 1, which reads everything here; 0
    picks it from the number of accounts and CPUs (`auto_processes`).
    `sources`: `Context.sources`, by collector name (e.g. the access reviews the store holds).
    """
    # the organization says which account manages it (any member may ask); org.yaml's id is
    # the fallback where Organizations cannot be read
    try:
        mgmt = sessions.client("organizations").describe_organization()["Organization"]["MasterAccountId"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        mgmt = cfg.organization.management_account_id
    if accounts is None:
        refs = discover_accounts(sessions, cfg)
    else:
        refs = []
        for entry in accounts:
            if isinstance(entry, AccountRef):
                refs.append(entry)
            elif isinstance(entry, str):
                cfg_name, env = _match(cfg, entry, entry, None)
                refs.append(AccountRef(entry, cfg_name, env))
            else:
                account_id, name = entry
                cfg_name, env = _match(cfg, account_id, name, None)
                refs.append(AccountRef(account_id, cfg_name, env))
    run = FanOut(sessions, cfg, refs, regions=regions, collectors=collectors, role_name=role_name,
                 throttle=throttle, management_account_id=mgmt, now=now, skip=skip, sources=sources)
    if run.management_account_id is None:
        # Without org.yaml's id or Organizations, the caller's own account is taken as management.
        run.management_account_id = run.caller()[0]
    yield from run.run(max_workers=max_workers, progress=progress, processes=processes)
