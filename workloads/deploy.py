"""Deploy (or plan) the optimizer's stacks of one environment into its account.

Reuses the landing zone's deploy machinery (`Run`, `deploy_stack`, templates, journal):
stacks are created or updated in wave order in the environment's account by assuming
`OrganizationAccountAccessRole` (or `--role`), unchanged stacks are only described
(template and parameter hash tags), big templates go through the template bucket, and
every failure is one line naming stack/account/region/resource.

Parameters only deploy knows are filled here: the code bucket (the environment's model
artifacts bucket), the role that deploys (it creates the vector index), the REST API's
domain (an output of the api stack, read after the api wave), the pipeline account id and
the organization id. The organization and accounts must exist (the landing zone made
them); `--local` on an embedded AWS without the landing zone creates them there, with
stand-ins for the landing-zone exports the workload stacks import (`_local_exports`).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
from botocore.parsers import ResponseParserError

from charter.aws import SessionFactory, error_code, error_message
from charter.config.model import OrgConfig
from charter.config.workloads import workload_account
from charter.landing_zone.deploy import orgs
from charter.landing_zone.deploy.journal import Journal
from charter.landing_zone.deploy.run import Change, Run, describe_error
from charter.landing_zone.deploy.stacks import deploy_stack
from charter.landing_zone.deploy.templates import load
from charter.landing_zone.synth import Plan, PlannedStack, build_plan, write_output
from charter.naming import MEMBER_ACCESS_ROLE
from charter.workloads.artifacts import ArtifactError, Artifacts
from charter.workloads.stacks._common import PRIVATE_SUBNETS_EXPORT, VPC_EXPORT, Ctx
from charter.workloads.synth import WorkloadError, synthesize_workloads

#: Stack that stands in for the landing zone's exports in the embedded AWS.
LOCAL_EXPORTS_STACK = "charter-local-landing-zone-exports"


@dataclass
class WorkloadDeployResult:
    plan: Plan
    changes: list[Change] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


class _WorkloadRun(Run):
    """A Run whose member role is configurable (the pipeline uses its own deploy role)."""

    role_name: str = MEMBER_ACCESS_ROLE
    local: bool = False
    artifacts: Artifacts

    def client(self, service: str, region: str | None = None, account_id: str | None = None) -> Any:
        assert self.sessions is not None
        region = region or self.home
        member = account_id if account_id and account_id != self.ctx.management_account_id else None
        key = (service, region, member or "")
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self.sessions.client(
                    service, region=region, account_id=member, role_name=self.role_name if member else None)
            return self._clients[key]


def _only(plan: Plan, env: str, parts: list[str]) -> Plan:
    """The plan reduced to the stacks of `parts` (short names such as `registry`)."""
    by_part = {ps.name.removeprefix(f"optimizer-{env}-"): ps for ps in plan.stacks}
    unknown = [p for p in parts if p not in by_part]
    if unknown:
        raise WorkloadError(f"--stacks {','.join(unknown)}: no such stack in {env}",
                            hint="use one or more of: " + ", ".join(sorted(by_part)))
    return plan.model_copy(update={"stacks": [by_part[p] for p in by_part if p in parts]})


def synth_to(cfg: OrgConfig, env: str, out_dir: Path, config_text: str = "") -> Plan:
    stacks = synthesize_workloads(cfg, env)
    plan = build_plan(cfg, stacks, config_text)
    write_output(stacks, plan, out_dir)
    return plan


def deploy_workload(cfg: OrgConfig, env: str, sessions: SessionFactory, out_dir: Path, *, dry_run: bool = False,
                    local: bool = False, role_name: str = MEMBER_ACCESS_ROLE, config_text: str = "",
                    overrides: dict[str, str] | None = None, poll_interval: float | None = None,
                    artifacts_dir: Path | None = None, stacks: list[str] | None = None) -> WorkloadDeployResult:
    """Deploy (or plan, `dry_run`) the environment's stacks, wave by wave, putting the code
    zips and resolving the image on the way (`workloads.artifacts`). `stacks` limits the run
    to those parts (`registry`, `data`, ...), e.g. the registry before images are pushed."""
    started = time.monotonic()
    out_dir = Path(out_dir)
    plan = synth_to(cfg, env, out_dir, config_text)
    if stacks:
        plan = _only(plan, env, stacks)
    # The embedded AWS starts empty each time: a journal from an earlier local run is stale.
    journal = (None if local else Journal.load(out_dir)) or Journal(organization=cfg.organization.name)
    run = _WorkloadRun(cfg=cfg, sessions=sessions, plan=plan, out_dir=out_dir, journal=journal, dry_run=dry_run,
                       poll_interval=poll_interval if poll_interval is not None else sessions.capabilities.poll_interval)
    run.role_name = role_name
    run.local = local
    run.artifacts = Artifacts(artifacts_dir=Path(artifacts_dir) if artifacts_dir else None)
    ctx = Ctx(cfg, env)
    _resolve_organization(run, local, {ps.deployment.account or ctx.account for ps in plan.stacks})
    if any(ps.name.endswith("-compute") for ps in plan.stacks) and not _quotas_suffice(run, ctx):
        # nothing deploys into an account that cannot hold the stacks (a half-created compute stack)
        return WorkloadDeployResult(plan=plan, changes=run.changes, failures=run.failures, notes=run.notes,
                                    elapsed=time.monotonic() - started)
    if local and not dry_run:
        _local_exports(run, ctx)
    extra = dict(overrides or {})
    waves: dict[int, list[PlannedStack]] = {}
    for ps in plan.stacks:
        waves.setdefault(ps.deployment.order, []).append(ps)
    for order in sorted(waves):
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda ps: _deploy_one(run, ctx, ps, extra), waves[order]))
        run.save_journal()
    # Stacks that name a resource of a later wave (the data stack's bucket policy names the
    # edge stack's distribution): once that exists, update them with it (no-op when unchanged).
    for ps in plan.stacks:
        if ps.name in run.failed_stacks or not _later_values(run, ps):
            continue
        _deploy_one(run, ctx, ps, extra)
        run.save_journal()
    if not run.failed_stacks and any(ps.name.endswith("-edge") for ps in plan.stacks):
        try:
            upload_console(run, ctx)
        except botocore.exceptions.ClientError as exc:
            run.fail(f"console upload: {error_code(exc)}: {error_message(exc)}")
    return WorkloadDeployResult(plan=plan, changes=run.changes, failures=run.failures, notes=run.notes,
                                elapsed=time.monotonic() - started)


def _resolve_organization(run: Run, local: bool, needed: set[str]) -> None:
    try:
        state = orgs.read_state(run)
    except botocore.exceptions.ClientError as exc:
        if local or error_code(exc) not in ("AccessDeniedException", "AccessDenied"):
            raise
        # A member account (the pipeline's): it may describe the organization but not list
        # it, so account ids come from org.yaml (`account_id`).
        _from_config(run)
        return
    if state is None and not local:
        raise WorkloadError("these credentials are not in an AWS Organization",
                            hint="deploy the landing zone first (`charter deploy`), or use --local")
    assert run.sessions is not None
    state = orgs.ensure_organization(run, state, check_management=run.sessions.capabilities.config_account_ids)
    if local:
        # The embedded AWS gets only the accounts these stacks deploy to (creating the whole
        # organization is the landing zone's deploy); they are adopted by email if present.
        full = run.cfg
        run.cfg = full.model_copy(update={"accounts": [a for a in full.accounts if a.name in needed]})
        try:
            orgs.ensure_accounts(run, state)
        finally:
            run.cfg = full
        return
    by_email = {a["Email"].lower(): aid for aid, a in state.accounts.items() if a.get("Email")}
    for acct in run.cfg.accounts:
        found = acct.account_id or by_email.get(str(acct.email).lower())
        if found:
            run.ctx.account_ids[acct.name] = found


def _quotas_suffice(run: Run, ctx: Ctx) -> bool:
    """The environment's account has the Lambda concurrency its stacks reserve and provision
    (`workloads.quotas`); False after reporting the increase to request."""
    from charter.landing_zone.deploy.context import PENDING
    from charter.landing_zone.deploy.templates import parse_body
    from charter.workloads.quotas import check_lambda_concurrency, lambda_concurrency_need

    account = run.ctx.account_id(ctx.account)
    templates = [parse_body((run.out_dir / ps.file).read_text()) for ps in run.plan.stacks
                 if (ps.deployment.account or ctx.account) == ctx.account and ctx.region in ps.deployment.regions]
    need = lambda_concurrency_need(templates)
    if account == PENDING:
        run.note(f"quota/{ctx.account}/{ctx.region}: the account does not exist yet; a new account's Lambda "
                 f"concurrency quota may be as low as 10, these stacks need {need.total}")
        return True
    try:
        short = check_lambda_concurrency(run.client("service-quotas", region=ctx.region, account_id=account), need,
                                         where=f"{ctx.account}/{ctx.region}")
    except botocore.exceptions.ClientError as exc:
        run.fail(f"quota/{ctx.account}/{ctx.region}: cannot read Lambda's concurrency quota: {describe_error(exc)} "
                 "(the deploying role needs servicequotas:GetServiceQuota and GetAWSDefaultServiceQuota)")
        return False
    if short is not None:
        run.fail(short.render())
        return False
    return True


def _from_config(run: Run) -> None:
    org = run.client("organizations").describe_organization()["Organization"]
    run.ctx.organization_id = org["Id"]
    run.ctx.management_account_id = org["MasterAccountId"]
    missing = [a.name for a in run.cfg.accounts if not a.account_id]
    for acct in run.cfg.accounts:
        if acct.account_id:
            run.ctx.account_ids[acct.name] = acct.account_id
    if missing:
        run.fail("organization: cannot list accounts from this account; set `account_id` in org.yaml for "
                 + ", ".join(missing))


def _imported_exports(node: Any) -> set[str]:
    """The export names a template fragment imports with a literal Fn::ImportValue."""
    if isinstance(node, list):
        return set().union(*(_imported_exports(v) for v in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["Fn::ImportValue"]} if isinstance(node.get("Fn::ImportValue"), str) else set()
    return found.union(*(_imported_exports(v) for v in node.values()))


def _local_exports(run: Run, ctx: Ctx) -> None:
    """Stand-ins for the landing zone's key and network exports, on the embedded AWS only, for
    `charter workload deploy --local` on its own: the embedded AWS then starts empty, without
    the landing zone the workload builds on. Only the exports the stacks of a region import
    are made, and only where the landing zone has not deployed them (after `charter deploy`
    on the same embedded AWS, as in `charter demo`, its real exports serve and nothing is
    made). A region whose stacks import nothing gets nothing, as on AWS."""
    import json

    from charter.aws import paginate
    from charter.landing_zone.deploy.templates import parse_body

    account = run.ctx.account_id(ctx.account)
    key_policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:*", "Resource": "*",
        "Principal": {"AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"}}}]}
    parts = {
        "charter-kms-key-arn": (
            {"Key": {"Type": "AWS::KMS::Key", "Properties": {"Description": "local stand-in for the environment key",
                                                               "KeyPolicy": key_policy}}},
            {"KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}, "Export": {"Name": "charter-kms-key-arn"}}}),
        VPC_EXPORT: (
            {"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.99.0.0/16"}},
             "SubnetA": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.99.1.0/24"}},
             "SubnetB": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.99.2.0/24"}}},
            {"VpcId": {"Value": {"Ref": "Vpc"}, "Export": {"Name": VPC_EXPORT}},
             "Subnets": {"Value": {"Fn::Join": [",", [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]]},
                         "Export": {"Name": PRIVATE_SUBNETS_EXPORT}}}),
    }
    provides = {"charter-kms-key-arn": "charter-kms-key-arn", VPC_EXPORT: VPC_EXPORT, PRIVATE_SUBNETS_EXPORT: VPC_EXPORT}
    imports: dict[str, set[str]] = {}
    for ps in run.plan.stacks:
        names = _imported_exports(parse_body((run.out_dir / ps.file).read_text()))
        for region in ps.deployment.regions:
            imports.setdefault(region, set()).update(names)
    for region in sorted(imports):
        cfn = run.client("cloudformation", region=region, account_id=account)
        existing = {e["Name"] for e in paginate(cfn, "list_exports", "Exports").items}
        missing = sorted({provides[n] for n in imports[region] - existing if n in provides})
        if not missing:
            continue  # nothing imported here, or the landing zone is deployed here: its real exports serve
        try:
            cfn.describe_stacks(StackName=LOCAL_EXPORTS_STACK)
            continue
        except botocore.exceptions.ClientError:
            pass
        body = json.dumps({"Resources": {k: v for n in missing for k, v in parts[n][0].items()},
                           "Outputs": {k: v for n in missing for k, v in parts[n][1].items()}})
        run.mutate(Change("stack", f"{LOCAL_EXPORTS_STACK} ({ctx.account}/{region})", "create",
                          ["embedded AWS: stand-ins for the landing zone's " + ", ".join(missing)]),
                   cfn.create_stack, StackName=LOCAL_EXPORTS_STACK, TemplateBody=body)


def _stack_parameter(run: Run, account: str, region: str, stack: str, key: str) -> str | None:
    from charter.landing_zone.deploy.context import PENDING

    if account == PENDING:
        return None
    try:
        cfn = run.client("cloudformation", region=region, account_id=account)
        params = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Parameters", [])
    except botocore.exceptions.ClientError:
        return None
    return next((p.get("ParameterValue") for p in params if p["ParameterKey"] == key), None)


def _stack_output(run: Run, account: str, region: str, stack: str, key: str) -> str | None:
    try:
        cfn = run.client("cloudformation", region=region, account_id=account)
        outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except botocore.exceptions.ClientError:
        return None
    return next((o["OutputValue"] for o in outputs if o["OutputKey"] == key), None)


def caller_principal(run: Run, account: str, region: str) -> str:
    """The IAM principal CloudFormation acts as for stacks deploy creates in `account`: the
    identity of deploy's own client there (an assumed role's session is its role; a role's
    path is not part of the session ARN, and AWS's data access policies match the role by name)."""
    from charter.landing_zone.deploy.context import PENDING

    if account == PENDING:
        return f"arn:aws:iam::{'0' * 12}:role/{getattr(run, 'role_name', MEMBER_ACCESS_ROLE)}"
    arn = run.client("sts", region=region, account_id=account).get_caller_identity()["Arn"]
    partition, rest = arn.split(":")[1], arn.split(":", 5)[5]
    if rest.startswith("assumed-role/"):
        return f"arn:{partition}:iam::{account}:role/{rest.split('/')[1]}"
    return arn  # an IAM user (or a role ARN given as such)


