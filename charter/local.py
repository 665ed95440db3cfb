"""The embedded AWS: moto's server on 127.0.0.1, for `charter local`, `--local` and the demo.

moto is the stand-in for AWS, never a reason to simplify: code talks to it through the
same `SessionFactory` as to real AWS, only with an `endpoint_url`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from charter.aws import SessionFactory
from charter.errors import CharterError

#: moto's default account: the one whose fake credentials the embedded AWS accepts first.
#: It becomes the management account when the organization is created.
LOCAL_MANAGEMENT_ACCOUNT = "123456789012"


class LocalAwsError(CharterError):
    code = "CHARTER-310"
    fix = "Choose a free port with --port, or stop the process that holds it."


class LocalAws:
    """A moto server in a background thread. Use as a context manager."""

    def __init__(self, port: int = 0, region: str = "us-east-1") -> None:
        self.requested_port = port
        self.region = region
        self._server = None
        self.port = 0

    def start(self) -> LocalAws:
        from moto.server import ThreadedMotoServer

        # werkzeug logs every request to stderr; the CLI's own progress is the output
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.requested_port, verbose=False)
        try:
            server.start()
        except OSError as exc:
            raise LocalAwsError(f"cannot start the embedded AWS on 127.0.0.1:{self.requested_port}: {exc.strerror}",
                                hint="pass --port 0 to pick a free port") from None
        self._server = server
        self.port = server.get_host_and_port()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

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
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
        }

    def sessions(self) -> SessionFactory:
        return SessionFactory.local(self.endpoint_url, region=self.region)


@contextmanager
def aws_sessions(*, local: bool, profile: str | None, region: str) -> Iterator[SessionFactory]:
    """The factory every AWS-facing command uses: embedded AWS with --local, else the profile."""
    if local:
        with LocalAws(region=region) as server:
            yield server.sessions()
    else:
        yield SessionFactory(profile=profile, region=region)
