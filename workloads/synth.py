"""Synthesize the optimizer's stacks for one environment, with the landing zone's machinery.

`synthesize_workloads(cfg, env)` returns `SynthesizedStack`s exactly like
`landing_zone.synth.synthesize`, so `build_plan`, `write_output`, `charter lint`, the
control matrix and deploy treat workload stacks like any other. Waves start at 50
(the landing zone's workload wave) and follow the dependencies below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from troposphere import Template

from charter.config.model import OrgConfig
from charter.errors import CharterError
from charter.landing_zone.registry import Builder, builder_of, builders
from charter.landing_zone.stacks import StackSpec
from charter.landing_zone.synth import SynthesizedStack, check_control_metadata, dump_yaml
from charter.naming import kms_alias
from charter.workloads.stacks import (
    api,
    bedrock,
    cicd,
    compute,
    cost,
    data,
    edge,
    monitoring,
    registry,
    sagemaker,
    secrets,
)
from charter.workloads.stacks._common import Ctx


class WorkloadError(CharterError):
    """The workload is not configured for what was asked."""

    code = "CHARTER-700"
    fix = "Add a `workloads: optimizer: environments: <env>:` section to org.yaml."


@dataclass(frozen=True)
class Part:
    name: str
    build: Callable[[Ctx], Template]
    order: int
    depends_on: tuple[str, ...] = ()
    #: None = the environment's home region; "dr" = the DR region; "us-east-1" for CloudFront/WAF.
    region: str | None = None


#: Every stack of one environment, in deploy order.
PARTS: tuple[Part, ...] = (
    Part("registry", registry.build, 50),
    Part("data-dr", data.build_dr, 50, region="dr"),
    Part("data", data.build, 51, ("data-dr",)),
    Part("secrets", secrets.build, 52, ("data",)),
    Part("sagemaker", sagemaker.build, 52, ("data", "registry")),
    Part("compute", compute.build, 53, ("data", "sagemaker", "registry")),
    Part("bedrock", bedrock.build, 54, ("compute",)),
    Part("api", api.build, 55, ("compute",)),
    Part("edge", edge.build, 56, ("api", "data"), region="us-east-1"),
    Part("monitoring", monitoring.build, 57, ("compute", "api")),
    Part("cost", cost.build, 57),
)
#: The deploy role the pipeline assumes goes first; the pipeline itself last.
TARGET_PART = Part("cicd-target", cicd.build_target, 50)
PIPELINE_STACK = "optimizer-cicd"
CICD_ORDER = 58
WORKLOADS = ("optimizer",)
#: The part whose budget comes from the estimate of all the others (built last).
BUDGET_PART = "cost"


def environments(cfg: OrgConfig) -> list[str]:
    wl = cfg.workloads.optimizer if cfg.workloads else None
    return [e for e in ("dev", "staging", "prod") if wl and e in wl.environments]


def _check(cfg: OrgConfig, env: str) -> None:
    envs = environments(cfg)
    if not envs:
        raise WorkloadError("org.yaml has no `workloads: optimizer:` section",
                            hint="add one (see examples/small/org.yaml) and re-run")
    if env not in envs:
        raise WorkloadError(f"the optimizer is not configured for environment '{env}' (configured: {', '.join(envs)})",
                            hint=f"add `workloads: optimizer: environments: {env}:` to org.yaml or pick --env "
                                 + "|".join(envs))


def synthesize_workloads(cfg: OrgConfig, env: str, workload: str = "optimizer",
                         landing_zone: list[SynthesizedStack] | None = None) -> list[SynthesizedStack]:
    """Every optimizer stack of `env` (plus the pipeline when its account is `env`'s).

    The cost stack's budget is the estimate of the account (`charter.cost.budget`) over the
    landing zone (`landing_zone`, synthesized here when not given) and this environment's
    stacks, so it is built last."""
    if workload not in WORKLOADS:
        raise WorkloadError(f"unknown workload '{workload}'", hint="the only workload is 'optimizer'")
    _check(cfg, env)
    ctx = Ctx(cfg, env)
    wl = ctx.workload
    parts = [p for p in ([*PARTS, TARGET_PART] if wl.cicd else PARTS) if p.name != BUDGET_PART]
    out: list[SynthesizedStack] = []
    for part in parts:
        out.append(_part(ctx, part))
    if wl.cicd and env == pipeline_environment(cfg):
        spec = ctx.spec("cicd", cicd.build(ctx), order=CICD_ORDER)
        spec.name = PIPELINE_STACK
        spec.deployment.account = wl.cicd.account
        pipeline_env = next(a.environment for a in cfg.accounts if a.name == wl.cicd.account)
        spec.facts.update(kms_alias=kms_alias(cfg, pipeline_env), region=ctx.region)
        out.append(_synth(spec, cicd.build))
    if ctx.settings.monthly_budget_usd is None:
        from charter.cost.budget import monthly_budget

        lz = landing_zone if landing_zone is not None else _landing_zone(cfg)
        ctx = replace(ctx, budget_usd=monthly_budget(cfg, ctx.account, [*lz, *out]))
    out.append(_part(ctx, next(p for p in PARTS if p.name == BUDGET_PART)))
    return sorted(out, key=lambda s: (s.spec.deployment.order, s.name))


def _part(ctx: Ctx, part: Part) -> SynthesizedStack:
    region = {"dr": ctx.dr_region, None: ctx.region}.get(part.region, part.region)
    spec = ctx.spec(part.name, part.build(ctx), order=part.order, region=region, depends_on=list(part.depends_on))
    spec.facts.update(kms_alias=ctx.kms_alias, region=region)
    return _synth(spec, part.build)


#: The package whose modules register the workload stack builders (`@builder` on each build function).
WORKLOAD_BUILDERS = "charter.workloads.stacks"


#: The last landing-zone synthesis, for the config it was made from (one `workload` command
#: synthesizes several environments from one config; the landing zone is the same for all).
_LZ: dict[str, tuple[OrgConfig, list[SynthesizedStack]]] = {}


def _landing_zone(cfg: OrgConfig) -> list[SynthesizedStack]:
    from charter.landing_zone.synth import synthesize

    hit = _LZ.get("last")
    if hit is None or hit[0] is not cfg:
        hit = _LZ["last"] = (cfg, synthesize(cfg))
    return hit[1]


def pipeline_environment(cfg: OrgConfig) -> str | None:
    """The environment whose synth also emits the (single) pipeline stack: the pipeline
    account's own environment when it runs the optimizer, else the first environment."""
    wl = cfg.workloads.optimizer if cfg.workloads else None
    if not wl or not wl.cicd:
        return None
    envs = environments(cfg)
    account_env = next((a.environment for a in cfg.accounts if a.name == wl.cicd.account), None)
    return account_env if account_env in envs else envs[0]


def synthesize_all_workloads(cfg: OrgConfig) -> list[SynthesizedStack]:
    """Every configured environment's stacks ([] without a `workloads:` section), for the
    control matrix (`compute_matrix(cfg, extra_stacks=synthesize_all_workloads(cfg))`)."""
    envs = environments(cfg)
    lz = _landing_zone(cfg) if envs else []
    return [s for env in envs for s in synthesize_workloads(cfg, env, landing_zone=lz)]


def _builder(build: Callable[..., Template]) -> Builder:
    builders(WORKLOAD_BUILDERS)  # loads and checks every workload builder's control ids once
    found = builder_of(build)
    if found is None:
        raise RuntimeError(f"{build.__module__}.{build.__name__} is not registered with @builder")
    return found


def _synth(spec: StackSpec, build: Callable[..., Template]) -> SynthesizedStack:
    """The stack, with its builder's registered name, checked for control metadata like the landing zone's."""
    b = _builder(build)
    spec.builder = b.name
    data = spec.template.to_dict()
    stack = SynthesizedStack(spec, data, dump_yaml(data))
    check_control_metadata(stack, b)
    return stack
