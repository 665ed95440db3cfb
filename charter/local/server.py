"""The embedded AWS's server: `LocalAws` (moto's threaded server on 127.0.0.1, patched to
behave like AWS, answering through the guarded app) and `aws_sessions`, which every
AWS-facing command uses to pick the embedded AWS or a real profile."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from charter.aws import SessionFactory
from charter.errors import CharterError
from charter.local import enforcement, patches
from charter.local.capabilities import CREDENTIALS, EMBEDDED, advertised
from charter.local.running import _ENDPOINT


class LocalAwsError(CharterError):
    """The embedded AWS could not start."""

    code = "CHARTER-310"
    fix = "Choose a free port with --port, or stop the process that holds it."


def _server_class():
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class GuardedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:  # same as moto's, with the guarded app
            # looked up on the package when the server starts, so whoever wraps
            # `charter.local._guarded_app` (benchmarks/evidence_fanout.py counts requests that
            # way) wraps the app this server answers with
            import charter.local

            try:
                self._server = make_server(self._ip_address, self._port, charter.local._guarded_app(), True)
            except (OSError, SystemExit) as exc:
                # a taken port: werkzeug prints and calls sys.exit() (in this thread), which would
                # leave start() waiting for a server that never comes; report it to start() instead
                import errno

                self.bind_error = exc if isinstance(exc, OSError) else OSError(errno.EADDRINUSE, "address in use")
                self._server_ready_event.set()
                return
            self._server_ready_event.set()
            self._server.serve_forever()

        def start(self) -> None:
            self.bind_error: OSError | None = None
            super().start()
            if self.bind_error is not None:
                raise self.bind_error

    return GuardedMotoServer


def _reset_backends() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    # state moto and the enforcement keep beside the backends, which the reset leaves: member
    # accounts -> their management account, and who each access key was
    from moto.organizations.models import organizations_backends

    organizations_backends.master_accounts.clear()
    enforcement.forget()


class _SkippedTypeFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No Moto CloudFormation support")


class LocalAws:
    """A moto server in a background thread. Use as a context manager."""

    def __init__(self, port: int = 0, region: str = "us-east-1", *, enforce: bool | None = None) -> None:
        self.requested_port = port
        self.region = region
        #: Refuse what AWS would refuse (SCPs, identity and trust policies): `charter.local.enforcement`.
        #: On unless turned off here or with CHARTER_LOCAL_ENFORCE=0 (to compare with plain moto).
        self.enforce = enforce if enforce is not None else os.environ.get("CHARTER_LOCAL_ENFORCE", "1") != "0"
        self._server = None
        self.port = 0

    def start(self) -> LocalAws:
        patches.apply()
        if self.enforce:
            enforcement.install()
        else:
            enforcement.enable(False)
        if not _ENDPOINT:
            # moto keeps accounts in module-level backends: a second embedded AWS in the same
            # process (a test after a test, a demo after a collect) would otherwise find the
            # first one's organization, stacks and keys, which a fresh AWS never has
            _reset_backends()
        # AWS-managed policies (ReadOnlyAccess, SecurityAudit, ...) exist in every real account;
        # moto loads them only when asked
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        # moto copies ~1,200 public AMIs into every account-region EC2 touches, each with an
        # EBS volume and snapshot of the account's own: a fresh AWS account has none, and it
        # cost ~1.8 s of CPU per account-region (two thirds of the embedded AWS's CPU in an
        # examples/large deploy, under cProfile). Charter reads no public AMI.
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        # werkzeug logs every request to stderr; the CLI's own progress is the output
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto's CloudFormation says, per resource, which types it only records (Config
        # rules, alarms, ...): its own limits, not the user's problem, on every deploy
        moto_log = logging.getLogger("moto")
        if not any(isinstance(f, _SkippedTypeFilter) for f in moto_log.filters):
            moto_log.addFilter(_SkippedTypeFilter())
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        server = _server_class()(ip_address="127.0.0.1", port=self.requested_port, verbose=False)
        try:
            server.start()
        except OSError as exc:
            raise LocalAwsError(f"cannot start the embedded AWS on 127.0.0.1:{self.requested_port}: {exc.strerror}",
                                hint="pass --port 0 to pick a free port") from None
        self._server = server
        self.port = server.get_host_and_port()[1]
        _ENDPOINT.append(self.endpoint_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            if self.endpoint_url in _ENDPOINT:
                _ENDPOINT.remove(self.endpoint_url)
            self._server = None
            if not _ENDPOINT:  # the last embedded AWS of this process: its background work goes too
                from charter.local import lambda_runtime, pipelines, stepfunctions
                from charter.local.patches import sagemaker_pipelines, stacksets

                # StackSet runners, state machine executions and queued EventBridge deliveries
                # would otherwise go on writing into the next embedded AWS of this process (its
                # backends are reset, the threads are not): a role made by a stale stack
                # refuses a later caller
                stacksets.request_stop()
                stepfunctions.request_stop()
                sagemaker_pipelines.drop_deliveries()
                lambda_runtime.stop()  # a custom resource or task waiting on its function fails now
                stacksets.join()
                stepfunctions.join()
                lambda_runtime.stop()  # and the runtime a last instance may have started again
                pipelines.stop_all()  # pipeline steps still running as local processes

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point the AWS CLI and SDKs at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": CREDENTIALS[0],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS[1],
            "AWS_DEFAULT_REGION": self.region,
        }

    def wsgi_app(self):
        """The app this server answers with, for code in this process that calls it without a
        socket (moto keeps state in module-level backends: every app instance sees the same)."""
        import charter.local

        return charter.local._guarded_app()

    def sessions(self) -> SessionFactory:
        return embedded_sessions(self.endpoint_url, region=self.region)


def embedded_sessions(endpoint_url: str, region: str = "us-east-1") -> SessionFactory:
    """A factory for the embedded AWS at `endpoint_url`: its credentials and its capabilities."""
    return SessionFactory(region=region, endpoint_url=endpoint_url, capabilities=EMBEDDED, credentials=CREDENTIALS)


@contextmanager
def aws_sessions(*, local: bool, profile: str | None, region: str,
                 endpoint_url: str | None = None) -> Iterator[SessionFactory]:
    """The factory every AWS-facing command uses: a fresh embedded AWS with --local; with
    --endpoint-url, the endpoint as what it says it is (a running embedded AWS states its
    capabilities; anything else is AWS reached through that endpoint, with the profile's
    credentials); else the profile."""
    if local and not endpoint_url:
        with LocalAws(region=region) as server:
            yield server.sessions()
    elif endpoint_url:
        stated = advertised(endpoint_url)
        if stated is not None:
            yield SessionFactory(region=region, endpoint_url=endpoint_url, capabilities=stated,
                                 credentials=CREDENTIALS)
        else:
            yield SessionFactory(profile=profile, region=region, endpoint_url=endpoint_url)
    else:
        yield SessionFactory(profile=profile, region=region)
