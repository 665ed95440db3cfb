"""Custom:: resources served by Charter's own handler, run in-process (moto would need Docker)."""

from __future__ import annotations

from charter.aws import SessionFactory
from charter.local import enforcement
from charter.local.running import _ENDPOINT, LOCAL_MANAGEMENT_ACCOUNT


def _charter_handler_source(fn) -> str | None:
    """The source of `fn` (a moto Lambda function) when it is one of Charter's own
    custom-resource handlers, byte for byte as synth inlines it; else None."""
    import base64
    import io
    import zipfile

    from charter.landing_zone.builders.account_baseline import handler_code

    try:
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(fn.code["ZipFile"]))) as z:
            source = z.read("index.py").decode()
    except (KeyError, ValueError, zipfile.BadZipFile, TypeError):
        return None
    return source if source == handler_code() else None


def patch_custom_resources() -> None:
    """Custom:: resources served by Charter's own handler run that handler's code in-process.

    moto sends a custom resource's event to its Lambda in a Docker container and leaves the
    stack CREATE_IN_PROGRESS until the function answers; no Docker here, so nothing ever
    would. When the function's code is exactly the handler Charter inlines (compared byte
    for byte), the embedded AWS runs that same source (its `apply(event, account)`), with
    boto3 pointed at this server as the function's own account and region, and answers
    CloudFormation with its result: SUCCESS with the handler's Data, or the stack fails
    with the handler's exception, as the real Lambda would report it. Any other function
    keeps moto's behaviour.
    """
    import types
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    from moto.awslambda import lambda_backends
    from moto.cloudformation import custom_model
    from moto.cloudformation.exceptions import ValidationError

    from charter.landing_zone.naming import MEMBER_ACCESS_ROLE

    original = custom_model.CustomModel.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        try:
            fn = lambda_backends[account_id][region_name].get_function(props["ServiceToken"])
        except Exception:  # noqa: BLE001 - moto's own path reports the missing function
            fn = None
        source = _charter_handler_source(fn) if fn is not None and _ENDPOINT else None
        if source is None:
            return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        sessions = SessionFactory.local(_ENDPOINT[-1], region=region_name)
        # the handler's module-level `boto3` becomes one that makes this account's clients
        netloc = urlsplit(_ENDPOINT[-1]).netloc

        def single_host(request, **_):
            # s3control's endpoint rules put the account id in front of the host
            # ("<account>.127.0.0.1:port"); the embedded AWS is one host, routed by path
            parts = urlsplit(request.url)
            if parts.netloc.endswith("." + netloc):
                request.url = urlunsplit(parts._replace(netloc=netloc))

        member = None if account_id == LOCAL_MANAGEMENT_ACCOUNT else account_id
        if enforcement.enabled():
            # as on AWS, the function runs with its own role's credentials (Lambda assumes it)
            import boto3

            try:
                key, secret, token = enforcement.service_credentials(account_id, fn.role, "lambda.amazonaws.com",
                                                                     region_name)
            except enforcement.AccessDenied as exc:
                raise ValidationError(message=f"{kwargs['LogicalId']}: {exc.message}") from None
            session = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                                    region_name=region_name)
        else:
            session = sessions.base if member is None else sessions.assumed(member, MEMBER_ACCESS_ROLE, region_name)

        def client(service, config=None, **kw):
            c = session.client(service, region_name=region_name, endpoint_url=sessions.endpoint_url, config=config)
            c.meta.events.register("before-send", single_host)
            return c

        shim = types.SimpleNamespace(client=client)
        module = types.ModuleType("charter_custom_resource")
        exec(compile(source, "index.py", "exec"), module.__dict__)  # noqa: S102 - Charter's own handler
        module.boto3 = shim
        event = {"RequestType": "Create", "ServiceToken": props["ServiceToken"], "StackId": kwargs["StackId"],
                 "RequestId": str(uuid.uuid4()), "LogicalResourceId": kwargs["LogicalId"],
                 "ResourceType": kwargs["ResourceType"], "ResourceProperties": props}
        try:
            data = module.apply(event, account_id) or {}
        except Exception as exc:  # noqa: BLE001 - CloudFormation reports the handler's failure
            raise ValidationError(message=f"{kwargs['LogicalId']}: custom resource handler failed: "
                                          f"{type(exc).__name__}: {exc}") from None
        resource = custom_model.CustomModel(region_name, event["RequestId"], kwargs["LogicalId"], resource_name)
        resource.set_data(data)
        return resource

    custom_model.CustomModel.create_from_cloudformation_json = classmethod(create)
