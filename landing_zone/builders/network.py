"""Workload VPCs: three tiers across three AZs, NACLs, endpoints, flow logs, closed default SG.

(NET-01, NET-02, NET-03, LOG-06.) ONE template and ONE service-managed StackSet (`network`)
for every workload account that has `network.cidr`, in the home region; what differs
between accounts is a parameter, set per stack instance through
`Deployment.parameter_overrides` (AWS's pattern for StackSets over hundreds of accounts):

- `VpcCidr`: the account's `network.cidr`;
- `PrivateSubnetBits` / `EdgeSubnetBits`: host bits of the private and of the public and
  isolated subnets, computed here from the CIDR's prefix (CloudFormation has no arithmetic);
- `NatMode`: `per-az` (one NAT gateway per AZ), `single` or `none`, from
  `account.network.nat_gateways`, else `baseline.network.nat_gateways` for the account's
  environment (per-az in prod, single elsewhere), chosen by Conditions;
- `EndpointMode`: the interface endpoints in every AZ (`per-az`), only in the first AZ
  (`single-az`: the other AZs reach them across AZs, for a third of the hourly cost) or
  not at all (`none`: AWS APIs through the NAT gateway), from `account.network.endpoints`,
  else `baseline.network.endpoints` for the environment (per-az by default). Gateway
  endpoints (S3, DynamoDB) are free and always there.

The subnets are cut in-template with `Fn::Cidr`, reproducing the layout that synth checks
with `ipaddress` (`subnet_plan`, recorded in the plan's facts for review): for a VPC /n the
private tier takes three quarters (one /n+2 per AZ: blocks 0-2 of `Fn::Cidr [VpcCidr, 3,
32-(n+2)]`); the last quarter is cut into eight /n+5 blocks (blocks 24-31 of `Fn::Cidr
[VpcCidr, 32, 32-(n+5)]`): public subnets use 24-26, isolated 28-30 (27 and 31 are
spare). /16 gives private /18, public and isolated /21. Too-small CIDRs fail at synth.

`VpcCidr` defaults to empty, which deploys only a placeholder: a stack instance that has
no override (an account AWS auto-deploys to because it joined a target OU, or the first
create before the engine applies the overrides) gets no VPC rather than an overlapping
default one with NAT gateways that cost money.

The VPC's default security group cannot be edited by CloudFormation: the
`Custom::DefaultSecurityGroupClosed` custom resource (served by the account-baseline Lambda,
imported by its export) revokes all its ingress and egress rules, so nothing attached to
it can talk (the same approach as the CDK's `restrictDefaultSecurityGroup`).
"""

from __future__ import annotations

import ipaddress

from troposphere import (
    And,
    Cidr,
    Condition,
    Equals,
    Export,
    GetAtt,
    GetAZs,
    If,
    ImportValue,
    Join,
    Not,
    Output,
    Parameter,
    Ref,
    Select,
    Sub,
    Tags,
    Template,
)
from troposphere.cloudformation import WaitConditionHandle
from troposphere.ec2 import (
    EIP,
    VPC,
    DestinationOptions,
    FlowLog,
    InternetGateway,
    NatGateway,
    NetworkAcl,
    NetworkAclEntry,
    PortRange,
    Route,
    RouteTable,
    SecurityGroup,
    SecurityGroupIngress,
    Subnet,
    SubnetNetworkAclAssociation,
    SubnetRouteTableAssociation,
    VPCEndpoint,
    VPCGatewayAttachment,
)

from charter.config.model import WORKLOAD_ENVIRONMENTS, Account, OrgConfig
from charter.errors import LimitError
from charter.landing_zone.builders.account_baseline import (
    FUNCTION_ARN_EXPORT,
    SERVICE_TIMEOUT_SECONDS,
    DefaultSecurityGroupClosedResource,
)
from charter.landing_zone.context import context_parameter
from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import log_bucket_name, logical_id, resource_name

STACK = "network"
AZ_COUNT = 3
TIERS = ("public", "private", "isolated")
GATEWAY_ENDPOINTS = ("s3", "dynamodb")
NAT_MODES = ("per-az", "single", "none")
ANYWHERE = "0.0.0.0/0"
#: Ephemeral return-traffic ports, minus RDP (3389) so no NACL admits RDP from anywhere.
EPHEMERAL = ((1024, 3388), (3390, 65535))
MIN_VPC_PREFIX = 16  # the largest VPC AWS allows
MAX_VPC_PREFIX = 23  # smaller VPCs would give public/isolated subnets under /28 (AWS's minimum)
#: Index in `Fn::Cidr [VpcCidr, 32, EdgeSubnetBits]` of each edge tier's first subnet.
EDGE_BLOCKS = {"public": 24, "isolated": 28}
EDGE_COUNT = 32

