"""Permissions as AWS enforces them, inside the embedded AWS.

moto serves every request whatever the credentials, so a role that AWS would refuse (an
SCP, its own policies, a trust policy that does not name the caller) works here. This
module makes the embedded AWS refuse it the way AWS does, with `charter.policy`'s
evaluation (the same as `charter preflight`):

- every request is mapped to its principal (the access key: moto's STS keeps each
  assumed-role session with its key; the default `testing` key is the root user of the
  management account), its IAM action (from botocore's model of the operation) and, where
  the request names it, its resource;
- the principal's SCPs (root -> OUs -> account, from the organization moto holds), its
  role's inline and managed policies and its permissions boundary decide, and a denial is
  answered with HTTP 403 `AccessDenied` and AWS's message (for an explicit deny, the kind
  of policy that denies it);
- `sts:AssumeRole` also needs the target role to exist and its trust policy to admit the
  caller;
- what CloudFormation does for a stack (each resource's handler permissions) is checked
  against the principal the stack runs as: the caller of CreateStack/UpdateStack, or the
  StackSet execution role for a StackSet instance; a refused resource fails the stack as
  on AWS;
- `OrganizationAccountAccessRole` exists in every account the organization creates, as AWS
  makes it (AdministratorAccess, trusting the management account).

A request whose resource cannot be told from the request is evaluated with an unknown
resource: statements scoped to specific resources then neither deny nor grant it (the
lenient reading), while `Resource: "*"` statements apply as on AWS.
"""

from __future__ import annotations

import io
import json
import re
import threading
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote

from charter.local.running import LOCAL_MANAGEMENT_ACCOUNT
from charter.policy.actions import iam_action
from charter.policy.documents import Policy
from charter.policy.evaluate import (
    Decision,
    Principal,
    Request,
    ScpLevel,
    evaluate,
    evaluate_assume,
)

MEMBER_ACCESS_ROLE = "OrganizationAccountAccessRole"
_STATE = threading.local()
_ENABLED = [False]
_KEYS: dict[str, Principal] = {}
_KEYS_LOCK = threading.Lock()


def enable(on: bool = True) -> None:
    """Turn enforcement on (the embedded AWS's default) or off for this process."""
    _ENABLED[0] = on


def forget() -> None:
    """Drop what was learnt about the previous embedded AWS's principals and organizations."""
    with _KEYS_LOCK:
        _KEYS.clear()
    _ORG_CACHE.clear()
    _ORG_GENERATION[0] += 1


def enabled() -> bool:
    return _ENABLED[0]


class AccessDenied(Exception):
    """A request AWS would refuse."""

    def __init__(self, message: str, decision: Decision | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.decision = decision


# -- who is asking -----------------------------------------------------------------------------

def principal_for(access_key: str) -> Principal:
    """The principal behind an access key: an assumed-role session, an IAM user, or (moto's
    default credentials) the root user of the management account."""
    found = _KEYS.get(access_key)
    if found is not None:
        return found
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.sts.models import sts_backends

    account = get_account_id_from(access_key)
    principal = Principal.root(account)
    session = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key)
    if session is not None:
        name = session.role_arn.split("/")[-1]
        path = "/" + "/".join(session.role_arn.split(":role/", 1)[1].split("/")[:-1])
        path = path if path.endswith("/") else path + "/"
        principal = Principal.role(account, name, path=path, session=session.session_name)
    else:
        try:
            user = iam_backends[account]["aws"].get_user_from_access_key_id(access_key)
        except Exception:  # noqa: BLE001 - moto raises when no user has the key
            user = None
        if user is not None:
            principal = Principal(arn=user.arn, account=account, kind="user")
    if principal.kind != "root":
        with _KEYS_LOCK:
            _KEYS[access_key] = principal
    return principal


# -- what is asked ---------------------------------------------------------------------------

#: SigV4 signing name -> the botocore services signed with it, where they differ (loading
#: every botocore model to find out would cost seconds on the first request).
SIGNING_NAMES: dict[str, tuple[str, ...]] = {
    "s3": ("s3", "s3control"), "sso": ("sso-admin", "sso"), "access-analyzer": ("accessanalyzer",),
    "monitoring": ("cloudwatch",), "bedrock": ("bedrock", "bedrock-agent", "bedrock-runtime", "bedrock-agent-runtime"),
    "sagemaker": ("sagemaker", "sagemaker-runtime"), "aoss": ("opensearchserverless",),
    "codestar-connections": ("codestar-connections", "codeconnections"), "servicequotas": ("service-quotas",),
    "tagging": ("resourcegroupstaggingapi",), "email": ("ses", "sesv2"), "states": ("stepfunctions",),
    "elasticloadbalancing": ("elbv2", "elb"), "cognito-idp": ("cognito-idp",), "execute-api": ("apigatewaymanagementapi",),
    "apigateway": ("apigateway", "apigatewayv2"),
}


