"""The one way Charter talks to AWS: a session factory with profile, region and role.

Everything that calls AWS (deploy, evidence, access reviews, workloads) gets its clients
here, so that:
- retries are `adaptive` (client-side rate limiting on throttling) everywhere;
- member accounts are reached by assuming a named role, with credentials cached per
  (account, role) and refreshed before they expire;
- what the AWS behind the factory can do is stated, not guessed: `Capabilities` (real AWS
  or the embedded one, whether Lambda code runs, how often to poll, whether drift
  detection exists, ...) are set by whoever builds the factory (the embedded AWS sets its
  own), and code that must behave differently asks them; an `endpoint_url` only says where
  requests go (a VPC endpoint, a proxy, the embedded AWS alike);
- AWS errors a user can cause (no credentials, a role that can't be assumed, an
  unreachable endpoint) become `AwsError` with the account and region in the message.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.client
import botocore.exceptions
import botocore.session
from botocore.config import Config

from charter.errors import CharterError
from charter.retries import CallGuard, RetrySettings

#: Charter's defaults alone (no SDK settings read); clients get `SessionFactory.config`.
RETRY_CONFIG = RetrySettings().config()


#: Per loader a `SessionFactory` owns: (kind, service, API version) -> service model or client class.
_SHARED: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str | None], Any]] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def _share_per_loader(kind: str, build: Any) -> Any:
    """`build(creator, service_name, api_version | service_model)`, memoised per (loader,
    service, API version) for the loaders in `_SHARED`; unchanged for every other botocore user."""
    def shared(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        table = _SHARED.get(getattr(self, "_loader", None))
        if table is None:
            return build(self, service_name, *args, **kwargs)
        arg = args[0] if args else next(iter(kwargs.values()), None)
        key = (kind, service_name, arg if kind == "model" else getattr(arg, "api_version", None))
        found = table.get(key)
        if found is None:
            with _SHARED_LOCK:  # built once even when many threads ask at the same moment
                found = table.get(key)
                if found is None:
                    found = table[key] = build(self, service_name, *args, **kwargs)
        return found

    shared._charter_shared = True  # type: ignore[attr-defined]
    return shared


def _install_shared_client_parts() -> None:
    """Build each service's model and client class once per `SessionFactory`, not once per client.

    For every client, botocore wraps the (cached) JSON model in a new `ServiceModel`, whose
    operation and shape objects are then resolved again on the client's first calls, and
    builds a new client class: one Python method, with a lazy docstring, per operation of
    the service (~600 for EC2). A fan-out creates one client per (account, region, service),
    and measured, those two were about three quarters of the CPU of creating a client and a
    fifth of the first call's. Both are pure functions of the loader's model and of the
    session's `creating-client-class` handlers, which are boto3's defaults in every session a
    `SessionFactory` makes (its `on_client` hooks run on clients, after the class exists), and
    neither is changed after it is built, so sharing them is exact: credentials, region,
    endpoint, event hooks and retry state stay per client. Only loaders a `SessionFactory`
    registered are affected. If botocore ever renames the private methods wrapped here,
    nothing is installed and clients are built the stock way.
    """
    creator = botocore.client.ClientCreator
    for name, kind in (("_load_service_model", "model"), ("_create_client_class", "class")):
        original = getattr(creator, name, None)
        if original is not None and not getattr(original, "_charter_shared", False):
            setattr(creator, name, _share_per_loader(kind, original))


_install_shared_client_parts()


def botocore_session(session: boto3.Session) -> botocore.session.Session:
    """The botocore session under a boto3 one.

    boto3 offers it only as the private `Session._session`, and Charter needs it for two things
    boto3 does not expose: the profile's retry settings (`get_scoped_config`, so `charter`'s
    retries follow the profile's `retry_mode`/`max_attempts`) and one shared data loader for every
    assumed-role session of a fan-out (`get/register_component("data_loader")`, so service models
    are parsed once, not once per account). tests/charter/test_private_internals.py breaks if a
    boto3 upgrade drops it.
    """
    return session._session


class AwsError(CharterError):
    """AWS refused or could not be reached."""

    code = "CHARTER-300"
    fix = "Check the profile's credentials, the role name and that the account exists; see the account/region named."


class EndpointUnreachableError(AwsError):
    """Nothing answers at the endpoint given with --endpoint-url."""

    code = "CHARTER-301"
    fix = "Start the embedded AWS (`charter local --port N`) and pass its URL, or use --local."


def _probe(endpoint_url: str) -> None:
    """Fail at once when nothing listens at an explicit endpoint (the embedded AWS not started):
    botocore's retries would take ~50 s to give up on a refused connection, which only real
    AWS's transient failures deserve."""
    try:
        url = urlsplit(endpoint_url)
        port = url.port
    except ValueError as exc:  # e.g. a port above 65535, or an IPv6 address without [ ]
        raise EndpointUnreachableError(f"--endpoint-url {endpoint_url}: not a usable URL ({exc})",
                                       hint="e.g. http://127.0.0.1:5000 or http://[::1]:5000") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise EndpointUnreachableError(f"--endpoint-url {endpoint_url}: not an http(s) URL with a host",
                                       hint="e.g. http://127.0.0.1:5000 (what `charter local` prints)")
    if urllib.request.getproxies().get(url.scheme) and not urllib.request.proxy_bypass(url.hostname or ""):
        return  # reached through a proxy: a direct connection proves nothing
    port = port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", port), timeout=5).close()
    except OSError as exc:
        raise EndpointUnreachableError(
            f"cannot reach {url.scheme}://{url.netloc} ({exc.strerror or type(exc).__name__})",
            hint="start the embedded AWS first (`charter local --port N`) and pass its URL, or use --local") from None