def deploy_values(run: Run, ctx: Ctx, ps: PlannedStack, wanted: set[str]) -> dict[str, str]:
    """Values of the parameters only deploy knows, for the account `ps` deploys to."""
    from charter.landing_zone.deploy.context import PENDING

    account = run.ctx.account_id(ps.deployment.account or ctx.account)
    home = ctx.region
    values = {
        "CodeBucket": Ctx.bucket(ctx, "models").replace("${AWS::AccountId}", account).replace("${AWS::Region}", home),
        "OrganizationId": run.ctx.organization_id,
    }
    wl = ctx.workload
    if wl.cicd:
        values["PipelineAccountId"] = run.ctx.account_id(wl.cicd.account)
        for env in wl.environments:
            values[f"{env.capitalize()}AccountId"] = run.ctx.account_id(workload_account(run.cfg, env))
    if "DeployerArn" in wanted:  # the bedrock stack: CloudFormation creates its vector index as this caller
        values["DeployerArn"] = caller_principal(run, account, home)
    api_stack = f"charter-optimizer-{ctx.env}-api"
    if wanted & {"UserPoolProvider", "UserPoolClientId"}:  # the edge stack's RUM identity pool
        api_account = run.ctx.account_id(ctx.account)
        pool = _stack_output(run, api_account, home, api_stack, "UserPoolId")
        client = _stack_output(run, api_account, home, api_stack, "UserPoolClientId")
        if pool and client:
            values["UserPoolProvider"] = f"cognito-idp.{home}.amazonaws.com/{pool}"
            values["UserPoolClientId"] = client
        elif run.dry_run:
            values["UserPoolProvider"] = f"cognito-idp.{home}.amazonaws.com/{home}_pending"
            values["UserPoolClientId"] = "pending"
    for name in wanted & set(LATER_OUTPUTS):  # an output of a later wave, once it exists
        part, output = LATER_OUTPUTS[name]
        later = next((p for p in run.plan.stacks if p.name == f"optimizer-{ctx.env}-{part}"), None)
        later_account = run.ctx.account_id(later.deployment.account or ctx.account) if later else PENDING
        if later is not None and later_account != PENDING:
            found = _stack_output(run, later_account, later.deployment.regions[0], later.stack_name, output)
            if found:
                values[name] = found
    if "RestApiDomain" in wanted:  # an output of the api stack, deployed in an earlier wave
        domain = _stack_output(run, run.ctx.account_id(ctx.account), home, api_stack, "RestApiDomain")
        if domain:
            values["RestApiDomain"] = domain
        elif run.dry_run:
            values["RestApiDomain"] = f"pending.execute-api.{home}.amazonaws.com"
    return values