def _candidates(signing: str) -> list[str]:
    available = _available()
    names = SIGNING_NAMES.get(signing, (signing,))
    return [n for n in names if n in available] or ([signing] if signing in available else [])


@lru_cache(maxsize=1)
def _available() -> frozenset[str]:
    return frozenset(_botocore().get_available_services())


@lru_cache(maxsize=1)
def _botocore() -> Any:
    import botocore.session

    return botocore.session.get_session()


@lru_cache(maxsize=64)
def _model(service: str) -> Any:
    return _botocore().get_service_model(service)


@lru_cache(maxsize=64)
def _rest_routes(service: str) -> list[tuple[str, re.Pattern[str], tuple[str, ...], int, str]]:
    """(method, path regex, required query keys, literal length, operation) per operation."""
    model = _model(service)
    routes = []
    for op in model.operation_names:
        http = model.operation_model(op).http
        uri = http.get("requestUri", "/")
        path, _, query = uri.partition("?")
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(path)))
        regex += "/?$" if not path.endswith("/") else "$"
        required = tuple(q.split("=")[0] for q in query.split("&") if q)
        literal = len(re.sub(r"\{[^}]+\}", "", uri))
        routes.append((http.get("method", "GET"), re.compile(regex), required, literal, op))
    return routes


def _rest_operation(service: str, method: str, path: str, query: dict[str, list[str]]) -> str | None:
    best: tuple[int, str] | None = None
    for m, regex, required, literal, op in _rest_routes(service):
        if m == method and regex.match(path) and all(q in query for q in required):
            if best is None or literal > best[0]:
                best = (literal, op)
    return best[1] if best else None


def describe_request(environ: dict[str, Any]) -> tuple[str, str, dict[str, Any], str] | None:
    """(botocore service, operation, parameters, region) of a signed request, or None."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = auth.partition("Credential=")[2].split(",")[0].split("/")
    if len(scope) < 5:
        return None
    region, signing = scope[2], scope[3]
    candidates = _candidates(signing)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, op = target.rpartition(".")
        service = candidates[0] if len(candidates) == 1 else next(
            (c for c in candidates if _model(c).metadata.get("targetPrefix") == prefix), None)
        if service is None:
            return None
        body = _body(environ)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        return service, op, params if isinstance(params, dict) else {}, region
    path = unquote(environ.get("PATH_INFO", "/"))
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    # the query protocols name the operation in `Action` (no model needed to read it)
    form = parse_qs(_body(environ).decode(errors="replace"), keep_blank_values=True) \
        if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") else {}
    merged = {**query, **form}
    action = (merged.get("Action") or [""])[0]
    if action and candidates:
        return candidates[0], action, {k: v[0] for k, v in merged.items()}, region
    rest = [c for c in candidates if _model(c).protocol in ("rest-json", "rest-xml")]
    if rest:
        if signing == "s3":  # s3control's paths start with its API version
            rest = ["s3control"] if path.startswith("/v20180820") else ["s3"]
        op = _rest_operation(rest[0], environ.get("REQUEST_METHOD", "GET"), path, query)
        if op:
            return rest[0], op, {"__path": path}, region
    return None


def _body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back for moto."""
    cached = environ.get("charter.body")
    if cached is not None:
        return cached
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["charter.body"] = body
    return body


def resource_of(service: str, op: str, params: dict[str, Any], account: str, region: str) -> str | None:
    """The resource a request acts on, for the requests Charter's policies scope by resource."""
    if service == "iam" and params.get("RoleName"):
        return f"arn:aws:iam::{account}:role/{params['RoleName']}"
    if service == "sts" and op == "AssumeRole":
        return params.get("RoleArn")
    if service == "cloudformation" and params.get("StackName") and op in (
            "CreateStack", "UpdateStack", "DeleteStack", "CreateChangeSet", "ExecuteChangeSet",
            "UpdateTerminationProtection"):
        name = params["StackName"]
        return name if name.startswith("arn:") else f"arn:aws:cloudformation:{region}:{account}:stack/{name}/*"
    if service == "s3":
        path = str(params.get("__path", "/")).lstrip("/")
        return f"arn:aws:s3:::{path}" if path else None
    if service == "s3control":
        return "*"
    return None