class _SingleHost:
    """botocore `before-send` hook for an endpoint that serves every service at one host:
    endpoint rules that put a name in front of the host (S3 Control's `<account id>.<host>`)
    would address a host that does not exist there, so the request goes to the host itself."""

    def __init__(self, endpoint_url: str) -> None:
        self.netloc = urlsplit(endpoint_url).netloc

    def __call__(self, request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc != self.netloc and parts.netloc.endswith("." + self.netloc):
            request.url = urlunsplit(parts._replace(netloc=self.netloc))


@dataclass(frozen=True)
class Capabilities:
    """What the AWS behind a `SessionFactory` is and can do. Set by whoever builds the
    factory: real AWS by default, the embedded AWS (`charter.local`) sets its own. Product
    code asks these; it never infers them from an endpoint URL."""

    #: An emulator (the embedded AWS), not AWS: its account ids are its own, it holds no
    #: state from before it started, and its answers are stand-ins where it says so.
    embedded: bool = False
    #: Lambda functions execute their code (custom resources answer, Invoke runs the handler).
    runs_lambda_code: bool = True
    #: Seconds between polls of long-running operations (StackSet operations, stacks, accounts).
    poll_interval: float = 5.0
    #: CloudFormation can detect StackSet drift (DetectStackSetDrift).
    drift_detection: bool = True
    #: Account ids written in org.yaml (management_account_id, account_id) name this AWS's
    #: accounts. The embedded AWS makes its own ids, so org.yaml's cannot be checked there.
    config_account_ids: bool = True
    #: Where a Lambda artifact's third-party packages come from: "vendored" (pip installs the
    #: runtime's wheels into the artifact, as AWS needs) or "host" (the embedded AWS's Lambda
    #: runtime supplies them from the host's environment; the artifact holds first-party
    #: code only, so deploy needs no package index).
    lambda_third_party: Literal["vendored", "host"] = "vendored"
    #: Every service answers at the one host of `endpoint_url`: host-prefixed endpoints
    #: (S3 Control's `<account>.<host>`) are sent to that host instead.
    single_host: bool = False
    #: Error code with which the endpoint answers an operation it does not implement (a
    #: call that would work on AWS: a note, not a failure). None on AWS, which has them all.
    unsupported_operation_code: str | None = None
    #: Groups in IAM Identity Center come from an identity provider (SCIM). The embedded AWS
    #: has none, so deploy stands in for it and creates the groups it looks up.
    identity_provider: bool = True


#: AWS itself.
AWS = Capabilities()


@dataclass
class SessionFactory:
    """Clients for the management account and, by role assumption, member accounts."""

    profile: str | None = None
    region: str = "us-east-1"
    endpoint_url: str | None = None
    #: What the AWS behind this factory can do (see `Capabilities`).
    capabilities: Capabilities = AWS
    #: Static (access key, secret key) instead of the profile's credential chain (the
    #: embedded AWS's fixed credentials).
    credentials: tuple[str, str] | None = None
    #: Extra client config (tests add event hooks through `on_client`).
    on_client: list[Any] = field(default_factory=list)
    #: Attempts, retry mode and timeouts (unset: the SDK's settings, then Charter's defaults).
    retry: RetrySettings = field(default_factory=RetrySettings)
    #: Gives up early on calls that cannot succeed; knows what is in flight (shared by all clients).
    guard: CallGuard = field(default_factory=CallGuard, init=False, repr=False)
    _config: Config | None = field(default=None, init=False, repr=False)
    #: (account id, role name) the factory becomes before anything else: its own clients
    #: and every role it assumes then start from that role (an operator's CLI reaching
    #: `CharterEvidenceReader` through `CharterEvidenceOperator`). None: the profile itself.
    via: tuple[str, str] | None = None
    _base: boto3.Session | None = field(default=None, init=False, repr=False)
    _assumed: dict[tuple[str, str], tuple[boto3.Session, float]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _base_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    #: Services whose model this factory's loader has parsed (see `_create`), and a gate per service.
    _ready: set[str] = field(default_factory=set, init=False, repr=False)
    _gates: dict[str, threading.Lock] = field(default_factory=dict, init=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        """What another process needs to make the same clients: profile, region, endpoint,
        capabilities, credentials and hooks (which must be picklable). Sessions, cached
        credentials and locks stay here: the other process builds its own (boto3 sessions
        are not shareable across processes)."""
        return {"profile": self.profile, "region": self.region, "endpoint_url": self.endpoint_url,
                "capabilities": self.capabilities, "credentials": self.credentials,
                "on_client": list(self.on_client), "retry": self.retry, "via": self.via}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    @property
    def base(self) -> boto3.Session:
        if self._base is None:
            # Built under a lock and published once: with `via`, the profile's own session is
            # only a step towards the role, and a thread that saw it in `_base` would act as
            # the profile (the evidence workers' threads did, and were denied).
            with self._base_lock:
                if self._base is None:
                    self._base = self._make_base()
        return self._base

    def _make_base(self) -> boto3.Session:
        try:
            if self.endpoint_url:
                _probe(self.endpoint_url)
            if self.credentials is not None:
                key, secret = self.credentials
                base = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=self.region)
            else:
                base = boto3.Session(profile_name=self.profile, region_name=self.region)
        except botocore.exceptions.ProfileNotFound:
            raise AwsError(f"AWS profile '{self.profile}' not found",
                           hint="list profiles with `aws configure list-profiles`, or use --local") from None
        # every session of this factory shares this loader (see `assumed`), and so models and classes
        _SHARED.setdefault(botocore_session(base).get_component("data_loader"), {})
        return base if self.via is None else self._assume_from(base, *self.via, self.region)

    def as_role(self, account_id: str, role_name: str) -> SessionFactory:
        """The same factory, acting as `role_name` in `account_id` (assumed once from this
        factory's own credentials); kept across processes, unlike a cached session."""
        return SessionFactory(profile=self.profile, region=self.region, endpoint_url=self.endpoint_url,
                              capabilities=self.capabilities, credentials=self.credentials,
                              on_client=list(self.on_client), retry=self.retry, via=(account_id, role_name))

    def client(self, service: str, *, region: str | None = None, account_id: str | None = None,
               role_name: str | None = None, config: Config | None = None) -> Any:
        """A client in `region`; in `account_id` (by assuming `role_name`) when given.
        `config` replaces the adaptive-retry default (a fail-fast probe, for example)."""
        session = self.base if account_id is None else self.assumed(account_id, role_name or "", region)
        client = self._create(session, service, region or self.region, config)
        if self.capabilities.single_host and self.endpoint_url:
            client.meta.events.register("before-send", _SingleHost(self.endpoint_url))
        self.guard.install(client)
        for hook in self.on_client:
            hook(client)
        return client

    def use_retry(self, settings: RetrySettings) -> SessionFactory:
        """Retry and timeout settings for the clients made from now on (a command's flags)."""
        self.retry, self._config = settings, None
        return self

    @property
    def config(self) -> Config:
        """Every client's config: `retry` resolved against the SDK's settings of the profile."""
        if self._config is None:
            resolved = self.retry.resolve(botocore_session(self.base))
            self.guard.max_attempts = resolved.max_attempts or self.guard.max_attempts
            self._config = resolved.config()
        return self._config

    def _create(self, session: boto3.Session, service: str, region: str, config: Config | None = None) -> Any:
        config = config or self.config
        if service in self._ready:
            return session.client(service, region_name=region, endpoint_url=self.endpoint_url, config=config)
        # The first client of a service parses its model (megabytes of JSON for EC2) into the
        # shared loader's cache; threads that ask for the same service at the same moment wait
        # for that one parse instead of each doing it.
        with self._lock:
            gate = self._gates.setdefault(service, threading.Lock())
        with gate:
            client = session.client(service, region_name=region, endpoint_url=self.endpoint_url, config=config)
            self._ready.add(service)
        return client

    def describe(self) -> str:
        """Where this factory's calls go, for messages: the endpoint, or AWS with the profile."""
        if self.endpoint_url:
            return self.endpoint_url
        return f"AWS ({self.region}, profile {self.profile or 'default'})"

    def assumed(self, account_id: str, role_name: str, region: str | None = None) -> boto3.Session:
        key = (account_id, role_name)
        with self._lock:
            cached = self._assumed.get(key)
            if cached and cached[1] - time.time() > 300:
                return cached[0]
        session = self._assume_from(self.base, account_id, role_name, region)
        expires = getattr(session, "_charter_expires", time.time() + 3600)
        with self._lock:
            self._assumed[key] = (session, expires)
        return session

    def _assume_from(self, source: boto3.Session, account_id: str, role_name: str, region: str | None) -> boto3.Session:
        arn = f"arn:aws:iam::{account_id}:role/{role_name}"
        # this factory's retry settings (resolved against `source`: with `via`, `self.base` is
        # what is being made here)
        config = self._config if self._config is not None else self.retry.resolve(botocore_session(source)).config()
        sts = source.client("sts", region_name=region or self.region, endpoint_url=self.endpoint_url, config=config)
        self.guard.install(sts)
        for hook in self.on_client:
            hook(sts)
        try:
            creds = sts.assume_role(RoleArn=arn, RoleSessionName="charter")["Credentials"]
        except botocore.exceptions.ClientError as exc:
            raise AwsError(f"{account_id}/{region or self.region}: cannot assume {arn}: {error_message(exc)}",
                           hint=f"check that {role_name} exists in {account_id} and trusts this caller") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise AwsError(f"{account_id}/{region or self.region}: cannot reach STS: {exc}",
                           hint="check network access and the endpoint") from None
        session = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                aws_session_token=creds["SessionToken"], region_name=region or self.region)
        # parse service models and endpoint rules once, not once per assumed account
        botocore_session(session).register_component("data_loader", botocore_session(source).get_component("data_loader"))
        session._charter_expires = (creds["Expiration"].timestamp() if hasattr(creds["Expiration"], "timestamp")  # type: ignore[attr-defined]
                                    else time.time() + 3600)
        return session

    def caller_arn(self) -> str:
        try:
            return self.client("sts").get_caller_identity()["Arn"]
        except (botocore.exceptions.ClientError, botocore.exceptions.NoCredentialsError) as exc:
            raise AwsError(f"no usable AWS credentials ({exc})",
                           hint="pass --profile NAME for real AWS, or --local for the embedded AWS") from None


def acting_as(sessions: SessionFactory, role_name: str | None) -> SessionFactory:
    """`sessions` acting as `role_name` in the caller's own account (an operator's CLI
    becoming `CharterEvidenceOperator` in the management account); unchanged when no role
    is given or the caller already is that role."""
    if not role_name:
        return sessions
    arn = sessions.caller_arn()
    if f":assumed-role/{role_name}/" in arn or arn.endswith(f":role/{role_name}"):
        return sessions
    return sessions.as_role(arn.split(":")[4], role_name)


#: Error codes AWS uses for "slow down" (after botocore's adaptive retries gave up).
THROTTLED_CODES = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
                             "ProvisionedThroughputExceededException", "SlowDown", "RequestThrottled"})
