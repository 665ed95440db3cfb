"""CI/CD: one CodePipeline promoting the optimizer dev -> staging -> prod, with approvals.

    Source (CodeConnections) -> Build (tests, handler zips, container images)
      -> Deploy dev -> [approval] -> Deploy staging -> [approval] -> Deploy prod

The build makes every artifact from the repository: `charter workload package optimizer`
(workloads/package.py: the handlers zip and the shared layer) and one image per ECR
repository from the Dockerfiles in `IMAGES`.

The pipeline lives in `workloads.optimizer.cicd.account`. Each deploy action is a
CodeBuild run that assumes the environment's deploy role (the `cicd-target` stack in
that account): it deploys the environment's registry stack (the ECR repositories), pushes the
images there, then runs `charter workload deploy --image-tag <tag> --artifacts dist`, which
uploads the zips once the code bucket exists. So a first run works on an empty account.
Approvals are skipped only where `approval_required: false` (never needed for dev).
The artifact bucket and build logs are encrypted with the pipeline account's key.
"""

from __future__ import annotations

from awacs import cloudformation as cfn
from awacs import codebuild as cb_actions
from awacs import codeconnections
from awacs import codestar_connections as cs_connections
from awacs import ecr as ecr_actions
from awacs import iam as iam_actions
from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs import sts as sts_actions
from awacs.aws import (
    Action,
    Allow,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from awacs.sts import AssumeRole
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template
from troposphere import codebuild as cb
from troposphere import codepipeline as cp
from troposphere.iam import ManagedPolicy, Role
from troposphere.iam import Policy as InlinePolicy

from charter.config.workloads import ENVIRONMENT_ORDER
from charter.landing_zone.components.s3 import secure_bucket
from charter.landing_zone.context import context_parameter
from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.registry import builder
from charter.naming import (
    access_log_bucket_name,
    workload_boundary_name,
    workload_deploy_role_name,
)
from charter.workloads.package import DEFAULT_ARCH as LAYER_ARCH

from ._common import Ctx, allow, key_parameter, key_use, log_group, new_template, service_role

BUILD_IMAGE = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"


def deploy_role_name(ctx: Ctx) -> str:
    """The role the pipeline assumes in each environment's account."""
    return workload_deploy_role_name(ctx.cfg)


def pipeline_build_role_name(ctx: Ctx) -> str:
    return f"{ctx.cfg.organization.name}-optimizer-pipeline-deploy"


#: The Dockerfile of each ECR repository (registry.REPOSITORIES), paths from the repository
#: root. Processing and search are one image, the SageMaker one (optimizer/container: its
#: entrypoint serves the Processing and the Training contracts), pushed to both repositories;
#: the risk manager is a Lambda image that unpacks the handlers zip.
IMAGES = {
    "risk": "workloads/container/risk.Dockerfile",
    "processing": "optimizer/container/Dockerfile",
    "search": "optimizer/container/Dockerfile",
}
#: What the build writes for the deploy stages: the zips, one image archive, the image tag.
IMAGES_TAR = "dist/images.tar"
TAG_FILE = "dist/image-tag"


def _build_spec() -> str:
    by_file: dict[str, list[str]] = {}
    for image, dockerfile in IMAGES.items():
        by_file.setdefault(dockerfile, []).append(image)
    # `-f` paths are literal (tests check each exists); one build per Dockerfile, tagged per repository.
    builds = [f"docker build -f {dockerfile} " + " ".join(f'-t "optimizer-{i}:$TAG"' for i in images) + " ."
              for dockerfile, images in by_file.items()]
    commands = [
        "python -m pytest -q",
        f"charter workload package optimizer -o dist --arch {LAYER_ARCH}",
        # the commit, or the build number where CodePipeline passes no revision; the deploy
        # stages read it from the artifact (their own source version is the build's artifact).
        f'TAG="${{CODEBUILD_RESOLVED_SOURCE_VERSION:-build-$CODEBUILD_BUILD_NUMBER}}" && echo "$TAG" > {TAG_FILE}',
        *builds,
        f"docker save -o {IMAGES_TAR} " + " ".join(f'"optimizer-{i}:$TAG"' for i in IMAGES),
    ]
    return ("version: 0.2\nphases:\n  install:\n    commands:\n      - pip install -e '.[test]'\n"
            "  build:\n    commands:\n" + "".join(f"      - {c}\n" for c in commands)
            + "artifacts:\n  files: ['**/*']\n  base-directory: .\n")


BUILD_SPEC = _build_spec()

DEPLOY_SPEC = """version: 0.2
env:
  shell: bash
phases:
  install:
    commands:
      - pip install -e .
  build:
    commands:
      - TAG=$(cat """ + TAG_FILE + """); REGISTRY="${TARGET_ACCOUNT_ID}.dkr.ecr.${AWS_REGION}.amazonaws.com"
      - charter workload deploy optimizer --env "$TARGET_ENV" -c "$CONFIG_FILE" --role "$DEPLOY_ROLE" --stacks registry
      - creds=$(aws sts assume-role --role-arn "arn:aws:iam::${TARGET_ACCOUNT_ID}:role/${DEPLOY_ROLE}" --role-session-name pipeline --query Credentials --output json)
      - export AWS_ACCESS_KEY_ID=$(echo "$creds" | jq -r .AccessKeyId) AWS_SECRET_ACCESS_KEY=$(echo "$creds" | jq -r .SecretAccessKey) AWS_SESSION_TOKEN=$(echo "$creds" | jq -r .SessionToken)
      - aws ecr get-login-password | docker login --username AWS --password-stdin "$REGISTRY"
      - docker load -i """ + IMAGES_TAR + """
      - for image in """ + " ".join(IMAGES) + """; do docker tag "optimizer-$image:$TAG" "$REGISTRY/${PREFIX}-$image:$TAG" && docker push "$REGISTRY/${PREFIX}-$image:$TAG" || exit 1; done
      - unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
      - charter workload deploy optimizer --env "$TARGET_ENV" -c "$CONFIG_FILE" --role "$DEPLOY_ROLE" --image-tag "$TAG" --artifacts dist
"""


def _action(name: str, category: str, provider: str, owner: str = "AWS", run_order: int = 1, **props: object) -> cp.Actions:
    return cp.Actions(Name=name, RunOrder=run_order, ActionTypeId=cp.ActionTypeId(
        Category=category, Owner=owner, Provider=provider, Version="1"), **props)


@builder("workload_cicd", controls=["DAT-01", "ENC-02", "ENC-04", "LOG-04", "LOG-05", "WKL-03", "WKL-05", "WKL-07", "WKL-11"],
         description="The optimizer's delivery pipeline (CodePipeline, CodeBuild, artifact bucket).")
def build(ctx: Ctx) -> Template:
    """The pipeline stack (deployed to the CI/CD account)."""
    cicd = ctx.workload.cicd
    assert cicd is not None
    t = new_template(ctx, "CI/CD pipeline")
    key = key_parameter(t, ctx)
    org_id = context_parameter(t, "OrganizationId")
    config_file = t.add_parameter(Parameter("ConfigFile", Type="String", Default="org.yaml",
                                            Description="Path of org.yaml in the repository."))

    artifacts, _ = secure_bucket(
        t, "ArtifactBucket", controls=["WKL-07", "WKL-03"], bucket_name=f"{ctx.cfg.organization.name}-optimizer-"
        "pipeline-${AWS::AccountId}-${AWS::Region}", kms_key_arn=key, access_log_bucket=access_log_bucket_name(ctx.cfg))
    artifact_objects = Sub("${Arn}/*", Arn=GetAtt(artifacts, "Arn"))
    logs = log_group(t, ctx, "BuildLogs", f"/charter/{ctx.cfg.organization.name}-optimizer/codebuild", key, "WKL-07")
    common = [allow([s3_actions.GetObject, s3_actions.PutObject, s3_actions.GetObjectVersion], [artifact_objects]),
              allow([s3_actions.GetBucketLocation], [GetAtt(artifacts, "Arn")]),
              allow([logs_actions.CreateLogStream, logs_actions.PutLogEvents], [GetAtt(logs, "Arn"),
                    Sub("${Arn}:*", Arn=GetAtt(logs, "Arn"))]),
              key_use(key)]
    build_role = service_role(t, "BuildRole", "codebuild.amazonaws.com", common, "WKL-07", "WKL-11")
    deploy_role = service_role(t, "DeployBuildRole", "codebuild.amazonaws.com", [
        *common,
        allow([AssumeRole], [Sub("arn:${AWS::Partition}:iam::*:role/" + deploy_role_name(ctx))],
              condition=Condition(StringEquals("aws:ResourceOrgID", Ref(org_id)))),
    ], "WKL-07", "WKL-11", name=pipeline_build_role_name(ctx))

    def project(logical: str, name: str, role: Role, spec: str, privileged: bool, env: dict[str, object]) -> cb.Project:
        return t.add_resource(controls(cb.Project(
            logical, Name=name, ServiceRole=GetAtt(role, "Arn"), EncryptionKey=key,
            Source=cb.Source(Type="CODEPIPELINE", BuildSpec=spec), Artifacts=cb.Artifacts(Type="CODEPIPELINE"),
            Environment=cb.Environment(
                Type="LINUX_CONTAINER", ComputeType="BUILD_GENERAL1_MEDIUM", Image=BUILD_IMAGE,
                PrivilegedMode=privileged, EnvironmentVariables=[
                    cb.EnvironmentVariable(Name=k, Type="PLAINTEXT", Value=v) for k, v in env.items()]),
            LogsConfig=cb.LogsConfig(CloudWatchLogs=cb.CloudWatchLogs(Status="ENABLED", GroupName=Ref(logs))),
            TimeoutInMinutes=60), "WKL-07", "WKL-05"))

    # Docker-in-Docker needs privileged mode: the build builds the optimizer's images, each
    # deploy loads and pushes them (`docker load`/`push` talk to the same in-build daemon).
    build_project = project("BuildProject", f"{ctx.cfg.organization.name}-optimizer-build", build_role, BUILD_SPEC,
                            True, {"CONFIG_FILE": Ref(config_file)})

    pipeline_role = service_role(t, "PipelineRole", "codepipeline.amazonaws.com", [
        *common,
        allow([cb_actions.StartBuild, cb_actions.BatchGetBuilds], [Sub(
            "arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:project/"
            + ctx.cfg.organization.name + "-optimizer-*")]),
        allow([codeconnections.UseConnection, cs_connections.UseConnection], [cicd.connection_arn]),
        allow([s3_actions.ListBucket], [GetAtt(artifacts, "Arn")]),
    ], "WKL-07", "WKL-11")

    stages = [
        cp.Stages(Name="Source", Actions=[_action(
            "Source", "Source", "CodeStarSourceConnection", OutputArtifacts=[cp.OutputArtifacts(Name="source")],
            Configuration={"ConnectionArn": cicd.connection_arn, "FullRepositoryId": cicd.repository,
                           "BranchName": cicd.branch, "OutputArtifactFormat": "CODE_ZIP"})]),
        cp.Stages(Name="Build", Actions=[_action(
            "TestAndBuild", "Build", "CodeBuild", InputArtifacts=[cp.InputArtifacts(Name="source")],
            OutputArtifacts=[cp.OutputArtifacts(Name="built")],
            Configuration={"ProjectName": Ref(build_project)})]),
    ]
    envs = [e for e in ENVIRONMENT_ORDER if e in ctx.workload.environments]
    for env in envs:
        proj = project(f"Deploy{env.capitalize()}Project", f"{ctx.cfg.organization.name}-optimizer-deploy-{env}",
                       deploy_role, DEPLOY_SPEC, True,
                       {"TARGET_ENV": env, "CONFIG_FILE": Ref(config_file), "DEPLOY_ROLE": deploy_role_name(ctx),
                        "PREFIX": Ctx(ctx.cfg, env).prefix,
                        "TARGET_ACCOUNT_ID": Ref(t.add_parameter(Parameter(
                            f"{env.capitalize()}AccountId", Type="String", AllowedPattern=r"^\d{12}$",
                            Description=f"Account id of the {env} optimizer (filled by deploy).")))})
        actions = []
        if env != "dev" and ctx.workload.environments[env].approval_required:  # type: ignore[index]
            actions.append(_action(f"Approve{env.capitalize()}", "Approval", "Manual", run_order=1, Configuration={
                "CustomData": f"Approve deploying the optimizer to {env} (change management, CHG-01)."}))
        actions.append(_action(f"Deploy{env.capitalize()}", "Build", "CodeBuild", run_order=len(actions) + 1,
                               InputArtifacts=[cp.InputArtifacts(Name="built")],
                               Configuration={"ProjectName": Ref(proj)}))
        stages.append(cp.Stages(Name=f"Deploy-{env}", Actions=actions))

    pipeline = t.add_resource(controls(cp.Pipeline(
        "Pipeline", Name=f"{ctx.cfg.organization.name}-optimizer", PipelineType="V2", ExecutionMode="QUEUED",
        RoleArn=GetAtt(pipeline_role, "Arn"), RestartExecutionOnUpdate=False,
        ArtifactStore=cp.ArtifactStore(Type="S3", Location=Ref(artifacts), EncryptionKey=cp.EncryptionKey(
            Id=key, Type="KMS")),
        Stages=stages), "WKL-07"))
    t.add_output(Output("PipelineName", Value=Ref(pipeline)))
    return t


@builder("workload_cicd_target", controls=["WKL-07", "WKL-11"],
         description="The deploy role the optimizer pipeline assumes in each environment.")
def build_target(ctx: Ctx) -> Template:
    """The deploy role in one environment's account, trusted only by the pipeline's deploy builds."""
    t = new_template(ctx, "CI/CD deploy role")
    pipeline_account = t.add_parameter(Parameter(
        "PipelineAccountId", Type="String", AllowedPattern=r"^\d{12}$",
        Description="Account that hosts the optimizer pipeline (filled by deploy)."))
    trust = PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Action=[AssumeRole],
        Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${Account}:role/" + pipeline_build_role_name(ctx),
                                       Account=Ref(pipeline_account))))])
    stacks = Sub("arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/charter-optimizer-"
                 + ctx.env + "-*")
    roles = [Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/charter-optimizer-" + ctx.env + "-*"),
             Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + ctx.prefix + "-*")]
    boundary = ctx.boundary_arn
    # The boundary of every role the pipeline creates or changes: anything but IAM,
    # Organizations and account settings, so no role the pipeline makes can grant itself more.
    boundary_policy = ManagedPolicy(
        "DeployBoundary", ManagedPolicyName=workload_boundary_name(ctx.cfg, ctx.env),
        Description=f"Permissions boundary of the optimizer's {ctx.env} roles (the pipeline must set it)",
        PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[
            Statement(Sid="AnythingButIdentity", Effect=Allow, NotAction=[
                iam_actions.Action("*"), Action("organizations", "*"), Action("account", "*")], Resource=["*"]),
            allow([iam_actions.PassRole, iam_actions.GetRole], roles, sid="PassOwnRoles"),
        ]))
    # A permissions boundary grants nothing: it is the ceiling of what the roles' own policies
    # may grant, and checkov reads it as if it were a grant.
    for check in ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111"):
        suppress(boundary_policy, check, "Permissions boundary (a ceiling, never attached as a grant): it caps "
                                         "every workload role below IAM, Organizations and account changes")
    t.add_resource(controls(boundary_policy, "WKL-07", "WKL-11"))
    bounded = Condition(StringEquals("iam:PermissionsBoundary", boundary))
    role = Role("DeployRole", RoleName=deploy_role_name(ctx), AssumeRolePolicyDocument=trust, MaxSessionDuration=3600,
                ManagedPolicyArns=[Sub("arn:${AWS::Partition}:iam::aws:policy/PowerUserAccess")],
                Policies=[InlinePolicy(PolicyName="DeployOptimizer", PolicyDocument=PolicyDocument(
                    Version="2012-10-17", Statement=[
                        allow([cfn.Action("*")], [stacks], sid="OptimizerStacks"),
                        # creating a role or changing its permissions only with the boundary on it
                        allow([iam_actions.Action(a) for a in (
                            "CreateRole", "PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy",
                            "PutRolePermissionsBoundary")], roles, sid="OptimizerRolesBounded", condition=bounded),
                        allow([iam_actions.Action(a) for a in (
                            "DeleteRole", "GetRole", "PassRole", "TagRole", "UntagRole", "GetRolePolicy",
                            "UpdateAssumeRolePolicy", "UpdateRole", "UpdateRoleDescription", "ListRolePolicies",
                            "ListAttachedRolePolicies")], roles, sid="OptimizerRoles"),
                        Statement(Sid="KeepBoundaries", Effect=Deny, Action=[
                            iam_actions.DeleteRolePermissionsBoundary, iam_actions.CreatePolicyVersion,
                            iam_actions.DeletePolicy, iam_actions.DeletePolicyVersion,
                            iam_actions.SetDefaultPolicyVersion], Resource=["*"]),
                        allow([iam_actions.CreateServiceLinkedRole], ["*"], sid="ServiceLinkedRoles",
                              condition=Condition(StringEquals("iam:AWSServiceName", [
                                  "dynamodb.application-autoscaling.amazonaws.com", "ops.apigateway.amazonaws.com",
                                  "replication.dynamodb.amazonaws.com"]))),
                        allow([kms_actions.DescribeKey], ["*"], sid="ResolveEnvironmentKeyAlias"),
                        allow([ecr_actions.GetAuthorizationToken, sts_actions.GetCallerIdentity,
                               Action("organizations", "DescribeOrganization")], ["*"], sid="Login"),
                    ]))])
    t.add_resource(controls(role, "WKL-07", "WKL-11"))
    t.add_output(Output("DeployRoleArn", Value=GetAtt(role, "Arn")))
    return t