# -- the policies that apply -----------------------------------------------------------------

_PARSED: dict[tuple[str, str, str], Policy] = {}


def _parse(kind: str, name: str, document: Any) -> Policy:
    text = document if isinstance(document, str) else json.dumps(document)
    if text.startswith("%7B"):
        text = unquote(text)
    key = (kind, name, text)
    found = _PARSED.get(key)
    if found is None:
        found = _PARSED[key] = Policy.parse(kind, name, text)  # type: ignore[arg-type]
    return found


def _role(account: str, name: str) -> Any:
    from moto.iam.models import iam_backends

    try:
        return iam_backends[account]["aws"].get_role(name)
    except Exception:  # noqa: BLE001 - moto raises NoSuchEntity
        return None


def _managed_document(backend: Any, arn: str) -> Any:
    policy = backend.managed_policies.get(arn)
    if policy is None:
        return None
    version = next((v for v in policy.versions if v.is_default), None) if hasattr(policy, "versions") else None
    return version.document if version is not None else getattr(policy, "document", None)


def identity_of(principal: Principal) -> tuple[list[Policy], Policy | None] | None:
    """A role's inline and managed policies and its boundary; None when the role is gone."""
    if principal.kind == "root":
        return [_parse("identity", "root user", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})], None
    from moto.iam.models import iam_backends

    backend = iam_backends[principal.account]["aws"]
    if principal.kind == "user":
        return [], None
    role = _role(principal.account, principal.name)
    if role is None:
        return None
    policies = [_parse("identity", f"{principal.name} inline policy {n}", d) for n, d in role.policies.items()]
    for arn in list(role.managed_policies):
        doc = _managed_document(backend, arn)
        if doc is not None:
            policies.append(_parse("identity", arn.rsplit("/", 1)[-1], doc))
    boundary = None
    # moto's `permissions_boundary` is the GetRole answer's dict; the ARN is `permissions_boundary_arn`
    boundary_arn = getattr(role, "permissions_boundary_arn", None)
    if boundary_arn:
        doc = _managed_document(backend, boundary_arn)
        if doc is not None:
            boundary = _parse("boundary", boundary_arn.rsplit("/", 1)[-1], doc)
    return policies, boundary


#: Bumped by every change to the organization's SCPs or structure (see `track_organization_changes`).
_ORG_GENERATION = [0]
_ORG_CACHE: dict[tuple[str, int], tuple[str | None, list[ScpLevel]]] = {}


def track_organization_changes() -> None:
    """Invalidate the SCP levels cached per account whenever moto changes an organization."""
    from moto.organizations import models as orgs

    for name in ("create_organization", "create_account", "create_organizational_unit", "move_account",
                 "create_policy", "update_policy", "delete_policy", "attach_policy", "detach_policy",
                 "delete_organization", "remove_account_from_organization", "close_account"):
        original = getattr(orgs.OrganizationsBackend, name, None)
        if original is None or getattr(original, "_charter_tracked", False):
            continue

        def tracked(self, *args, __original=original, **kwargs):  # type: ignore[no-untyped-def]
            try:
                return __original(self, *args, **kwargs)
            finally:
                _ORG_GENERATION[0] += 1

        tracked._charter_tracked = True  # type: ignore[attr-defined]
        setattr(orgs.OrganizationsBackend, name, tracked)


def organization_of(account: str) -> tuple[str | None, list[ScpLevel]]:
    """(management account, SCP levels root -> account) of `account`'s organization."""
    key = (account, _ORG_GENERATION[0])
    found = _ORG_CACHE.get(key)
    if found is None:
        found = _ORG_CACHE[key] = _organization_of(account)
        if len(_ORG_CACHE) > 4096:
            _ORG_CACHE.clear()
    return found