#: Prefixes of the codes for "not allowed" (IAM, SCPs, resource policies).
DENIED_PREFIXES = ("AccessDenied", "UnauthorizedOperation", "AuthorizationError")
_EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
                      "UnrecognizedClientException", "SignatureDoesNotMatch"})
_RESUME = "what finished is kept: `deploy` and `evidence collect` continue where they stopped when rerun"


def explain(exc: BaseException) -> AwsError:
    """A botocore error that reached the CLI, as a message saying what failed and what to do.

    Commands turn the failures they expect into their own errors with more context; this is
    the net under all of them, so that an unreachable endpoint, missing credentials or a
    throttled API never ends in a traceback."""
    ex = botocore.exceptions
    if isinstance(exc, ex.ClientError):
        code = error_code(exc)
        op = getattr(exc, "operation_name", "") or "the call"
        text = f"AWS refused {op}: {error_message(exc)}"
        if code in THROTTLED_CODES:
            return AwsError(f"AWS kept throttling {op} after its retries",
                            hint=f"rerun in a few minutes, or with fewer concurrent calls (--max-workers); {_RESUME}")
        if code.startswith(DENIED_PREFIXES):
            return AwsError(text, hint="grant the caller this action (and check that no SCP or resource policy "
                                       "denies it); `aws sts get-caller-identity` shows who the caller is")
        if code in _EXPIRED:
            return AwsError(text, hint="the credentials are expired or not valid here: refresh them "
                                       "(`aws sso login --profile NAME`) or pick another --profile")
        return AwsError(text, hint=f"see AWS's message above; {_RESUME}")
    if isinstance(exc, ex.EndpointConnectionError | ex.ConnectTimeoutError | ex.ReadTimeoutError
                  | ex.ConnectionClosedError | ex.ProxyConnectionError):
        url = urlsplit(getattr(exc, "kwargs", {}).get("endpoint_url", "") or "")
        where = f"{url.scheme}://{url.netloc}" if url.netloc else "AWS"  # the endpoint, not the request's path
        return AwsError(f"cannot reach {where} ({type(exc).__name__})",
                        hint="with --endpoint-url, start the embedded AWS first (`charter local --port N`); "
                             f"against AWS, check the network, proxy and --region; {_RESUME}")
    if isinstance(exc, ex.NoCredentialsError | ex.PartialCredentialsError | ex.ProfileNotFound
                  | ex.TokenRetrievalError | ex.SSOTokenLoadError | ex.UnauthorizedSSOTokenError):
        return AwsError(f"no usable AWS credentials: {exc}",
                        hint="pass --profile NAME (run `aws sso login --profile NAME` first for SSO), "
                             "or --local for the embedded AWS")
    if isinstance(exc, ex.NoRegionError):
        return AwsError("no AWS region given", hint="pass --region, or set region in the profile")
    return AwsError(f"AWS call failed: {type(exc).__name__}: {exc}", hint=_RESUME)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return exc.response.get("Error", {}).get("Code", "")
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip()
    return str(exc)


@dataclass
class Drained:
    """Every item of a paginated call and how many pages it took. There is no partial result:
    `paginate` returns after the last page (no continuation token) or raises."""

    items: list[Any]
    pages: int


def paginate(client: Any, operation: str, result_key: str, **params: Any) -> Drained:
    """Drain a paginator (every page, always): the full population or an exception."""
    paginator = client.get_paginator(operation)
    items: list[Any] = []
    pages = 0
    for page in paginator.paginate(**params):
        pages += 1
        items.extend(page.get(result_key, []))
    return Drained(items=items, pages=pages)

