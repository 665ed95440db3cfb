"""The machinery every collector shares: record each AWS call, then judge a snapshot.

Prowler's split, made auditable. A collector's `fetch` reads one AWS area once per
account and region through a `Recorder`; the recorder makes each call, drains every
paginator, keeps the exact parameters and page counts (`ApiCall`) and the raw responses
(JSON-safe, without `ResponseMetadata`) for `Artifact.raw`. `fetch` returns a snapshot: a
plain JSON-safe dict. Each control's evaluation is then a pure function
`check(snapshot, ctx) -> list[PopulationItem]`: no AWS, no clock (the time is `ctx.now`),
so it can be tested with a hand-written snapshot and no call is ever made twice.

A read that is not essential to every check is made through `Recorder.optional(part, ...)`:
when AWS refuses it (or the endpoint lacks the operation) the part is recorded as
unreadable and the fetch goes on. Each check names the parts it needs (`@reads("part")`);
a check whose part could not be read is left out of the evidence and reported as a gap of
its own (the fan-out makes the gap artifact), while every other check of the collector
still judges what was read. A collector is never wholly a gap for one part it could not read.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, Literal, TypeVar

import botocore.exceptions

from charter.aws import error_code, error_message
from charter.config.model import OrgConfig
from charter.errors import CharterError
from charter.evidence.artifact import ApiCall, Artifact, PopulationItem, Result, utcnow

Scope = Literal["global", "regional"]

def criteria_for(controls: Iterable[str]) -> list[str]:
    """The criteria the controls serve, from the control catalog (the one place criteria are
    mapped to controls; it ships with the collector Lambda)."""
    from charter.controls.catalog import get_control

    out: set[str] = set()
    for control in controls:
        out.update(get_control(control).criteria)
    return sorted(out, key=_criterion_key)


def _criterion_key(crit: str) -> tuple[str, int, int]:
    head, _, tail = crit.partition(".")
    letters = head.rstrip("0123456789")
    major = int(head[len(letters):] or 0)
    return (letters, major, int(tail or 0))


# -- JSON-safe raw responses ------------------------------------------------------------

def json_safe(value: Any) -> Any:
    """Responses as JSON: datetimes as ISO 8601, bytes as UTF-8 text (or base64), no
    `ResponseMetadata` (request ids and retry counts would make identical evidence differ)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode()
    if hasattr(value, "read"):  # StreamingBody
        return json_safe(value.read())
    return value


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 text (as stored in snapshots) back to an aware datetime; None if absent."""
    if value in (None, "", "N/A", "no_information", "not_supported"):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


# -- targets, context, semaphores --------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """One account (and region) the fan-out reads."""

    account_id: str
    account_name: str
    region: str
    environment: str | None = None
    is_management: bool = False


@dataclass(frozen=True)
class Context:
    """Everything a check may look at besides the snapshot: the config, the target, the time."""

    cfg: OrgConfig
    target: Target
    now: datetime = field(default_factory=utcnow)
    #: account name -> id for every account in the run (identity center maps assignments).
    account_ids: dict[str, str] = field(default_factory=dict)
    #: What the caller read before the run for collectors whose source is not the account
    #: they run in, by collector name (plain data: it crosses to worker processes). The
    #: access_review collector's campaigns from the evidence store (evidence.access_review.ledger).
    sources: dict[str, Any] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def is_home_region(self) -> bool:
        return self.target.region == self.cfg.organization.home_region


#: In-flight calls per (account, service). AWS throttles per account (per region for most
#: services; account-wide for IAM, Organizations, Identity Center), so bounds are per account.
DEFAULT_SERVICE_LIMITS: dict[str, int] = {
    "iam": 4, "organizations": 2, "sso-admin": 3, "identitystore": 3, "cloudformation": 3, "s3": 8,
}
DEFAULT_SERVICE_LIMIT = 6


class Throttle:
    """Semaphores bounding concurrent calls per (account, service)."""

    def __init__(self, limits: dict[str, int] | None = None, default: int = DEFAULT_SERVICE_LIMIT) -> None:
        self.limits = {**DEFAULT_SERVICE_LIMITS, **(limits or {})}
        self.default = default
        self._sems: dict[tuple[str, str], threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def __call__(self, account_id: str, service: str) -> threading.BoundedSemaphore:
        key = (account_id, service)
        with self._lock:
            sem = self._sems.get(key)
            if sem is None:
                sem = self._sems[key] = threading.BoundedSemaphore(self.limits.get(service, self.default))
            return sem


# -- the recorder --------------------------------------------------------------------------

ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client
T = TypeVar("T")


@dataclass(frozen=True)
class Unreadable:
    """Why a part of a snapshot could not be read: the AWS error (and the call it came
    from), or, for data the caller was to supply, what is missing."""

    message: str
    error: BaseException | None = None
    call: ApiCall | None = None


class Recorder:
    """Makes and records the AWS calls of one collector in one account and region."""

    def __init__(self, client_factory: ClientFactory, account_id: str, region: str,
                 throttle: Throttle | None = None) -> None:
        self._factory = client_factory
        self.account_id = account_id
        self.region = region
        self.throttle = throttle or Throttle()
        self._clients: dict[tuple[str, str], Any] = {}
        self.calls: list[ApiCall] = []
        self.raw: dict[str, Any] = {}
        #: snapshot part -> why it could not be read (see `optional`)
        self.unreadable: dict[str, Unreadable] = {}
        #: control -> the unreadable parts its skipped checks needed (filled by `Collector.collect`)
        self.skipped: dict[str, list[str]] = {}

    def optional(self, part: str, read: Callable[[], T], default: T) -> T:
        """`read()`, or `default` when AWS refused it or could not be reached: `part` is then
        unreadable, and only the checks that need it become gaps."""
        before = len(self.calls)
        try:
            return read()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            call = self.calls[-1] if len(self.calls) > before else None
            where = f"{call.service}:{call.operation}: " if call else ""
            self.unreadable[part] = Unreadable(f"{where}{error_message(exc)}", exc, call)
            return default

    def missing(self, part: str, message: str) -> None:
        """`part` was to come from the caller (`Context.sources`) and did not."""
        self.unreadable[part] = Unreadable(message)

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self._factory(*key)
        return self._clients[key]

    def _key(self, service: str, api: str, params: dict[str, Any], region: str) -> str:
        key = f"{service}:{api}"
        if params:
            key += " " + json.dumps(json_safe(params), sort_keys=True, separators=(",", ":"))
        if region != self.region:
            key += f" @{region}"
        return key

    def call(self, service: str, method: str, *, region: str | None = None,
             expected: tuple[str, ...] = (), **params: Any) -> dict[str, Any] | None:
        """One (non-paginated) call. An error whose code is in `expected` (e.g. NoSuchEntity:
        "there is no password policy") is an answer, returned as None; others raise."""
        region = region or self.region
        client = self.client(service, region)
        api = client.meta.method_to_api_mapping.get(method, method)
        key = self._key(service, api, params, region)
        self.calls.append(ApiCall(service=service, operation=api, parameters=json_safe(params), region=region))
        try:
            with self.throttle(self.account_id, service):
                response = getattr(client, method)(**params)
        except botocore.exceptions.ClientError as exc:
            self.raw[key] = {"Error": {"Code": error_code(exc), "Message": error_message(exc)}}
            if error_code(exc) in expected:
                return None
            raise
        self.raw[key] = json_safe(response)
        return self.raw[key]

    def drain(self, service: str, method: str, result_key: str, *, region: str | None = None,
              expected: tuple[str, ...] = (), trim: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
              **params: Any) -> list[Any] | None:
        """Every item of a paginated call (all pages, always), recorded with its page count.
        `trim` keeps only the named fields of huge items (findings) in the raw record."""
        region = region or self.region
        client = self.client(service, region)
        api = client.meta.method_to_api_mapping.get(method, method)
        if not client.can_paginate(method):
            response = self.call(service, method, region=region, expected=expected, **params)
            return None if response is None else list(response.get(result_key, []))
        key = self._key(service, api, params, region)
        record = ApiCall(service=service, operation=api, parameters=json_safe(params), region=region,
                         pages=0, drained=False)
        self.calls.append(record)
        items: list[Any] = []
        pages: list[Any] = []
        try:
            iterator = iter(client.get_paginator(method).paginate(**params))
            while True:
                with self.throttle(self.account_id, service):
                    page = next(iterator, None)
                if page is None:
                    break
                record.pages += 1
                page_items = json_safe(page.get(result_key, []))
                items.extend(page_items)
                kept = {k: v for k, v in json_safe(page).items() if k != result_key}
                kept[result_key] = [trim(i) for i in page_items] if trim else page_items
                pages.append(kept)
        except botocore.exceptions.ClientError as exc:
            self.raw[key] = {"Error": {"Code": error_code(exc), "Message": error_message(exc)}, "Pages": pages}
            if error_code(exc) in expected:
                record.drained = True  # the service answered: there is nothing to list
                return None
            raise
        record.drained = True
        record.pages = max(record.pages, 1)
        self.raw[key] = {"Pages": pages}
        return items


# -- collectors ------------------------------------------------------------------------------

Snapshot = dict[str, Any]
Fetch = Callable[[Recorder, Context], Snapshot]
Check = Callable[[Snapshot, Context], list[PopulationItem]]


def reads(*parts: str) -> Callable[[Any], Any]:
    """Mark a check as needing these snapshot parts (see `Recorder.optional`)."""
    def mark(check: Any) -> Any:
        check.reads = tuple(parts)
        return check
    return mark


def check_name(check: Check) -> str:
    """`check_trails`, or `check_scp[ORG-02]` for a check bound to one control."""
    if isinstance(check, partial):
        bound = ",".join(str(v) for v in check.keywords.values())
        return f"{check_name(check.func)}[{bound}]" if bound else check_name(check.func)
    return getattr(check, "__name__", type(check).__name__)


def item(id: str, control: str, result: Result | bool, reason: str, **attributes: Any) -> PopulationItem:
    """A population item; `result` True/False mean pass/fail."""
    if isinstance(result, bool):
        result = "pass" if result else "fail"
    return PopulationItem(id=id, control=control, result=result, reason=reason, attributes=json_safe(attributes))


@dataclass(frozen=True)
class Collector:
    """One AWS area: fetch once, then one pure check per control (or more)."""

    name: str
    description: str
    fetch: Fetch
    checks: tuple[tuple[str, Check], ...]
    scope: Scope = "regional"
    management_only: bool = False
    services: tuple[str, ...] = ()
    #: Controls whose checks judge what Charter's landing zone deploys and org.yaml names (its
    #: SCP statements, StackSets, log-archive buckets, permission sets, review campaigns): an
    #: assessment of an account without that landing zone reports them "not deployed".
    landing_zone: tuple[str, ...] = ()
    #: Every call `fetch` makes, as IAM actions (`iam:GetCredentialReport`): what the evidence
    #: reader must be allowed in every account it reads. `charter preflight` evaluates them;
    #: a test checks every call a collector's run records is declared here.
    calls: tuple[str, ...] = ()

    @property
    def controls(self) -> list[str]:
        return sorted({control for control, _ in self.checks})

    def applies_to(self, target: Target, home_region: str) -> bool:
        if self.management_only and not target.is_management:
            return False
        return self.scope == "regional" or target.region == home_region

    def evaluate(self, snapshot: Snapshot, ctx: Context, unreadable: Iterable[str] = (),
                 skipped: dict[str, list[str]] | None = None) -> list[PopulationItem]:
        """Every check's population; a check that needs an `unreadable` part is not run (it
        is recorded in `skipped`: control -> parts)."""
        missing = set(unreadable)
        out: list[PopulationItem] = []
        for control, check in self.checks:
            needs = [p for p in getattr(check, "reads", ()) if p in missing]
            if needs:
                if skipped is not None:
                    skipped.setdefault(control, []).extend(n for n in needs if n not in skipped.get(control, []))
                continue
            for it in check(snapshot, ctx):
                if it.control != control:  # a check speaks only to the control it is registered for
                    it = it.model_copy(update={"control": control})
                out.append(it)
        return out

    def collect(self, rec: Recorder, ctx: Context, caller_arn: str, charter_version: str) -> Artifact:
        """The evidence of the checks that could be read; the others are in `rec.skipped`."""
        snapshot = self.fetch(rec, ctx)
        population = self.evaluate(snapshot, ctx, rec.unreadable, rec.skipped)
        judged = sorted({control for control, check in self.checks
                         if not any(p in rec.unreadable for p in getattr(check, "reads", ()))})
        raw: dict[str, Any] = {"responses": rec.raw, "snapshot": json_safe(snapshot)}
        if rec.unreadable:
            raw["unreadable"] = {part: u.message for part, u in rec.unreadable.items()}
        return Artifact(
            collector=self.name, controls=judged, criteria=criteria_for(judged),
            account_id=ctx.target.account_id, account_name=ctx.target.account_name, region=ctx.region,
            collected_at=ctx.now, caller_arn=caller_arn, charter_version=charter_version,
            calls=rec.calls, population=population, raw=raw,
        )


def days_between(later: datetime, earlier: datetime | None) -> int | None:
    return None if earlier is None else (later - earlier) // timedelta(days=1)


class UnknownCollectorError(CharterError):
    """A collector name that no module registers."""

    code = "CHARTER-470"
    fix = "Run `charter evidence collectors` to list the collector names."
