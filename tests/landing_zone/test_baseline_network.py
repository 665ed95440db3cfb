"""NET-01..03, LOG-06: one network StackSet, per-account parameters; three tiers across three
AZs, NAT by parameter, endpoints, flow logs, closed default SG.

The template computes subnets and NAT gateways from parameters, so the tests evaluate it the
way CloudFormation would for each stack instance's parameter overrides (`_Instance`: the
Conditions, Fn::Cidr, Fn::Select, Fn::If and Ref used here) and assert on the result.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from charter.errors import LimitError
from charter.landing_zone.builders import network
from charter.landing_zone.config import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
AZS = ["az-a", "az-b", "az-c"]


@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def spec(cfg):
    [only] = network.build(cfg)
    return only


@pytest.fixture(scope="module")
def data(spec):
    return spec.template.to_dict()


def fn_cidr(block: str, count: int, bits: int) -> list[str]:
    """CloudFormation's Fn::Cidr: the first `count` subnets with `bits` host bits of `block`."""
    net = ipaddress.ip_network(block)
    return [str(s) for s in list(net.subnets(new_prefix=32 - int(bits)))[:int(count)]]


class _Instance:
    """The template as CloudFormation resolves it for one stack instance's parameters."""

    def __init__(self, data: dict[str, Any], overrides: dict[str, str]) -> None:
        self.data = data
        self.params = {k: str(v.get("Default", "")) for k, v in data["Parameters"].items()} | overrides
        self.params["LogArchiveAccountId"] = "111111111111"

    def condition(self, name: str) -> bool:
        return bool(self.eval(self.data["Conditions"][name]))

    def eval(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.eval(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not next(iter(node)).startswith(("Fn::", "Ref", "Condition")):
            return {k: self.eval(v) for k, v in node.items()}
        [(fn, arg)] = node.items()
        if fn == "Ref":
            return self.params.get(arg, f"ref:{arg}")
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Equals":
            a, b = self.eval(arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.eval(arg[0])
        if fn == "Fn::And":
            return all(self.eval(a) for a in arg)
        if fn == "Fn::If":
            return self.eval(arg[1] if self.condition(arg[0]) else arg[2])
        if fn == "Fn::Select":
            return self.eval(arg[1])[int(self.eval(arg[0]))]
        if fn == "Fn::Cidr":
            return fn_cidr(*self.eval(arg))
        if fn == "Fn::GetAZs":
            return AZS
        return node  # GetAtt, Sub, ImportValue, Join: left symbolic

    def resources(self, type_: str | None = None) -> dict[str, dict]:
        out = {}
        for lid, res in self.data["Resources"].items():
            if (type_ is None or res["Type"] == type_) and ("Condition" not in res or self.condition(res["Condition"])):
                out[lid] = {**res, "Properties": self.eval(res.get("Properties", {}))}
        return out

    def outputs(self) -> list[str]:
        return [k for k, o in self.data.get("Outputs", {}).items() if "Condition" not in o or self.condition(o["Condition"])]


def _instance(data, spec, account: str) -> _Instance:
    return _Instance(data, spec.deployment.parameter_overrides[account])


def _with_network(cfg, account: str, **network_fields):
    """`cfg` with one account's `network` settings changed (config models are frozen)."""
    accounts = [a.model_copy(update={"network": a.network.model_copy(update=network_fields)}) if a.name == account else a
                for a in cfg.accounts]
    return cfg.model_copy(update={"accounts": accounts})


def _tier(props) -> str:
    return next(t["Value"] for t in props["Tags"] if t["Key"] == "Tier")


# -- shape: one template, one StackSet, per-account parameters -------------------------------

def test_one_stackset_for_every_account_with_a_cidr(cfg, spec):
    assert spec.name == "network"
    dep = spec.deployment
    assert (dep.kind, dep.permission_model, dep.regions) == ("stackset", "SERVICE_MANAGED", [cfg.organization.home_region])
    assert sorted(dep.target_accounts) == ["dev", "prod", "staging"]
    # the engine intersects these OUs with the accounts: only accounts with a CIDR get a VPC
    assert sorted(dep.target_ous) == sorted({cfg.account(a).ou for a in dep.target_accounts})
    assert spec.facts["account_filter"] == "INTERSECTION"
    assert "account-baseline" in dep.depends_on  # its Lambda closes the default SG
    assert set(dep.parameter_overrides) == set(dep.target_accounts)
    for name, values in dep.parameter_overrides.items():
        assert values["VpcCidr"] == cfg.account(name).network.cidr
        assert set(values) <= set(spec.template.to_dict()["Parameters"])
        assert all(isinstance(v, str) for v in values.values())  # CloudFormation parameter values


def test_environment_differences_are_parameters_not_templates(cfg):
    """Adding accounts adds overrides, never templates (the large example has ~60 VPCs)."""
    dev = cfg.account("dev")
    clones = [dev.model_copy(update={"name": f"dev{i}", "email": f"aws+dev{i}@example.com",
                                     "network": dev.network.model_copy(update={"cidr": f"10.{100 + i}.0.0/16"})})
              for i in range(40)]
    many = cfg.model_copy(update={"accounts": [*cfg.accounts, *clones]})
    specs = network.build(many)
    assert [s.name for s in specs] == ["network"]
    assert len(specs[0].deployment.parameter_overrides) == 43
    assert specs[0].template.to_dict() == network.build(cfg)[0].template.to_dict()


def test_every_resource_exists_only_with_a_vpc_cidr(spec, data):
    """An instance without overrides (auto-deployed to an account that joined the OU) gets no VPC."""
    bare = _Instance(data, {})
    assert list(bare.resources()) == ["NoVpcPlaceholder"] and bare.outputs() == []
    prod = _instance(data, spec, "prod")
    assert "NoVpcPlaceholder" not in prod.resources() and "Vpc" in prod.resources()
    assert set(prod.outputs()) == {"VpcId", "PublicSubnetIds", "PrivateSubnetIds", "IsolatedSubnetIds"}


# -- NET-01: three tiers x three AZs -----------------------------------------------------------

@pytest.mark.parametrize("account", ["prod", "staging", "dev"])
def test_three_tiers_across_three_azs_inside_the_vpc_without_overlap(cfg, spec, data, account):
    inst = _instance(data, spec, account)
    by_tier: dict[str, list] = {}
    for s in inst.resources("AWS::EC2::Subnet").values():
        by_tier.setdefault(_tier(s["Properties"]), []).append(s["Properties"])
    assert {t: len(v) for t, v in by_tier.items()} == {"public": 3, "private": 3, "isolated": 3}
    for props in by_tier.values():
        assert [p["AvailabilityZone"] for p in props] == AZS
    cidr = cfg.account(account).network.cidr
    vpc = ipaddress.ip_network(cidr)
    assert inst.resources("AWS::EC2::VPC")["Vpc"]["Properties"]["CidrBlock"] == cidr
    nets = [ipaddress.ip_network(p["CidrBlock"]) for v in by_tier.values() for p in v]
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert all(not p["MapPublicIpOnLaunch"] for v in by_tier.values() for p in v)
    # the template's Fn::Cidr layout is exactly what synth validated and recorded for review
    assert {t: [p["CidrBlock"] for p in v] for t, v in by_tier.items()} == spec.facts["accounts"][account]["subnets"]


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "10.1.0.0/20", "172.16.2.0/23"])
def test_subnet_bits_fit_every_allowed_vpc_size(data, cidr):
    bits = network.subnet_bits(cidr)
    inst = _Instance(data, {"VpcCidr": cidr, **{k: str(v) for k, v in bits.items()}})
    subnets = [ipaddress.ip_network(s["Properties"]["CidrBlock"]) for s in inst.resources("AWS::EC2::Subnet").values()]
    assert len(subnets) == 9 and all(s.subnet_of(ipaddress.ip_network(cidr)) and s.prefixlen <= 28 for s in subnets)
    params = data["Parameters"]
    for name, value in bits.items():  # inside the template's own bounds, so CloudFormation accepts them
        assert params[name]["MinValue"] <= value <= params[name]["MaxValue"]
    private = [s for s in subnets if s.prefixlen == ipaddress.ip_network(cidr).prefixlen + 2]
    assert len(private) == 3  # the private tier (where workloads live) gets three quarters of the VPC


def test_too_small_or_too_large_vpc_is_rejected_at_synth(cfg):
    bad = _with_network(cfg, "staging", cidr="10.20.0.0/24")  # the config checks allow /24
    with pytest.raises(LimitError, match=r"staging.*too small") as err:
        network.build(bad)
    assert "/23" in (err.value.hint or "")
    with pytest.raises(LimitError, match="larger than AWS allows"):
        network.subnet_plan("10.0.0.0/15")


# -- NAT gateways by the NatMode parameter -----------------------------------------------------

def _nat_targets(inst: _Instance) -> list[str]:
    routes = inst.resources("AWS::EC2::Route").values()
    return [r["Properties"]["NatGatewayId"] for r in routes if "NatGatewayId" in r["Properties"]]


def test_nat_per_az_in_prod_single_elsewhere(spec, data):
    assert spec.deployment.parameter_overrides["prod"]["NatMode"] == "per-az"
    assert spec.deployment.parameter_overrides["dev"]["NatMode"] == "single"
    prod, dev = _instance(data, spec, "prod"), _instance(data, spec, "dev")
    assert sorted(prod.resources("AWS::EC2::NatGateway")) == ["NatGateway1", "NatGateway2", "NatGateway3"]
    assert sorted(prod.resources("AWS::EC2::EIP")) == ["NatEip1", "NatEip2", "NatEip3"]
    assert _nat_targets(prod) == ["ref:NatGateway1", "ref:NatGateway2", "ref:NatGateway3"]  # each AZ its own
    assert list(dev.resources("AWS::EC2::NatGateway")) == ["NatGateway1"]
    assert _nat_targets(dev) == ["ref:NatGateway1"] * 3


def test_nat_none_leaves_private_subnets_without_a_route_out(spec, data):
    inst = _Instance(data, {**spec.deployment.parameter_overrides["dev"], "NatMode": "none"})
    assert not inst.resources("AWS::EC2::NatGateway") and not inst.resources("AWS::EC2::EIP")
    assert _nat_targets(inst) == []


def test_config_nat_gateways_overrides_the_environment_default(cfg):
    [spec] = network.build(_with_network(cfg, "prod", nat_gateways="single"))
    assert spec.deployment.parameter_overrides["prod"]["NatMode"] == "single"


def test_isolated_tier_has_no_route_out(spec, data):
    routes = _instance(data, spec, "prod").resources("AWS::EC2::Route").values()
    assert not [r for r in routes if r["Properties"]["RouteTableId"] == "ref:IsolatedRouteTable"]
    assert len(routes) == 4  # public -> IGW, 3 x private -> NAT


# -- LOG-06, NET-02, NET-03 ------------------------------------------------------------------------

def test_flow_logs_go_to_the_log_archive_bucket(spec, data):
    [flow] = _instance(data, spec, "staging").resources("AWS::EC2::FlowLog").values()
    assert flow["Properties"]["TrafficType"] == "ALL" and flow["Properties"]["LogDestinationType"] == "s3"
    assert flow["Properties"]["ResourceId"] == "ref:Vpc"
    assert "${LogArchiveAccountId}" in flow["Properties"]["LogDestination"]["Fn::Sub"]
    assert "flow-logs" in flow["Properties"]["LogDestination"]["Fn::Sub"]
    assert "LOG-06" in flow["Metadata"]["Charter"]["Controls"]


def test_default_security_group_is_closed_by_the_custom_resource(spec, data):
    res = _instance(data, spec, "prod").resources()["DefaultSecurityGroupClosed"]
    assert res["Type"] == "Custom::DefaultSecurityGroupClosed"  # what the handler dispatches on
    assert res["Properties"]["GroupId"] == {"Fn::GetAtt": ["Vpc", "DefaultSecurityGroup"]}
    assert res["Properties"]["ServiceToken"] == {"Fn::ImportValue": "charter-account-baseline-function-arn"}
    assert "NET-02" in res["Metadata"]["Charter"]["Controls"]


def test_endpoints_and_their_security_group(cfg, spec, data):
    inst = _instance(data, spec, "prod")
    endpoints = inst.resources("AWS::EC2::VPCEndpoint").values()
    services = {e["Properties"]["ServiceName"]["Fn::Sub"].rsplit("}.", 1)[1]: e["Properties"]["VpcEndpointType"]
                for e in endpoints}
    assert services == {"s3": "Gateway", "dynamodb": "Gateway",
                        **{s: "Interface" for s in cfg.baseline.network.interface_endpoints}}
    [ingress] = inst.resources("AWS::EC2::SecurityGroupIngress").values()
    assert (ingress["Properties"]["FromPort"], ingress["Properties"]["ToPort"]) == (443, 443)
    assert ingress["Properties"]["CidrIp"] == cfg.account("prod").network.cidr  # the VPC only
    [sg] = inst.resources("AWS::EC2::SecurityGroup").values()
    assert sg["Properties"]["SecurityGroupEgress"][0]["CidrIp"] == "127.0.0.1/32"


@pytest.mark.parametrize("account", ["prod", "dev"])
def test_nacls_never_admit_admin_ports_from_anywhere(spec, data, account):
    inst = _instance(data, spec, account)
    entries = inst.resources("AWS::EC2::NetworkAclEntry").values()
    assert entries
    for e in entries:
        p = e["Properties"]
        if not p["Egress"] and not ipaddress.ip_network(p["CidrBlock"]).subnet_of(
                ipaddress.ip_network(spec.deployment.parameter_overrides[account]["VpcCidr"])):
            assert p["Protocol"] == 6
            rng = range(p["PortRange"]["From"], p["PortRange"]["To"] + 1)
            assert 22 not in rng and 3389 not in rng


def test_every_resource_carries_its_controls(data):
    allowed = {"NET-01", "NET-02", "NET-03", "LOG-06"}
    for lid, res in data["Resources"].items():
        ctrls = set(res["Metadata"]["Charter"]["Controls"])
        assert ctrls and ctrls <= allowed, lid


# -- NAT gateways and interface endpoints per environment (what they cost: `charter cost`) -------

def _with_baseline_network(cfg, **fields):
    net = cfg.baseline.network.model_copy(update=fields)
    return cfg.model_copy(update={"baseline": cfg.baseline.model_copy(update={"network": net})})


def _interface_subnets(inst: _Instance) -> dict[str, list[str]]:
    return {lid: r["Properties"]["SubnetIds"] for lid, r in inst.resources("AWS::EC2::VPCEndpoint").items()
            if r["Properties"]["VpcEndpointType"] == "Interface"}


def test_environment_defaults_choose_nat_gateways_and_endpoint_placement(cfg):
    lean = _with_baseline_network(cfg, nat_gateways={"prod": "single", "dev": "none"},
                                  endpoints={"staging": "single-az", "dev": "none"})
    [spec] = network.build(lean)
    data = spec.template.to_dict()
    prod, staging, dev = (_instance(data, spec, a) for a in ("prod", "staging", "dev"))
    assert list(prod.resources("AWS::EC2::NatGateway")) == ["NatGateway1"]
    assert list(staging.resources("AWS::EC2::NatGateway")) == ["NatGateway1"]  # not listed: single
    assert not dev.resources("AWS::EC2::NatGateway") and _nat_targets(dev) == []
    every_az = ["ref:PrivateSubnet1", "ref:PrivateSubnet2", "ref:PrivateSubnet3"]
    assert list(_interface_subnets(prod).values()) == [every_az] * 6  # not listed: per-az
    assert list(_interface_subnets(staging).values()) == [["ref:PrivateSubnet1"]] * 6
    assert _interface_subnets(dev) == {}
    assert not dev.resources("AWS::EC2::SecurityGroupIngress") and not dev.resources("AWS::EC2::SecurityGroup")
    assert len(dev.resources("AWS::EC2::VPCEndpoint")) == 2  # the free S3 and DynamoDB gateways stay
    assert spec.facts["accounts"]["staging"]["endpoints"] == "single-az"
    assert spec.facts["accounts"]["dev"]["nat_gateways"] == "none"


def test_an_accounts_network_settings_override_its_environment(cfg):
    lean = _with_baseline_network(cfg, endpoints={"prod": "none"}, nat_gateways={"prod": "none"})
    [spec] = network.build(_with_network(lean, "prod", endpoints="single-az", nat_gateways="per-az"))
    assert spec.deployment.parameter_overrides["prod"]["EndpointMode"] == "single-az"
    assert spec.deployment.parameter_overrides["prod"]["NatMode"] == "per-az"


def test_without_interface_endpoints_there_is_no_endpoint_parameter(cfg):
    [spec] = network.build(_with_baseline_network(cfg, interface_endpoints=[]))
    assert "EndpointMode" not in spec.template.to_dict()["Parameters"]
    assert all("EndpointMode" not in v for v in spec.deployment.parameter_overrides.values())