def _organization_of(account: str) -> tuple[str | None, list[ScpLevel]]:
    from moto.organizations.models import organizations_backends

    master = organizations_backends.master_accounts.get(account)
    mgmt_id, partition = master if master else (account, "aws")
    try:
        org = organizations_backends[mgmt_id][partition]
    except Exception:  # noqa: BLE001
        return None, []
    if org.org is None:
        return None, []
    management = org.org.master_account_id
    if account == management:
        return management, []
    node = next((a for a in org.accounts if a.id == account), None)
    if node is None:
        return management, []
    by_id = {ou.id: ou for ou in org.ou}
    chain = [node]
    parent = node.parent_id
    while parent in by_id:
        chain.append(by_id[parent])
        parent = by_id[parent].parent_id
    root = next(iter(getattr(org, "roots", []) or []), None) if not chain or chain[-1].type != "ROOT" else None
    if root is not None:
        chain.append(root)
    levels: list[ScpLevel] = []
    for target in reversed(chain):
        label = "Root" if target.type == "ROOT" else (f"OU {target.name}" if hasattr(target, "parent_id") and
                                                      target.type == "ORGANIZATIONAL_UNIT" else f"account {account}")
        scps = [_parse("scp", f"SCP {p.name}", p.content) for p in target.attached_policies
                if p.type == "SERVICE_CONTROL_POLICY"]
        levels.append((label, scps))
    return management, levels


# -- deciding ---------------------------------------------------------------------------------

def decide(principal: Principal, action: str, resource: str | None, region: str,
           context: dict[str, Any] | None = None) -> tuple[Decision, Request]:
    management, levels = organization_of(principal.account)
    req = Request(principal, action, resource, region, _org_context(principal.account) | (context or {}))
    found = identity_of(principal)
    if found is None:
        return Decision("implicit-deny", "identity", principal.name, "", f"role {principal.name} does not exist"), req
    identity, boundary = found
    if action.lower() == "sts:assumerole" and resource:
        return _assume(principal, resource, region, identity, boundary, levels, management, req), req
    return evaluate(req, scps=levels, identity=identity, boundary=boundary, management_account=management), req


def _org_context(account: str) -> dict[str, str]:
    from moto.organizations.models import organizations_backends

    master = organizations_backends.master_accounts.get(account)
    mgmt_id, partition = master if master else (account, "aws")
    try:
        org = organizations_backends[mgmt_id][partition].org
    except Exception:  # noqa: BLE001
        return {}
    return {"aws:PrincipalOrgID": org.id, "aws:ResourceOrgID": org.id} if org else {}


def _assume(caller: Principal, role_arn: str, region: str, identity: list[Policy], boundary: Policy | None,
            levels: list[ScpLevel], management: str | None, req: Request) -> Decision:
    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
    role = _role(account, name)
    if role is None:
        return Decision("implicit-deny", "trust", name, "", f"role {role_arn} does not exist")
    trust = _parse("trust", f"trust policy of {name}", role.assume_role_policy_document)
    return evaluate_assume(caller, role_arn, trust, region=region, identity=identity, boundary=boundary,
                           scps=levels, management_account=management, context=dict(req.context))


def check_request(environ: dict[str, Any]) -> AccessDenied | None:
    """None when AWS would serve the request, else why not."""
    if not _ENABLED[0]:
        return None
    acting_as(None)
    auth = environ.get("HTTP_AUTHORIZATION", "")
    key = auth.partition("Credential=")[2].split("/")[0]
    if not key:
        return None
    principal = principal_for(key)
    if principal.kind == "root" and principal.account == LOCAL_MANAGEMENT_ACCOUNT and \
            b"AssumeRole" not in _peek(environ):
        return None  # the management account's root user: no SCP, every action (fast path)
    described = describe_request(environ)
    if described is None:
        return None
    service, op, params, region = described
    http = _model(service).operation_model(op).http.get("method") if service in ("apigateway",) else None
    action = iam_action(service, op, http)
    resource = resource_of(service, op, params, principal.account, region)
    decision, req = decide(principal, action, resource, region, _request_keys(service, op, environ))
    if service == "cloudformation" and op in ("CreateStack", "UpdateStack", "DeleteStack", "CreateStackSet",
                                              "UpdateStackSet") and decision.allowed:
        acting_as(principal)
    if decision.allowed:
        return None
    return AccessDenied(decision.aws_message(req), decision)


#: S3's listings, whose `prefix` parameter AWS gives policies as the `s3:prefix` condition key.
_S3_LISTINGS = ("ListObjects", "ListObjectsV2", "ListObjectVersions")


def _request_keys(service: str, op: str, environ: dict[str, Any]) -> dict[str, str]:
    """The service-specific condition keys of a request that policies here rely on. `s3:prefix`
    is present only when the request names a prefix, as on AWS (a listing without one does not
    match `StringLike s3:prefix`)."""
    if service == "s3" and op in _S3_LISTINGS:
        prefix = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).get("prefix")
        if prefix is not None:
            return {"s3:prefix": prefix[0]}
    return {}


