"""Turn the org config into CloudFormation templates and a deploy plan.

`synthesize` runs every builder and checks every AWS limit the result could break
(`limits.py`: all breaches at once, each naming its stack, the limit and the setting);
`charter validate` runs it too, writing nothing. `write_output` writes one YAML
template per stack plus `plan.json`. Output is deterministic (no timestamps), so the
content hash in the plan changes only when the template does, which is what makes
deploys incremental.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from charter.config.model import OrgConfig
from charter.errors import CharterError, SynthError
from charter.landing_zone.limits import builder_overflow, check_stacks, raise_breaches, upload
from charter.landing_zone.registry import Builder, builders
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import stack_name

PLAN_FILE = "plan.json"
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class SynthesizedStack:
    spec: StackSpec
    data: dict[str, Any]
    body: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.encode()).hexdigest()

    @property
    def controls(self) -> list[str]:
        return sorted({cid for res in self.data.get("Resources", {}).values() for cid in resource_controls(res)})


class PlannedStack(BaseModel):
    name: str
    stack_name: str
    file: str
    builder: str
    deployment: Deployment
    sha256: str
    bytes: int
    resources: int
    upload: str
    controls: list[str]
    facts: dict[str, Any] = Field(default_factory=dict)


class Plan(BaseModel):
    """`out/plan.json`: what `charter deploy` reads."""

    version: int = 1
    organization: str
    home_region: str
    governed_regions: list[str]
    config_sha256: str
    stacks: list[PlannedStack]

    @classmethod
    def read(cls, out_dir: str | Path) -> Plan:
        path = Path(out_dir) / PLAN_FILE
        try:
            return cls.model_validate_json(path.read_text())
        except FileNotFoundError:
            raise SynthError(f"{path}: no plan found", hint=f"run `charter synth -c org.yaml -o {out_dir}` first") from None
        except ValueError as exc:
            raise SynthError(f"{path}: not a Charter plan ({str(exc).splitlines()[0]})",
                             hint="re-run `charter synth` to regenerate it") from None


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)


class ControlMetadataError(CharterError):
    """A synthesized resource does not say which controls it serves, or says one its builder does not declare."""

    code = "CHARTER-220"
    fix = ("Tag every resource with `landing_zone.metadata.controls(resource, ...)` and declare each id in "
           "its builder's `@builder(controls=[...])`.")


def resource_controls(resource: dict[str, Any]) -> list[str]:
    return list(((resource.get("Metadata") or {}).get("Charter") or {}).get("Controls") or [])


def check_control_metadata(stack: SynthesizedStack, b: Builder, cfg: OrgConfig | None = None) -> None:
    """Every resource carries control ids, and only ids its builder declares (`controls` or
    `evaluates`): the matrix is computed from these, so an untagged resource is invisible to
    an auditor and an undeclared id is a link stated twice."""
    allowed = b.tagged(cfg)
    problems = []
    for logical, res in (stack.data.get("Resources") or {}).items():
        ids = resource_controls(res)
        if not ids:
            problems.append(f"  {stack.name}/{logical} ({res.get('Type')}) carries no control id")
        undeclared = [i for i in ids if i not in allowed]
        if undeclared:
            problems.append(f"  {stack.name}/{logical} carries {', '.join(undeclared)}, "
                            f"which builder {b.name!r} does not declare")
    if problems:
        from charter.controls.catalog import code_location

        raise ControlMetadataError(f"builder {b.name!r} ({code_location(b.build)}): {len(problems)} resource(s) "
                                   "with wrong control metadata\n" + "\n".join(problems))


def synthesize(cfg: OrgConfig, selected: dict[str, Builder] | None = None) -> list[SynthesizedStack]:
    """Run the builders (all landing-zone builders by default), check every resource's control
    metadata against its builder's declaration, and check limits."""
    out: list[SynthesizedStack] = []
    seen: set[str] = set()
    for b in (selected or builders()).values():
        try:
            specs = list(b.build(cfg))
        except ValueError as exc:  # troposphere's own template limits, raised mid-build
            overflow = builder_overflow(b.name, exc, b.grows_with)
            if overflow is None:
                raise
            raise overflow from None
        for spec in specs:
            if spec.name in seen:
                raise RuntimeError(f"two builders emit a stack named {spec.name!r}")
            seen.add(spec.name)
            spec.builder = spec.builder or b.name
            data = spec.template.to_dict()
            stack = SynthesizedStack(spec, data, dump_yaml(data))
            check_control_metadata(stack, b, cfg)
            out.append(stack)
    raise_breaches(check_stacks(cfg, out))
    return sorted(out, key=lambda s: (s.spec.deployment.order, s.name))


def build_plan(cfg: OrgConfig, stacks: list[SynthesizedStack], config_text: str = "") -> Plan:
    planned = []
    for s in stacks:
        size = len(s.body.encode())
        planned.append(PlannedStack(
            name=s.name, stack_name=stack_name(cfg, s.name), file=f"{s.name}.yaml", builder=s.spec.builder,
            deployment=s.spec.deployment, sha256=s.sha256, bytes=size,
            resources=len(s.data.get("Resources", {})), upload=upload(size, cfg.limits), controls=s.controls,
            facts=s.spec.facts,
        ))
    org = cfg.organization
    return Plan(organization=org.name, home_region=org.home_region, governed_regions=list(org.governed_regions),
                config_sha256=hashlib.sha256(config_text.encode()).hexdigest(), stacks=planned)


def write_output(stacks: list[SynthesizedStack], plan: Plan, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        keep = {f"{s.name}.yaml" for s in stacks}
        for stale in out.glob("*.yaml"):
            if stale.name not in keep:  # a stack switched off must not linger and be deployed
                stale.unlink()
        for s in stacks:
            (out / f"{s.name}.yaml").write_text(s.body)
        path = out / PLAN_FILE
        path.write_text(json.dumps(plan.model_dump(mode="json"), indent=2) + "\n")
    except OSError as exc:
        raise SynthError(f"{out}: cannot write output: {exc.strerror}", hint="choose a writable directory with -o") from None
    return path
