"""VPC: NAT gateways and their addresses, interface endpoints, flow logs."""

from __future__ import annotations

from collections.abc import Iterator

from ..engine import HOURS_PER_MONTH, INTERFACE, Res, rule
from ..lines import Line

ALWAYS_ON = f"{HOURS_PER_MONTH:g} hours (always on)"
NAT_SETTING = "baseline.network.nat_gateways (per-az, single, none)"
ENDPOINT_SETTING = "baseline.network.endpoints (per-az, single-az, none) and interface_endpoints"


@rule("AWS::EC2::NatGateway")
def nat_gateway(r: Res) -> Iterator[Line]:
    yield r.line("VPC", "NAT gateway hours", "vpc.nat_gateway.hours", HOURS_PER_MONTH, ALWAYS_ON, NAT_SETTING)
    gb = r.usage("nat_gb_per_vpc")
    gateways = r.facts.count(r.account, "AWS::EC2::NatGateway", r.region) or 1
    yield r.line("VPC", "NAT gateway data processed", "vpc.nat_gateway.gb", gb.value / gateways,
                 f"{gb.text} GB over {gateways} gateway(s)", gb.setting)


@rule("AWS::EC2::EIP")
def elastic_ip(r: Res) -> Iterator[Line]:
    yield r.line("VPC", "public IPv4 address hours", "vpc.public_ipv4.hours", HOURS_PER_MONTH, ALWAYS_ON, NAT_SETTING)


@rule("AWS::EC2::VPCEndpoint")
def endpoint(r: Res) -> Iterator[Line]:
    if r.props.get("VpcEndpointType", "Gateway") != "Interface":
        return  # gateway endpoints (S3, DynamoDB) are free
    subnets = r.resolve(r.props.get("SubnetIds"))
    azs = len(subnets) if isinstance(subnets, list) and subnets else 1
    yield r.line("VPC", "interface endpoint hours", "vpc.interface_endpoint.hours", HOURS_PER_MONTH * azs,
                 f"{ALWAYS_ON} x {azs} AZ(s)", ENDPOINT_SETTING)
    gb = r.usage("endpoint_gb_per_vpc")
    interfaces = r.facts.count(r.account, INTERFACE, r.region) or 1
    yield r.line("VPC", "interface endpoint data processed", "vpc.interface_endpoint.gb", gb.value / interfaces,
                 f"{gb.text} GB over {interfaces} interface endpoint(s)", gb.setting)


@rule("AWS::EC2::FlowLog")
def flow_log(r: Res) -> Iterator[Line]:
    gb = r.usage("flow_log_gb_per_vpc")
    if r.props.get("LogDestinationType") == "s3":
        yield r.line("CloudWatch", "flow logs delivered to S3", "logs.vended_s3.gb", gb.value, f"{gb.text} GB", gb.setting)
        if (r.props.get("DestinationOptions") or {}).get("FileFormat") == "parquet":
            yield r.line("CloudWatch", "flow logs converted to Parquet", "logs.vended_parquet.gb", gb.value,
                         f"{gb.text} GB", gb.setting)
    # CloudWatch Logs destinations are priced through the log group's ingestion