def _peek(environ: dict[str, Any]) -> bytes:
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        return _body(environ)
    return b""


# -- CloudFormation: the principal a stack runs as ---------------------------------------------

def acting_as(principal: Principal | None) -> None:
    """The principal of the CreateStack/UpdateStack/DeleteStack being served on this thread."""
    _STATE.principal = principal


def stack_principal(stack_name: str, account: str) -> Principal | None:
    """Who CloudFormation acts as for a stack: a StackSet instance runs as the execution role
    of its account, any other stack as the caller of its CreateStack/UpdateStack."""
    if stack_name.startswith("StackSet"):  # StackSet-<name>-<id> (and StackSet:<name>, self-managed here)
        from moto.organizations.models import organizations_backends

        master = organizations_backends.master_accounts.get(account)
        if master is None:  # the management account: self-managed StackSets only
            return Principal.role(account, "AWSCloudFormationStackSetExecutionRole", session="stackset")
        return Principal.role(account, "stacksets-exec-charter", session="stackset")
    return getattr(_STATE, "principal", None)


def check_handler(stack_name: str, account: str, region: str, type_name: str, operation: str,
                  resource_arn: str | None, context: dict[str, str] | None = None) -> None:
    """Raise AccessDenied when the stack's principal may not do what the resource's
    handler does for `operation` (create, update, delete)."""
    if not _ENABLED[0]:
        return
    principal = stack_principal(stack_name, account)
    if principal is None or (principal.kind == "root" and principal.account == LOCAL_MANAGEMENT_ACCOUNT):
        return
    from charter.policy.cfn import handler_permissions, primary_resource

    perms = handler_permissions(type_name) or {}
    for action in perms.get(operation, ()):
        arns = {"X.Arn": resource_arn} if resource_arn else {}
        resource = primary_resource(type_name, "X", arns, action)
        decision, req = _decide_as_execution(principal, action, resource, region, context or {})
        if not decision.allowed:
            raise AccessDenied(f"{decision.aws_message(req)} (Service: CloudFormation handler of {type_name})",
                               decision)


def _decide_as_execution(principal: Principal, action: str, resource: str | None, region: str,
                         context: dict[str, str]) -> tuple[Decision, Request]:
    if principal.name.startswith("stacksets-exec-"):
        # AWS makes this role for service-managed StackSets: AdministratorAccess, subject to SCPs
        management, levels = organization_of(principal.account)
        req = Request(principal, action, resource, region, _org_context(principal.account) | context)
        admin = [_parse("identity", "AdministratorAccess", {"Statement": [{"Effect": "Allow", "Action": "*",
                                                                           "Resource": "*"}]})]
        return evaluate(req, scps=levels, identity=admin, management_account=management), req
    return decide(principal, action, resource, region, context)