#: Parameters whose value is an output of a stack in a later wave: (stack part, output).
LATER_OUTPUTS = {"ResultsDistributionId": ("edge", "DistributionId")}


def _later_values(run: Run, ps: PlannedStack) -> bool:
    """Whether `ps` takes a parameter that a later wave's output fills."""
    from charter.landing_zone.deploy.templates import parse_body

    try:
        wanted = set(parse_body((run.out_dir / ps.file).read_text()).get("Parameters") or {})
    except OSError:
        return False
    return bool(wanted & set(LATER_OUTPUTS))


def _deploy_one(run: _WorkloadRun, ctx: Ctx, ps: PlannedStack, extra: dict[str, str]) -> None:
    blocked = [d for d in ps.deployment.depends_on if d in run.failed_stacks]
    if blocked:
        run.fail(f"{ps.stack_name}: skipped, depends on {', '.join(blocked)} which failed")
        run.failed_stacks.add(ps.name)
        return
    try:
        tpl = load(run, ps)
        wanted = set(tpl.data.get("Parameters") or {})
        known = {**deploy_values(run, ctx, ps, wanted), **extra}
        for name in sorted(wanted):
            if name in known and name not in tpl.parameters:
                tpl.parameters[name] = known[name]
                if name in tpl.missing:
                    tpl.missing.remove(name)
        account = run.ctx.account_id(ps.deployment.account or ctx.account)
        if "CodeBucket" in wanted:  # the zips are in the code bucket before the functions need them
            keys = run.artifacts.code_keys(run, account, tpl.parameters["CodeBucket"], extra)
            for name in ("CodeKey", "LayerKey"):  # a plan that builds nothing keeps what the stack runs
                if name in wanted and name not in keys:
                    keys[name] = _stack_parameter(run, account, ctx.region, ps.stack_name, name) or ""
            tpl.parameters.update({k: v for k, v in keys.items() if k in wanted and v})
        if "ImageTag" in wanted:  # the image exists, or the image-based function waits for it
            current = _stack_parameter(run, account, ctx.region, f"charter-optimizer-{ctx.env}-compute", "ImageTag")
            tpl.parameters["ImageTag"] = run.artifacts.risk_image_tag(run, ctx, account, extra.get("ImageTag"),
                                                                      current)
        ok = deploy_stack(run, tpl)
    except ArtifactError as exc:
        run.fail(f"{ps.stack_name}: {exc.message}; fix: {exc.hint or exc.fix}")
        ok = False
    except botocore.exceptions.ClientError as exc:
        run.fail(f"{ps.stack_name}: {error_code(exc)}: {error_message(exc)}")
        ok = False
    except (botocore.exceptions.BotoCoreError, ResponseParserError, OSError) as exc:
        run.fail(f"{ps.stack_name}: {describe_error(exc)}")
        ok = False
    if not ok:
        run.failed_stacks.add(ps.name)


