"""A small member-account StackSet for the tests and `benchmarks/deploy.py` (test code: not installed).

Until the baseline builders land, plan.json holds only the organization; this adds a
service-managed StackSet (a KMS key per account and region, ENC-01) and a self-managed one
for the management account, so the whole StackSet path can be exercised end to end.
"""

from __future__ import annotations

from pathlib import Path

from awacs.aws import Allow, PolicyDocument, Principal, Statement
from troposphere import Output, Ref, Sub, Template, kms, ssm

from charter.config.model import OrgConfig
from charter.landing_zone.context import context_parameter
from charter.landing_zone.metadata import controls
from charter.landing_zone.stacks import Deployment, StackSpec


def sample_specs(cfg: OrgConfig, target_ous: list[str] | None = None, management: bool = True) -> list[StackSpec]:
    regions = list(cfg.organization.governed_regions)
    t = Template(Description="Charter sample: a KMS key in every member account and region")
    org_id = context_parameter(t, "OrganizationId")
    key = kms.Key(
        "SampleKey", EnableKeyRotation=True,
        KeyPolicy=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Sid="AccountAdmin", Effect=Allow, Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
            Action=[__import__("awacs.kms", fromlist=["Action"]).Action("*")], Resource=["*"])]),
        # no Tags: moto 5.2.1's CloudFormation KMS handler fails on them (KeyError 'TagKey')
        Description="Charter sample key")
    t.add_resource(controls(key, "ENC-01"))
    # Where the organization id landed, readable in the member account (moto's KMS cannot
    # describe a key CloudFormation created, so the proof of the context parameter is here).
    t.add_resource(controls(ssm.Parameter("SampleOrganizationId", Name="/charter/sample/organization-id",
                                          Type="String", Value=Ref(org_id)), "ENC-01"))
    t.add_output(Output("SampleKeyArn", Value=key.get_att("Arn")))
    top = target_ous or sorted({ou.name for ou in cfg.ous if ou.parent == "Root"} - {cfg.scps.suspended_ou or ""})
    member = StackSpec("sample-member-keys", t, Deployment(kind="stackset", permission_model="SERVICE_MANAGED",
                                                             regions=regions, target_ous=top, order=30),
                       builder="sample")
    m = Template(Description="Charter sample: a KMS key in the management account")
    mkey = kms.Key("ManagementKey", Description="Charter sample management key", EnableKeyRotation=True,
                   KeyPolicy=PolicyDocument(Version="2012-10-17", Statement=[Statement(
                       Sid="AccountAdmin", Effect=Allow,
                       Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
                       Action=[__import__("awacs.kms", fromlist=["Action"]).Action("*")], Resource=["*"])]))
    m.add_resource(controls(mkey, "ENC-01"))
    mgmt = StackSpec("sample-management-key", m, Deployment(kind="stackset", permission_model="SELF_MANAGED",
                                                             regions=[cfg.organization.home_region],
                                                             target_accounts=["management"], order=20),
                     builder="sample")
    return [mgmt, member] if management else [member]


def write_sample_plan(cfg: OrgConfig, out_dir: Path, config_text: str = "",
                      target_ous: list[str] | None = None, builders: list[str] | None = ("organization",),
                      management: bool = True) -> Path:
    """Synthesize the named builders (all with `builders=None`) plus the sample StackSets."""
    from charter.landing_zone.registry import builders as registered
    from charter.landing_zone.synth import (
        SynthesizedStack,
        build_plan,
        dump_yaml,
        synthesize,
        write_output,
    )

    every = registered()
    stacks = synthesize(cfg, None if builders is None else {n: every[n] for n in builders})
    for spec in sample_specs(cfg, target_ous, management):
        data = spec.template.to_dict()
        stacks.append(SynthesizedStack(spec, data, dump_yaml(data)))
    stacks.sort(key=lambda s: (s.spec.deployment.order, s.name))
    return write_output(stacks, build_plan(cfg, stacks, config_text), out_dir)
