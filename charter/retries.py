"""Retries and timeouts as settings; calls that cannot succeed given up early; calls in flight watched.

Ground floor, beside the session factory (`charter.aws`), which builds every client's
`Config` from a `RetrySettings` and installs a `CallGuard` on it:

- `RetrySettings`: attempts, retry mode and timeouts. What a command line gives wins; else
  the AWS SDK's own settings (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, `max_attempts` /
  `retry_mode` in the profile), read through botocore's config chain as every AWS tool
  does; else Charter's defaults (adaptive mode, 10 attempts).
- `CallGuard`: botocore retries every HTTP 5xx with backoff, which is right for AWS's rare
  transient failures and wrong for a call that cannot succeed. Two kinds are given up on:
  a 5xx that is not an AWS error document (a server that does not implement the operation
  answers with its framework's "Internal Server Error", or HTTP 501), after its first try;
  and a call that already failed every attempt with a 5xx or no answer in this run, after
  one try each further time (a broken API is not retried account after account, region
  after region). A success clears it. The guard also knows which calls are in flight, for how
  long and on which attempt, so long waits can be shown (`waiting`).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import botocore.exceptions
from botocore.config import Config

RetryMode = Literal["legacy", "standard", "adaptive"]
RETRY_MODES: tuple[str, ...] = ("legacy", "standard", "adaptive")

DEFAULT_MODE: RetryMode = "adaptive"
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
#: Environment overrides for the timeouts (the SDK has none of its own).
ENV_READ_TIMEOUT = "CHARTER_READ_TIMEOUT"
ENV_CONNECT_TIMEOUT = "CHARTER_CONNECT_TIMEOUT"


@dataclass(frozen=True)
class RetrySettings:
    """None means "not given": the SDK's settings, then Charter's defaults, decide."""

    max_attempts: int | None = None
    mode: RetryMode | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None

    def resolve(self, botocore_session: Any = None) -> RetrySettings:
        """Every field set: given > the SDK's config chain (environment, profile) > defaults."""
        def sdk(name: str) -> Any:
            """What the user set for the SDK: its environment variable, else the profile's
            setting (not botocore's own default, which `get_config_variable` would give)."""
            value = os.environ.get(f"AWS_{name.upper()}")
            if value is None and botocore_session is not None:
                try:
                    value = botocore_session.get_scoped_config().get(name)
                except (botocore.exceptions.BotoCoreError, ValueError):
                    value = None
            return value

        attempts = self.max_attempts or _positive_int(sdk("max_attempts")) or DEFAULT_MAX_ATTEMPTS
        mode = self.mode or (sdk("retry_mode") if sdk("retry_mode") in RETRY_MODES else None) or DEFAULT_MODE
        return RetrySettings(
            max_attempts=attempts, mode=mode,
            connect_timeout=self.connect_timeout or _positive_float(os.environ.get(ENV_CONNECT_TIMEOUT))
            or DEFAULT_CONNECT_TIMEOUT,
            read_timeout=self.read_timeout or _positive_float(os.environ.get(ENV_READ_TIMEOUT)) or DEFAULT_READ_TIMEOUT)

    def config(self, botocore_session: Any = None) -> Config:
        s = self.resolve(botocore_session)
        return Config(retries={"mode": s.mode, "total_max_attempts": s.max_attempts},
                      connect_timeout=s.connect_timeout, read_timeout=s.read_timeout, max_pool_connections=50)

    def describe(self, botocore_session: Any = None) -> str:
        s = self.resolve(botocore_session)
        return f"{s.max_attempts} attempts ({s.mode}), read timeout {s.read_timeout:g} s"

    def with_(self, **changes: Any) -> RetrySettings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _positive_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 1 else None


def _positive_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


@dataclass
class InFlight:
    """One call being made: what, since when (monotonic), which attempt."""

    label: str
    started: float
    attempt: int = 1


#: Exceptions that mean "no answer" (botocore retries them like a 5xx).
_NO_ANSWER = (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError,
              botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError)


@dataclass
class CallGuard:
    """Shared by every client of one session factory (see the module docstring)."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    _broken: set[tuple[str, str, str]] = field(default_factory=set)
    _flight: dict[int, InFlight] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Calls given up on before botocore's retries were spent (for tests and summaries).
    given_up: int = 0

    def install(self, client: Any) -> None:
        events = client.meta.events
        events.register_first("needs-retry", self._needs_retry, unique_id="charter-call-guard")
        events.register("before-call", self._before, unique_id="charter-call-guard-before")
        events.register("after-call", self._after, unique_id="charter-call-guard-after")
        events.register("after-call-error", self._after_error, unique_id="charter-call-guard-error")

    # -- what is in flight -------------------------------------------------------------
    def waiting(self, longer_than: float = 0.0) -> InFlight | None:
        """The call that has waited longest, if it has waited more than `longer_than` seconds."""
        now = time.monotonic()
        with self._lock:
            oldest = min(self._flight.values(), key=lambda f: f.started, default=None)
        return oldest if oldest is not None and now - oldest.started > longer_than else None

    def _before(self, model: Any = None, context: Any = None, **_: Any) -> None:
        if context is None or model is None:
            return
        label = f"{model.service_model.service_name}:{model.name}"
        region = context.get("client_region")
        with self._lock:
            self._flight[id(context)] = InFlight(f"{label} ({region})" if region else label, time.monotonic())

    def _done(self, context: Any) -> None:
        if context is not None:
            with self._lock:
                self._flight.pop(id(context), None)

    def _after(self, model: Any = None, context: Any = None, http_response: Any = None, **_: Any) -> None:
        self._done(context)
        if model is not None and context is not None and getattr(http_response, "status_code", 500) < 500:
            key = context.get("charter_guard_key")
            if key:
                with self._lock:
                    self._broken.discard(key)

    def _after_error(self, context: Any = None, **_: Any) -> None:
        self._done(context)

    # -- giving up ----------------------------------------------------------------------
    def _needs_retry(self, response: Any = None, endpoint: Any = None, operation: Any = None, attempts: int = 1,
                     caught_exception: BaseException | None = None, request_dict: Any = None, **_: Any) -> None:
        if operation is None:
            return None
        context = (request_dict or {}).get("context") or {}
        host = getattr(endpoint, "host", "") or ""
        key = (host, operation.service_model.service_name, operation.name)
        context["charter_guard_key"] = key
        with self._lock:
            flight = self._flight.get(id(context))
            if flight is not None:
                flight.attempt = attempts + 1
        failed = False
        if response is not None:
            http, parsed = response
            status = getattr(http, "status_code", 200)
            if status < 500:
                return None
            code = str((parsed or {}).get("Error", {}).get("Code", ""))
            if status == 501 or not code or code == str(status):
                # no AWS error document: the server does not implement the call; retrying cannot help
                self._give_up(key, response=response, operation=operation)
            failed = True
        elif isinstance(caught_exception, _NO_ANSWER):
            failed = True
        if not failed:
            return None
        with self._lock:
            known_broken = key in self._broken
            if attempts >= self.max_attempts:
                self._broken.add(key)  # botocore gives up after this attempt
        if known_broken:
            self._give_up(key, response=response, operation=operation, exception=caught_exception)
        return None

    def _give_up(self, key: tuple[str, str, str], *, response: Any, operation: Any,
                 exception: BaseException | None = None) -> None:
        with self._lock:
            self._broken.add(key)
            self.given_up += 1
        if exception is not None:
            raise exception
        raise botocore.exceptions.ClientError(response[1], operation.name)
