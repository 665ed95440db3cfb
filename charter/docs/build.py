"""`charter docs build`: architecture page with its SVG, CLI reference, deploy guide,
troubleshooting (every CharterError code and its fix), written as Markdown and HTML."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import jinja2

from charter.config.model import OrgConfig
from charter.errors import CharterError, all_error_classes

#: Packages whose `errors` modules (and these extra modules) define CharterError subclasses.
ERROR_PACKAGES = ("charter", "charter.landing_zone", "charter.evidence", "charter.controls", "charter.workloads",
                  "charter.cost")
ERROR_MODULES = ("charter.aws", "charter.closure", "charter.local", "charter.local.patches")


def _load_error_modules() -> None:
    for name in ERROR_MODULES:
        importlib.import_module(name)
    for package in ERROR_PACKAGES:
        pkg = importlib.import_module(package)
        for mod in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
            if mod.name.rsplit(".", 1)[-1] == "errors":
                importlib.import_module(mod.name)


def troubleshooting() -> str:
    _load_error_modules()
    lines = ["# Troubleshooting", "",
             "Every error Charter reports for something a user can change has a code. The message says what is",
             "wrong and where; this table says how to fix each kind. Exit codes: 0 ok, 1 findings, 2 bad input,",
             "3 a failing control in `charter assess`.", "",
             "| code | error | what it means | how to fix |", "|---|---|---|---|"]
    for cls in all_error_classes():
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        lines.append(f"| {cls.code} | `{cls.__name__}` | {doc} | {cls.fix} |")
    return "\n".join(lines) + "\n"


def architecture_md(cfg: OrgConfig, stacks: list) -> str:
    org = cfg.organization
    rows = "\n".join(f"| `{s.stack_name}` | {s.deployment.kind} {s.deployment.permission_model or ''} | "
                     f"{', '.join(s.deployment.target_ous or s.deployment.target_accounts) or s.deployment.account} | "
                     f"{', '.join(s.deployment.regions)} | {s.deployment.order} |" for s in stacks)
    return f"""# Architecture of {org.name}

![organization diagram](architecture.svg)

{len(cfg.accounts)} accounts in {len(cfg.ous)} OUs; home region {org.home_region}, governed regions
{", ".join(org.governed_regions)}, disaster recovery in {cfg.dr_region}.

Charter turns `org.yaml` into CloudFormation (troposphere, SCPs via awacs), lints it (cfn-lint, checkov),
deploys the organization through the Organizations API and everything else through StackSets, and
collects evidence from every account into a signed, hash-chained store in the audit account.

```
org.yaml -> config (validated) -> synth (templates + plan.json) -> lint -> deploy (Organizations, SCPs, StackSets)
                                        \\-> control matrix (catalog x synthesized Metadata)
every account -> CharterEvidenceReader -> evidence collector (audit) -> Object Lock store -> verify -> auditor package
```

## Stacks and where they deploy

| stack | deploys as | targets | regions | wave |
|---|---|---|---|---|
{rows}
"""


def _first_workload_deploys(cfg: OrgConfig) -> list[dict[str, str]]:
    """The deploy guide's "first workload deploy" section, per optimizer environment."""
    from charter.workloads.stacks._common import WORKLOAD, Ctx

    optimizer = cfg.workloads.optimizer if cfg.workloads else None
    out = []
    for env in (optimizer.environments or {}) if optimizer else {}:
        ctx = Ctx(cfg, env)
        s = ctx.settings
        certificate = "given" if s.certificate_arn else ("route53" if s.hosted_zone_id else "requested")
        out.append({"name": WORKLOAD, "env": env, "account": ctx.account, "domain": s.domain, "region": ctx.region,
                    "prefix": ctx.prefix, "certificate": certificate})
    return out


def build_docs(cfg: OrgConfig, out_dir: Path, *, config_path: str = "org.yaml") -> list[Path]:
    import markdown

    from charter import naming
    from charter.cli import app
    from charter.docs.architecture import render_svg
    from charter.docs.reference import cli_reference
    from charter.landing_zone.scp.exemptions import charter_principals
    from charter.landing_zone.synth import build_plan, synthesize

    plan = build_plan(cfg, synthesize(cfg))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CharterError(f"{out_dir}: cannot create: {exc.strerror}", hint="choose a writable directory with -o") from None
    env = jinja2.Environment(loader=jinja2.PackageLoader("charter.templates", "docs"), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    guide = env.get_template("deploy-guide.md.j2").render(
        org={"name": cfg.organization.name, "management_email": str(cfg.organization.management_email),
             "home_region": cfg.organization.home_region, "governed_regions": cfg.organization.governed_regions},
        deploy_role=cfg.scps.admin_role, member_access_role=naming.MEMBER_ACCESS_ROLE,
        reader_role=naming.EVIDENCE_READER_ROLE, collector_role=naming.EVIDENCE_COLLECTOR_ROLE,
        operator_role=naming.EVIDENCE_OPERATOR_ROLE, exemptions=[
            {"role": p.role, "what": p.what, "statements": sorted(p.exempt_from)} for p in charter_principals(cfg)],
        audit=cfg.account("audit").name, security=cfg.account("security").name, config_path=config_path,
        stacks=[{"stack_name": s.stack_name, "deploys_as": s.deployment.kind, "controls": s.controls}
                for s in plan.stacks], workloads=_first_workload_deploys(cfg))
    pages = {
        "architecture": architecture_md(cfg, plan.stacks),
        "cli-reference": cli_reference(app),
        "deploy-guide": guide,
        "troubleshooting": troubleshooting(),
    }
    written = [out_dir / "architecture.svg"]
    (out_dir / "architecture.svg").write_text(render_svg(cfg, plan.stacks))
    index = ["# Charter documentation for " + cfg.organization.name, ""]
    for name, text in pages.items():
        (out_dir / f"{name}.md").write_text(text)
        html = markdown.markdown(text, extensions=["tables", "fenced_code"])
        (out_dir / f"{name}.html").write_text(
            f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name}</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
            "code,pre{background:#f3f4f6}</style></head><body>" + html + "</body></html>\n")
        written += [out_dir / f"{name}.md", out_dir / f"{name}.html"]
        index.append(f"- [{name}]({name}.md)")
    (out_dir / "index.md").write_text("\n".join(index) + "\n")
    return written + [out_dir / "index.md"]
