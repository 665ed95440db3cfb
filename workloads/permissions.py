"""The workloads' part of the permission model.

Each environment's stacks are deployed into its account: by the pipeline's deploy role
(`<org>-optimizer-deploy`, assumed by the pipeline's deploy builds) when the workload has
a pipeline, else by `charter workload deploy` through `OrganizationAccountAccessRole`. The
deploy role's own stack (`cicd-target`) and the pipeline stack are deployed by an operator
(`OrganizationAccountAccessRole`): the pipeline never changes its own permissions. Each
template contributes its handler permissions, its roles and its resource policies.
"""

from __future__ import annotations

from typing import Any

from charter.config.model import OrgConfig
from charter.naming import MEMBER_ACCESS_ROLE, stack_name, workload_deploy_role_name
from charter.policy.evaluate import Principal
from charter.policy.model import AssumeEdge, PermissionModel, Target
from charter.policy.templates import customer_managed_policies, template_model

#: Stacks the pipeline does not deploy (its own role, and the pipeline itself).
OPERATOR_STACKS = ("cicd-target", "optimizer-cicd")


def workload_model(cfg: OrgConfig, ids: dict[str, str], context: dict[str, str]) -> PermissionModel:
    from charter.workloads.stacks._common import Ctx
    from charter.workloads.stacks.cicd import pipeline_build_role_name
    from charter.workloads.synth import environments, synthesize_workloads

    model = PermissionModel()
    wl = cfg.workloads.optimizer
    if wl is None:
        return model
    deploy_role = workload_deploy_role_name(cfg)
    for env in environments(cfg):
        ctx = Ctx(cfg, env)
        stacks: list[Any] = synthesize_workloads(cfg, env)
        values = {**context, "PipelineAccountId": ids.get(wl.cicd.account, "") if wl.cicd else ""}
        # the boundary (cicd-target) governs roles in the environment's other stacks
        customer = {arn: doc for s in stacks
                    for arn, doc in customer_managed_policies(s.data, stack_name(cfg, s.spec.name), values).items()}
        for s in stacks:
            dep = s.spec.deployment
            account = dep.account or ctx.account
            by_pipeline = wl.cicd is not None and not s.spec.name.endswith(OPERATOR_STACKS)
            role = deploy_role if by_pipeline else MEMBER_ACCESS_ROLE
            targets = tuple(Target(ids[account], account, r) for r in dep.regions)
            model.merge(template_model(s.data, stack_name(cfg, s.spec.name), role, targets, values, customer=customer))
        if wl.cicd is not None:
            pipeline = Principal.role(ids[wl.cicd.account], pipeline_build_role_name(ctx), session="codebuild")
            model.assumes.append(AssumeEdge(pipeline, f"{pipeline.name} (pipeline deploy builds)", deploy_role,
                                            (Target(ids[ctx.account], ctx.account, ctx.region),),
                                            f"deploy the optimizer to {env}", "cfn:charter-optimizer-cicd"))
    return model