# -- the console --------------------------------------------------------------------------------

#: Cache-Control per kind of console file: hashed assets never change, the rest is revalidated.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
ERROR_PAGES = {"403": "Access denied", "404": "Not found", "5xx": "Service unavailable"}


def console_config(ctx: Ctx, region: str, api: dict[str, str], edge: dict[str, str]) -> dict[str, Any]:
    """The console's runtime config on AWS (the local one: `workloads.console_site.ConsoleSite.config`)."""
    ws = f"wss://{api['WebSocketApiId']}.execute-api.{region}.amazonaws.com/{api.get('WebSocketStage') or ctx.env}"
    rum = None
    if edge.get("AppMonitorId"):
        rum = {"app_monitor_id": edge["AppMonitorId"], "identity_pool_id": edge["RumIdentityPoolId"],
               "guest_role_arn": edge["RumGuestRoleArn"], "region": edge.get("region", "us-east-1"),
               "sample_rate": ctx.settings.rum_sample_rate,
               "user_pool_provider": f"cognito-idp.{region}.amazonaws.com/{api['UserPoolId']}"}
    return {"mode": "aws", "title": f"{ctx.cfg.organization.name} {ctx.env}",
            "identity": {"kind": "cognito", "domain": f"https://{api['UserPoolDomain']}",
                         "client_id": api["UserPoolClientId"], "user_pool_id": api["UserPoolId"]},
            # no API key: each user's comes from the REST authorizer (per-user usage plan)
            "api": {"base": "", "optimizer": True, "compliance": True, "websocket": ws, "key": None},
            "rum": rum}