def service_credentials(account: str, role_arn: str, service: str, region: str) -> tuple[str, str, str]:
    """Credentials of `role_arn` as `service` (lambda.amazonaws.com) gets them on AWS: only
    when the role's trust policy admits the service for this account."""
    name = role_arn.rsplit("/", 1)[-1]
    role = _role(account, name)
    if role is None:
        raise AccessDenied(f"{service} cannot assume {role_arn}: the role does not exist")
    trust = _parse("trust", f"trust policy of {name}", role.assume_role_policy_document)
    decision = evaluate_assume(Principal.service(service), role_arn, trust, region=region,
                               context={"aws:SourceAccount": account})
    if not decision.allowed:
        raise AccessDenied(f"{service} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                           decision)
    from moto.sts.models import sts_backends

    session = sts_backends[account]["aws"].assume_role(region_name=region, role_session_name=service.split(".")[0],
                                                       role_arn=role_arn, policy="", duration=3600, external_id="")
    return session.access_key_id, session.secret_access_key, session.session_token


# -- AWS's own roles --------------------------------------------------------------------------

def create_member_access_roles() -> None:
    """Organizations' CreateAccount makes `OrganizationAccountAccessRole` in the new account
    (AdministratorAccess, trusted by the management account), as AWS documents; moto 5.2.1
    makes the role without any policy, which nothing could use once permissions are enforced."""
    from moto.iam.models import iam_backends
    from moto.organizations import models as orgs

    if getattr(orgs.OrganizationsBackend.create_account, "_charter", False):
        return
    original = orgs.OrganizationsBackend.create_account

    def create_account(self, **kwargs: Any) -> dict[str, Any]:
        status = original(self, **kwargs)
        account = status["CreateAccountStatus"]["AccountId"]
        iam = iam_backends[account]["aws"]
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.account_id}:root"}, "Action": "sts:AssumeRole"}]})
        name = kwargs.get("RoleName") or MEMBER_ACCESS_ROLE
        try:  # moto 5.2 makes the role (without its policy); older releases do not
            iam.create_role(role_name=name, assume_role_policy_document=trust, path="/", permissions_boundary=None,
                            description="Organizations: management account access", tags=[],
                            max_session_duration="3600")
        except Exception:  # noqa: BLE001, S110 - it exists: give it its policy below
            pass
        role = iam.get_role(name)
        if role.policies or role.managed_policies:
            return status
        try:
            iam.attach_role_policy("arn:aws:iam::aws:policy/AdministratorAccess", name)
        except Exception:  # noqa: BLE001 - started without AWS-managed policies: the same grant, inline
            iam.put_role_policy(name, "AdministratorAccess", json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        return status

    create_account._charter = True  # type: ignore[attr-defined]
    orgs.OrganizationsBackend.create_account = create_account


def enforce_cloudformation_handlers() -> None:
    """Each resource CloudFormation creates, updates or deletes is checked against the
    principal its stack runs as; a refusal fails the resource (and the stack rolls back)."""
    from moto.cloudformation import parsing

    if getattr(parsing.parse_and_create_resource, "_charter_enforced", False):
        return
    create, update = parsing.parse_and_create_resource, parsing.parse_and_update_resource

    def checked(operation: str, logical_id: str, resource_json: dict[str, Any], resources_map: Any,
                account_id: str, region_name: str) -> None:
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return
        stack = resources_map["AWS::StackName"]
        type_name = resource_json.get("Type", "")
        arn, context = _resource_identity(type_name, logical_id, resource_json, resources_map, account_id, region_name)
        check_handler(stack, account_id, region_name, type_name, operation, arn, context)

    def guarded(operation: str, logical_id: str, resource_json: dict[str, Any], *args: Any) -> None:
        try:
            checked(operation, logical_id, resource_json, *args)
        except AccessDenied as exc:
            exc.charter_resource = (logical_id, resource_json.get("Type", ""))  # type: ignore[attr-defined]
            raise

    def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):  # type: ignore[no-untyped-def]
        guarded("create", logical_id, resource_json, resources_map, account_id, region_name)
        return create(logical_id, resource_json, resources_map, account_id, region_name)

    def parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name):  # type: ignore[no-untyped-def]
        guarded("update", logical_id, resource_json, resources_map, account_id, region_name)
        return update(logical_id, resource_json, resources_map, account_id, region_name)

    parse_and_create_resource._charter_enforced = True  # type: ignore[attr-defined]
    parsing.parse_and_create_resource = parse_and_create_resource
    parsing.parse_and_update_resource = parse_and_update_resource


def _resource_identity(type_name: str, logical_id: str, resource_json: dict[str, Any], resources_map: Any,
                       account: str, region: str) -> tuple[str | None, dict[str, str]]:
    """The ARN of an IAM role being made (what Charter's guardrails scope by), and the
    boundary it gets (`iam:PermissionsBoundary`)."""
    if type_name != "AWS::IAM::Role":
        return None, {}
    from moto.cloudformation.parsing import clean_json

    props = resource_json.get("Properties") or {}
    try:
        name = clean_json(props.get("RoleName"), resources_map) if props.get("RoleName") else None
        boundary = clean_json(props.get("PermissionsBoundary"), resources_map) if props.get("PermissionsBoundary") else None
    except Exception:  # noqa: BLE001 - moto's own creation reports a bad reference
        return None, {}
    if not name:
        name = f"{resources_map['AWS::StackName']}-{logical_id}"[:50] + "-GENERATED"
    context = {"iam:PermissionsBoundary": boundary} if isinstance(boundary, str) else {}
    return f"arn:aws:iam::{account}:role{props.get('Path', '/')}{name}", context


def install() -> None:
    """Install the hooks (idempotent) and turn enforcement on."""
    create_member_access_roles()
    track_organization_changes()
    enforce_cloudformation_handlers()
    enable(True)

