"""The embedded AWS: moto's server on 127.0.0.1, for `charter local`, `--local` and the demo.

moto is the stand-in for AWS, never a reason to simplify: code talks to it through the
same `SessionFactory` as to real AWS, only with an `endpoint_url`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from charter.aws import SessionFactory
from charter.errors import CharterError

#: moto's default account: the one whose fake credentials the embedded AWS accepts first.
#: It becomes the management account when the organization is created.
LOCAL_MANAGEMENT_ACCOUNT = "123456789012"


class LocalAwsError(CharterError):
    """The embedded AWS could not start."""

    code = "CHARTER-310"
    fix = "Choose a free port with --port, or stop the process that holds it."


def _guarded_app():
    """moto's WSGI app, answering services moto does not implement with a 4xx AWS error.

    Left alone, moto answers them with HTTP 500, which every AWS SDK retries with backoff
    (ten attempts in Charter's adaptive mode): a call to Access Analyzer would hang for
    minutes before failing. A real AWS account has every service, so the honest answer of
    the embedded AWS is a fast, non-retryable "not implemented here".
    """
    import json

    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    class Dispatcher(DomainDispatcherApplication):
        def get_backend_for_host(self, host):  # moto's, minus a print() meant for moto's developers
            if host is None or host == "moto_api" or host in backends.list_of_moto_modules():
                return host
            return next((b for b, pattern in self.backend_url_patterns if pattern.match(f"http://{host}")), None)

    inner = Dispatcher(create_backend_app)

    def app(environ, start_response):
        try:
            backend = inner.get_application(environ)
        except Exception:  # moto raises several types when no backend matches the host
            host = environ.get("HTTP_HOST", "")
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            message = f"the embedded AWS (moto) does not implement this service ({target or host})"
            body = json.dumps({"__type": "UnsupportedOperation", "message": message}).encode()
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                               ("x-amzn-ErrorType", "UnsupportedOperation"),
                                               ("Content-Length", str(len(body)))])
            return [body]
        return backend(environ, start_response)

    return app


_PATCHED = False


def _patch_moto() -> None:
    """Fix, inside the embedded AWS only, what moto's CloudFormation gets wrong for templates
    that real CloudFormation accepts. Each patch makes moto behave like AWS; none changes
    what Charter generates.

    - AWS::KMS::Key: moto passes the template's `Tags` ({Key, Value}) to its KMS tagger,
      which expects KMS's own {TagKey, TagValue} shape, and crashes (moto 5.2.1); it also
      ignores KeySpec/KeyUsage, so a signing key would come out symmetric.
    """
    global _PATCHED
    if _PATCHED:
        return
    from moto.kms import models as kms

    def create_key(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        key = kms.kms_backends[account_id][region_name].create_key(
            policy=props["KeyPolicy"] if isinstance(props.get("KeyPolicy"), str) else json.dumps(props.get("KeyPolicy")),
            key_usage=props.get("KeyUsage", "ENCRYPT_DECRYPT"), key_spec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            description=props.get("Description"), tags=tags,
        )
        key.key_rotation_status = props.get("EnableKeyRotation", False)
        key.enabled = props.get("Enabled", True)
        return key

    kms.Key.create_from_cloudformation_json = classmethod(create_key)
    _add_lambda_alias_model()
    _PATCHED = True


def _add_lambda_alias_model() -> None:
    """AWS::Lambda::Alias, which moto's Lambda API supports but its CloudFormation does not:
    without it every stack that points API Gateway or permissions at an alias fails."""
    from moto.awslambda.models import lambda_backends
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    class LambdaAliasModel(CloudFormationModel):
        def __init__(self, alias) -> None:
            self.alias = alias

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::Alias"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @property
        def physical_resource_id(self) -> str:
            return self.alias.arn

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("AliasArn",)

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.alias.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            props = cloudformation_json["Properties"]
            backend = lambda_backends[account_id][region_name]
            function = str(props["FunctionName"]).split(":function:")[-1].split(":")[0]
            alias = backend.create_alias(name=props["Name"], function_name=function,
                                         function_version=str(props.get("FunctionVersion", "$LATEST")),
                                         description=props.get("Description", ""), routing_config=None)
            return cls(alias)

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def _server_class():
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class GuardedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:  # same as moto's, with the guarded app
            self._server = make_server(self._ip_address, self._port, _guarded_app(), True)
            self._server_ready_event.set()
            self._server.serve_forever()

    return GuardedMotoServer


class LocalAws:
    """A moto server in a background thread. Use as a context manager."""

    def __init__(self, port: int = 0, region: str = "us-east-1") -> None:
        self.requested_port = port
        self.region = region
        self._server = None
        self.port = 0

    def start(self) -> LocalAws:
        _patch_moto()
        # AWS-managed policies (ReadOnlyAccess, SecurityAudit, ...) exist in every real account;
        # moto loads them only when asked
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        # werkzeug logs every request to stderr; the CLI's own progress is the output
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = _server_class()(ip_address="127.0.0.1", port=self.requested_port, verbose=False)
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