def _outputs(run: Run, account: str, region: str, stack: str) -> dict[str, str]:
    cfn = run.client("cloudformation", region=region, account_id=account)
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except botocore.exceptions.ClientError:
        return {}
    return {o["OutputKey"]: o["OutputValue"] for o in found}


def _error_page(code: str, title: str) -> bytes:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
            f'<body><main><h1>{title}</h1><p>Error {code}. <a href="/">Back to the console</a></p></main></body>'
            "</html>").encode()


def upload_console(run: Run, ctx: Ctx) -> int:
    """Put the built console (`workloads/console/dist`), its config.json, the API's OpenAPI
    document (the job form is built from it) and the error pages under `console/` of the
    results bucket, which the edge stack's distribution serves. Returns the files written."""
    import json
    import mimetypes

    from charter.workloads.console import dist_dir
    from charter.workloads.handlers.openapi import openapi_document
    from charter.workloads.stacks.edge import CONSOLE_PREFIX

    account = run.ctx.account_id(ctx.account)
    home = ctx.region
    api = _outputs(run, account, home, f"charter-optimizer-{ctx.env}-api")
    edge_stack = next((ps for ps in run.plan.stacks if ps.name.endswith(f"{ctx.env}-edge")), None)
    edge_region = edge_stack.deployment.regions[0] if edge_stack else "us-east-1"
    edge = {**_outputs(run, account, edge_region, f"charter-optimizer-{ctx.env}-edge"), "region": edge_region}
    missing = [k for k in ("UserPoolId", "UserPoolClientId", "UserPoolDomain", "WebSocketApiId") if k not in api]
    if missing:
        run.fail(f"console upload: the api stack has no output {', '.join(missing)}; deploy it first")
        return 0
    files: dict[str, tuple[bytes, str, str]] = {}
    dist = dist_dir()
    if not (dist / "index.html").is_file():
        run.fail(f"console upload: {dist} has no build; run `charter console build`")
        return 0
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        rel = path.relative_to(dist).as_posix()
        kind = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html",
                ".json": "application/json"}.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        files[rel] = (path.read_bytes(), kind, IMMUTABLE if rel.startswith("assets/") else REVALIDATE)
    files["config.json"] = (json.dumps(console_config(ctx, home, api, edge), indent=1).encode(),
                            "application/json", REVALIDATE)
    files["openapi.json"] = (json.dumps(openapi_document(server_url=f"https://{ctx.settings.domain}")).encode(),
                             "application/json", REVALIDATE)
    for code, title in ERROR_PAGES.items():
        files[f"errors/{code}.html"] = (_error_page(code, title), "text/html", REVALIDATE)
    bucket = f"{ctx.prefix}-results-{account}-{home}"
    s3 = run.client("s3", region=home, account_id=account)
    run.mutate(Change("stack", f"s3://{bucket}/{CONSOLE_PREFIX}/", "upload",
                      [f"console: {len(files)} files (app, config.json, openapi.json, error pages)"]))
    if run.dry_run:
        return 0
    # assets first, index.html last: a visitor never gets an index naming assets not there yet
    order = sorted(files, key=lambda k: (k == "index.html", k))
    for rel in order:
        body, kind, cache = files[rel]
        if kind.startswith("text/") or kind == "application/json":
            kind += "; charset=utf-8"
        s3.put_object(Bucket=bucket, Key=f"{CONSOLE_PREFIX}/{rel}", Body=body, ContentType=kind, CacheControl=cache)
    return len(files)