ENDPOINT_MODES = ("per-az", "single-az", "none")

# condition names
HAS_VPC, NO_VPC, HAS_NAT, NAT_PER_AZ = "HasVpc", "NoVpc", "HasNat", "NatPerAz"
HAS_ENDPOINTS, ENDPOINTS_PER_AZ = "HasEndpoints", "EndpointsPerAz"


def _vpc(cidr: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise LimitError(f"VPC CIDR {cidr!r} is not a network address: {exc}",
                         hint="use a network address such as 10.1.0.0/16 (host bits zero)") from None


def check_cidr(cidr: str, where: str = "network.cidr") -> ipaddress.IPv4Network:
    """The VPC network, or LimitError if the 3-tier x 3-AZ layout does not fit in it."""
    vpc = _vpc(cidr)
    if vpc.prefixlen > MAX_VPC_PREFIX:
        raise LimitError(f"{where}: VPC CIDR {cidr} is too small for 3 tiers x 3 AZs "
                         f"(its public and isolated subnets would be /{vpc.prefixlen + 5}; AWS's smallest subnet is /28)",
                         hint=f"use a /{MAX_VPC_PREFIX} or larger block (a /16 is typical)")
    if vpc.prefixlen < MIN_VPC_PREFIX:
        raise LimitError(f"{where}: VPC CIDR {cidr} is larger than AWS allows (/{MIN_VPC_PREFIX} at most)",
                         hint=f"use a /{MIN_VPC_PREFIX} to /{MAX_VPC_PREFIX} block")
    return vpc


def subnet_bits(cidr: str) -> dict[str, int]:
    """The `Fn::Cidr` host bits of the private and of the edge (public, isolated) subnets."""
    n = check_cidr(cidr).prefixlen
    return {"PrivateSubnetBits": 32 - (n + 2), "EdgeSubnetBits": 32 - (n + 5)}


def subnet_plan(cidr: str) -> dict[str, list[str]]:
    """Tier -> the CIDR of its subnet in each of the three AZs (what the template's Fn::Cidr yields)."""
    vpc = check_cidr(cidr)
    private = list(vpc.subnets(prefixlen_diff=2))
    edge = list(vpc.subnets(prefixlen_diff=5))
    return {"public": [str(s) for s in edge[EDGE_BLOCKS["public"]:EDGE_BLOCKS["public"] + AZ_COUNT]],
            "private": [str(s) for s in private[0:AZ_COUNT]],
            "isolated": [str(s) for s in edge[EDGE_BLOCKS["isolated"]:EDGE_BLOCKS["isolated"] + AZ_COUNT]]}


def nat_mode(cfg: OrgConfig, account: Account) -> str:
    assert account.network is not None
    default = "per-az" if account.environment == "prod" else "single"
    return account.network.nat_gateways or cfg.baseline.network.nat_gateways.get(account.environment, default)


def endpoint_mode(cfg: OrgConfig, account: Account) -> str:
    assert account.network is not None
    return account.network.endpoints or cfg.baseline.network.endpoints.get(account.environment, "per-az")


def parameter_values(cfg: OrgConfig, account: Account) -> dict[str, str]:
    """The stack instance's parameter overrides for `account` (CloudFormation takes strings)."""
    assert account.network is not None
    where = f"account '{account.name}' network.cidr"
    check_cidr(account.network.cidr, where)
    bits = subnet_bits(account.network.cidr)
    values = {"VpcCidr": account.network.cidr, "PrivateSubnetBits": str(bits["PrivateSubnetBits"]),
              "EdgeSubnetBits": str(bits["EdgeSubnetBits"]), "NatMode": nat_mode(cfg, account)}
    if cfg.baseline.network.interface_endpoints:
        values["EndpointMode"] = endpoint_mode(cfg, account)
    return values


def _add(t: Template, resource, *ids: str, condition: str = HAS_VPC):
    resource.Condition = condition
    return t.add_resource(controls(resource, *ids))


def _parameters(t: Template, endpoints: bool) -> dict[str, Parameter]:
    params = {
        "VpcCidr": t.add_parameter(Parameter(
            "VpcCidr", Type="String", Default="",
            AllowedPattern=r"^$|^(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-3])$",
            Description="The account's VPC CIDR (/16 to /23), set per stack instance; empty deploys no VPC")),
        "PrivateSubnetBits": t.add_parameter(Parameter(
            "PrivateSubnetBits", Type="Number", Default=32 - (MIN_VPC_PREFIX + 2),
            MinValue=32 - (MAX_VPC_PREFIX + 2), MaxValue=32 - (MIN_VPC_PREFIX + 2),
            Description="Host bits of each private subnet (32 - (VPC prefix + 2)); computed by charter synth")),
        "EdgeSubnetBits": t.add_parameter(Parameter(
            "EdgeSubnetBits", Type="Number", Default=32 - (MIN_VPC_PREFIX + 5),
            MinValue=32 - (MAX_VPC_PREFIX + 5), MaxValue=32 - (MIN_VPC_PREFIX + 5),
            Description="Host bits of each public and isolated subnet (32 - (VPC prefix + 5)); computed by charter synth")),
        "NatMode": t.add_parameter(Parameter(
            "NatMode", Type="String", Default="single", AllowedValues=list(NAT_MODES),
            Description="NAT gateways: per-az (one per AZ), single (one for the VPC) or none")),
    }
    if endpoints:
        params["EndpointMode"] = t.add_parameter(Parameter(
            "EndpointMode", Type="String", Default="per-az", AllowedValues=list(ENDPOINT_MODES),
            Description="Interface endpoints: per-az (every AZ), single-az (first AZ only) or none"))
    return params


def _subnet_cidr(tier: str, az: int) -> Select:
    if tier == "private":
        return Select(az, Cidr(Ref("VpcCidr"), AZ_COUNT, Ref("PrivateSubnetBits")))
    return Select(EDGE_BLOCKS[tier] + az, Cidr(Ref("VpcCidr"), EDGE_COUNT, Ref("EdgeSubnetBits")))


def _nacl(t: Template, name: str, tag: str, vpc: VPC,
          rules: list[tuple[bool, object, tuple[int, int] | None]]) -> NetworkAcl:
    acl = _add(t, NetworkAcl(f"{name}Nacl", VpcId=Ref(vpc), Tags=Tags(Name=tag)), "NET-01")
    numbers = {True: 100, False: 100}
    for egress, source, ports in rules:
        number = numbers[egress]
        numbers[egress] += 10
        kwargs = {"Protocol": -1} if ports is None else {"Protocol": 6, "PortRange": PortRange(From=ports[0], To=ports[1])}
        direction = "Out" if egress else "In"
        _add(t, NetworkAclEntry(
            f"{name}Nacl{direction}{number}", NetworkAclId=Ref(acl), RuleNumber=number, Egress=egress,
            RuleAction="allow", CidrBlock=source, **kwargs), "NET-01")
    return acl


def template(cfg: OrgConfig) -> Template:
    net = cfg.baseline.network
    t = Template(Description="Charter: workload VPC, 3 tiers x 3 AZs, one StackSet with per-account CIDR and "
                             "NAT parameters (NET-01, NET-02, NET-03, LOG-06)")
    context_parameter(t, "LogArchiveAccountId")
    params = _parameters(t, bool(net.interface_endpoints))
    cidr = Ref(params["VpcCidr"])
    t.add_condition(NO_VPC, Equals(cidr, ""))
    t.add_condition(HAS_VPC, Not(Condition(NO_VPC)))
    t.add_condition(HAS_NAT, And(Condition(HAS_VPC), Not(Equals(Ref(params["NatMode"]), "none"))))
    t.add_condition(NAT_PER_AZ, And(Condition(HAS_VPC), Equals(Ref(params["NatMode"]), "per-az")))

    def name(*parts: str) -> str:
        return resource_name(cfg, *parts)

    # a stack needs at least one resource: this stands in when the instance has no VpcCidr
    _add(t, WaitConditionHandle("NoVpcPlaceholder"), "NET-01", condition=NO_VPC)

    vpc = _add(t, VPC("Vpc", CidrBlock=cidr, EnableDnsSupport=True, EnableDnsHostnames=True,
                      Tags=Tags(Name=name("vpc"), ManagedBy="charter")), "NET-01")
    igw = _add(t, InternetGateway("InternetGateway", Tags=Tags(Name=name("igw"))), "NET-01")
    attach = _add(t, VPCGatewayAttachment("InternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(igw)),
                  "NET-01")

    subnets: dict[str, list[Subnet]] = {tier: [] for tier in TIERS}
    for tier in TIERS:
        for az in range(AZ_COUNT):
            subnets[tier].append(_add(t, Subnet(
                logical_id(tier, "Subnet", str(az + 1)), VpcId=Ref(vpc), CidrBlock=_subnet_cidr(tier, az),
                AvailabilityZone=Select(az, GetAZs("")), MapPublicIpOnLaunch=False,
                Tags=Tags(Name=name(tier, str(az + 1)), Tier=tier)), "NET-01"))

    # public tier: default route to the internet gateway
    public_rt = _add(t, RouteTable("PublicRouteTable", VpcId=Ref(vpc), Tags=Tags(Name=name("public"))), "NET-01")
    route = Route("PublicDefaultRoute", RouteTableId=Ref(public_rt), DestinationCidrBlock=ANYWHERE, GatewayId=Ref(igw))
    route.DependsOn = [attach.title]
    _add(t, route, "NET-01")

    # NAT: the first gateway whenever NatMode is not none, the other two only per-az
    nats: list[NatGateway] = []
    for az in range(AZ_COUNT):
        condition = HAS_NAT if az == 0 else NAT_PER_AZ
        eip = EIP(f"NatEip{az + 1}", Domain="vpc", Tags=Tags(Name=name("nat", str(az + 1))))
        eip.DependsOn = [attach.title]
        _add(t, eip, "NET-01", condition=condition)
        nats.append(_add(t, NatGateway(
            f"NatGateway{az + 1}", AllocationId=GetAtt(eip, "AllocationId"), SubnetId=Ref(subnets["public"][az]),
            Tags=Tags(Name=name("nat", str(az + 1)))), "NET-01", condition=condition))

    route_tables: dict[str, list[RouteTable]] = {"public": [public_rt] * AZ_COUNT, "private": [], "isolated": []}
    for az in range(AZ_COUNT):
        rt = _add(t, RouteTable(f"PrivateRouteTable{az + 1}", VpcId=Ref(vpc), Tags=Tags(Name=name("private", str(az + 1)))),
                  "NET-01")
        route_tables["private"].append(rt)
        # per-az: each AZ through its own gateway (an AZ outage stays in its AZ); single: all through the first
        target = Ref(nats[0]) if az == 0 else If(NAT_PER_AZ, Ref(nats[az]), Ref(nats[0]))
        _add(t, Route(f"PrivateDefaultRoute{az + 1}", RouteTableId=Ref(rt), DestinationCidrBlock=ANYWHERE,
                      NatGatewayId=target), "NET-01", condition=HAS_NAT)
    # isolated tier: no route out of the VPC at all
    isolated_rt = _add(t, RouteTable("IsolatedRouteTable", VpcId=Ref(vpc), Tags=Tags(Name=name("isolated"))), "NET-01")
    route_tables["isolated"] = [isolated_rt] * AZ_COUNT

    ephemeral_in: list[tuple[bool, object, tuple[int, int] | None]] = [(False, ANYWHERE, p) for p in EPHEMERAL]
    nacls = {
        # public: HTTPS/HTTP in from anywhere (load balancers), return traffic for the NAT gateways
        "public": _nacl(t, "Public", name("public", "nacl"), vpc, [(False, ANYWHERE, (443, 443)), (False, ANYWHERE, (80, 80)),
                                           (False, cidr, None), *ephemeral_in, (True, ANYWHERE, None)]),
        # private: anything from inside the VPC, return traffic from the internet via NAT
        "private": _nacl(t, "Private", name("private", "nacl"), vpc, [(False, cidr, None), *ephemeral_in, (True, ANYWHERE, None)]),
        # isolated: inside the VPC only, both ways
        "isolated": _nacl(t, "Isolated", name("isolated", "nacl"), vpc, [(False, cidr, None), (True, cidr, None)]),
    }
    for tier in TIERS:
        for az, subnet in enumerate(subnets[tier]):
            n = logical_id(tier, str(az + 1))
            _add(t, SubnetRouteTableAssociation(f"{n}RouteTableAssociation", SubnetId=Ref(subnet),
                                                RouteTableId=Ref(route_tables[tier][az])), "NET-01")
            _add(t, SubnetNetworkAclAssociation(f"{n}NaclAssociation", SubnetId=Ref(subnet),
                                                NetworkAclId=Ref(nacls[tier])), "NET-01")

    # NET-03: AWS services without leaving the VPC
    inner_tables = [Ref(rt) for rt in route_tables["private"]] + [Ref(isolated_rt)]
    for svc in GATEWAY_ENDPOINTS:
        _add(t, VPCEndpoint(
            logical_id(svc, "GatewayEndpoint"), VpcId=Ref(vpc), VpcEndpointType="Gateway",
            ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{svc}"), RouteTableIds=inner_tables), "NET-03")
    if net.interface_endpoints:
        mode = Ref(params["EndpointMode"])
        t.add_condition(HAS_ENDPOINTS, And(Condition(HAS_VPC), Not(Equals(mode, "none"))))
        t.add_condition(ENDPOINTS_PER_AZ, Equals(mode, "per-az"))
        sg = _add(t, SecurityGroup(
            "EndpointSecurityGroup", VpcId=Ref(vpc), GroupDescription="Interface endpoints: HTTPS from this VPC only",
            SecurityGroupEgress=[{"IpProtocol": "-1", "CidrIp": "127.0.0.1/32",
                                  "Description": "No egress: endpoints only answer"}],
            Tags=Tags(Name=name("endpoints"))), "NET-03", condition=HAS_ENDPOINTS)
        _add(t, SecurityGroupIngress(
            "EndpointHttpsFromVpc", GroupId=Ref(sg), IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp=cidr,
            Description="HTTPS from inside the VPC"), "NET-03", condition=HAS_ENDPOINTS)
        # single-az: one ENI in the first AZ; private DNS sends every AZ there (cross-AZ traffic)
        where = If(ENDPOINTS_PER_AZ, [Ref(s) for s in subnets["private"]], [Ref(subnets["private"][0])])
        for svc in net.interface_endpoints:
            _add(t, VPCEndpoint(
                logical_id(svc, "Endpoint"), VpcId=Ref(vpc), VpcEndpointType="Interface", PrivateDnsEnabled=True,
                ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{svc}"),
                SubnetIds=where, SecurityGroupIds=[Ref(sg)]), "NET-03", condition=HAS_ENDPOINTS)

    # LOG-06: every flow of the VPC to the log archive
    _add(t, FlowLog(
        "VpcFlowLog", ResourceId=Ref(vpc), ResourceType="VPC", TrafficType="ALL", LogDestinationType="s3",
        LogDestination=Sub(f"arn:${{AWS::Partition}}:s3:::{log_bucket_name(cfg, 'flow-logs')}"),
        MaxAggregationInterval=60,
        DestinationOptions=DestinationOptions(FileFormat="parquet", HiveCompatiblePartitions=True, PerHourPartition=True),
        Tags=Tags(Name=name("vpc"))), "LOG-06")

    closed = DefaultSecurityGroupClosedResource(
        "DefaultSecurityGroupClosed", ServiceToken=ImportValue(FUNCTION_ARN_EXPORT),
        ServiceTimeout=SERVICE_TIMEOUT_SECONDS, GroupId=GetAtt(vpc, "DefaultSecurityGroup"))
    _add(t, closed, "NET-02")

    t.add_output(Output("VpcId", Condition=HAS_VPC, Value=Ref(vpc), Export=Export("charter-vpc-id")))
    for tier in TIERS:
        t.add_output(Output(logical_id(tier, "SubnetIds"), Condition=HAS_VPC,
                            Value=Join(",", [Ref(s) for s in subnets[tier]]),
                            Export=Export(f"charter-{tier}-subnet-ids")))
    return t


def network_accounts(cfg: OrgConfig) -> list[Account]:
    return [a for a in cfg.accounts if a.network and a.environment in WORKLOAD_ENVIRONMENTS]


@builder("network", controls=["NET-01", "NET-02", "NET-03", "LOG-06"],
         description="Three-tier VPC across 3 AZs with NACLs, endpoints, flow logs and a closed default SG.",
         grows_with="baseline.network.interface_endpoints")
def build(cfg: OrgConfig) -> list[StackSpec]:
    accounts = network_accounts(cfg)
    if not cfg.baseline.network.enabled or not accounts:
        return []
    overrides = {a.name: parameter_values(cfg, a) for a in accounts}  # validates every CIDR first
    return [StackSpec(STACK, template(cfg), Deployment(
        kind="stackset", permission_model="SERVICE_MANAGED", regions=[cfg.organization.home_region],
        # only these accounts of these OUs (the deploy engine's INTERSECTION account filter)
        target_ous=sorted({a.ou for a in accounts}), target_accounts=[a.name for a in accounts],
        parameter_overrides=overrides, order=30, depends_on=["account-baseline"]),
        facts={"account_filter": "INTERSECTION",
               "accounts": {a.name: {"cidr": a.network.cidr, "nat_gateways": nat_mode(cfg, a),
                                     "endpoints": endpoint_mode(cfg, a) if cfg.baseline.network.interface_endpoints
                                     else "none",
                                     "subnets": subnet_plan(a.network.cidr)}
                            for a in accounts if a.network}})]
