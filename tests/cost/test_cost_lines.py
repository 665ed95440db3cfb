"""A small synthetic template priced line by line, against figures computed by hand from the
shipped snapshot's prices (us-east-1 list prices of 2025-01-15, quoted in each comment)."""

from __future__ import annotations

import pytest
from costkit import res, small_with, stack

from charter.cost.estimate import estimate
from charter.cost.prices import load

HOURS = 730


@pytest.fixture(scope="module")
def cfg():
    return small_with()


def _template() -> dict:
    return {
        "Nat": res("AWS::EC2::NatGateway"),
        "NatEip": res("AWS::EC2::EIP"),
        "StsEndpoint": res("AWS::EC2::VPCEndpoint", ("NET-03",), VpcEndpointType="Interface",
                           SubnetIds=[{"Ref": "A"}, {"Ref": "B"}]),
        "S3Endpoint": res("AWS::EC2::VPCEndpoint", ("NET-03",), VpcEndpointType="Gateway"),
        "Key": res("AWS::KMS::Key", ("ENC-01",)),
        "Fn": res("AWS::Lambda::Function", ("WKL-05",), FunctionName="api-fn", MemorySize=1024,
                  Architectures=["arm64"]),
        "FnPermission": res("AWS::Lambda::Permission", ("WKL-11",), FunctionName={"Ref": "Fn"},
                            Principal="apigateway.amazonaws.com", Action="lambda:InvokeFunction"),
        "Logs": res("AWS::Logs::LogGroup", ("LOG-04",), RetentionInDays=30),
        "Alarm": res("AWS::CloudWatch::Alarm", ("MON-02",)),
        "Fsbp": res("AWS::SecurityHub::Standard", ("MON-04",), StandardsArn="arn:...:standards/aws-foundational-security-best-practices/v/1.0.0"),
        "Role": res("AWS::IAM::Role", ("IAM-01",)),
        "Mystery": res("AWS::Foo::Bar", ("NET-01",)),
    }


def _by(est, resource: str) -> dict[str, float | None]:
    return {x.dimension: x.monthly_usd for x in est.lines if x.resource == resource}


def test_each_line_matches_the_hand_computed_figure(cfg):
    est = estimate(cfg, [stack("synthetic", _template())])
    approx = pytest.approx
    # NAT gateway: 730 h x $0.045; 20 GB (cost.usage.nat_gb_per_vpc) x $0.045 over the one gateway
    assert _by(est, "Nat") == {"NAT gateway hours": approx(32.85), "NAT gateway data processed": approx(0.90)}
    # its public IPv4 address: 730 h x $0.005
    assert _by(est, "NatEip") == {"public IPv4 address hours": approx(3.65)}
    # interface endpoint in 2 subnets: 1,460 endpoint-AZ-hours x $0.01; 10 GB x $0.01
    assert _by(est, "StsEndpoint") == {"interface endpoint hours": approx(14.60),
                                       "interface endpoint data processed": approx(0.10)}
    assert _by(est, "S3Endpoint") == {}  # gateway endpoints are free
    # KMS: $1 a key-month; 10,000 requests x $0.03 per 10,000
    assert _by(est, "Key") == {"customer managed key": approx(1.00), "requests": approx(0.03)}
    # Lambda behind API Gateway: (100,000 REST + 50,000 WebSocket) requests x $0.20 per million,
    # and 150,000 x 0.3 s x 1 GB = 45,000 GB-s x $0.0000133334 (arm64)
    assert _by(est, "Fn") == {"requests": approx(0.03), "duration (arm64, 1024 MB)": approx(45_000 * 0.0000133334)}
    # logs: 2 GB (cost.usage.log_gb_per_account, the account's only group) x $0.50; stored:
    # 2 GB x 30/30.4167 months (retention) x 0.15 compressed x $0.03
    assert _by(est, "Logs") == {"ingestion": approx(1.00), "storage": approx(2 * (30 / (365 / 12)) * 0.15 * 0.03)}
    assert _by(est, "Alarm") == {"alarm metrics": approx(0.10)}
    # Security Hub: 2,000 checks (cost.usage.security_hub_checks_per_region) x $0.001
    assert _by(est, "Fsbp") == {"security checks (FSBP)": approx(2.00)}
    assert _by(est, "Role") == {}  # IAM is free
    known = 32.85 + 0.90 + 3.65 + 14.60 + 0.10 + 1.00 + 0.03 + 0.03 + 45_000 * 0.0000133334 + 1.00 \
        + 2 * (30 / (365 / 12)) * 0.15 * 0.03 + 0.10 + 2.00
    assert est.total == approx(known)


def test_each_line_says_what_it_rests_on(cfg):
    est = estimate(cfg, [stack("synthetic", _template())])
    nat_data = next(x for x in est.lines if x.dimension == "NAT gateway data processed")
    assert nat_data.assumption == "cost.usage.nat_gb_per_vpc = 20 GB over 1 gateway(s)"
    assert nat_data.setting == "cost.usage.nat_gb_per_vpc"
    assert (nat_data.unit_price, nat_data.unit, nat_data.quantity) == (0.045, "GB", 20)
    assert nat_data.price_note == "us-east-1 list price" and nat_data.controls == ("NET-01",)
    assert (nat_data.account, nat_data.environment, nat_data.region, nat_data.stack) == ("dev", "dev", "us-east-1",
                                                                                         "synthetic")


def test_a_type_without_a_rule_is_unknown_and_left_out_of_the_total(cfg):
    est = estimate(cfg, [stack("synthetic", _template())])
    [unknown] = est.unknown
    assert unknown.type == "AWS::Foo::Bar" and unknown.monthly_usd is None and unknown.unit_price is None
    assert "no pricing rule" in unknown.dimension


def test_a_region_the_snapshot_lacks_prices_unknown_never_zero(cfg):
    est = estimate(cfg, [stack("far", {"Nat": res("AWS::EC2::NatGateway")}, regions=["ap-southeast-2"])])
    assert [x.monthly_usd for x in est.lines] == [None, None]
    assert est.total == 0 and len(est.unknown) == 2
    assert all("not in the price snapshot" in x.price_note for x in est.unknown)


def test_a_stackset_multiplies_by_its_target_accounts_and_regions(cfg):
    # NonProd holds staging and dev; two regions: four stack instances of one key each
    s = stack("kms-nonprod", {"Key": res("AWS::KMS::Key", ("ENC-01",))}, kind="stackset",
              permission_model="SERVICE_MANAGED", account=None, target_ous=["NonProd"],
              regions=["us-east-1", "us-west-2"])
    est = estimate(cfg, [s])
    keys = [x for x in est.lines if x.dimension == "customer managed key"]
    assert sorted((x.account, x.region) for x in keys) == [("dev", "us-east-1"), ("dev", "us-west-2"),
                                                          ("staging", "us-east-1"), ("staging", "us-west-2")]
    assert est.total == pytest.approx(4 * 1.03)
    west = next(x for x in keys if x.region == "us-west-2")
    assert west.price_note.startswith("us-east-1 x 1.00")  # derived, and says so


def test_service_managed_stacksets_never_reach_the_management_account(cfg):
    s = stack("everywhere", {"Key": res("AWS::KMS::Key", ("ENC-01",))}, kind="stackset",
              permission_model="SERVICE_MANAGED", account=None, target_ous=["Root"], regions=["us-east-1"])
    accounts = {x.account for x in estimate(cfg, [s]).lines}
    assert accounts == {a.name for a in cfg.accounts} and "management" not in accounts


def test_conditions_are_evaluated_per_stack_instance(cfg):
    conditions = {"HasNat": {"Fn::Not": [{"Fn::Equals": [{"Ref": "NatMode"}, "none"]}]},
                  "PerAz": {"Fn::Equals": [{"Ref": "NatMode"}, "per-az"]}}
    resources = {"Nat1": res("AWS::EC2::NatGateway", condition="HasNat"),
                 "Nat2": res("AWS::EC2::NatGateway", condition="PerAz")}
    s = stack("net", resources, conditions=conditions, parameters={"NatMode": {"Type": "String", "Default": "single"}},
              kind="stackset", permission_model="SERVICE_MANAGED", account=None, target_ous=["Workloads"],
              target_accounts=["prod", "staging", "dev"],
              parameter_overrides={"prod": {"NatMode": "per-az"}, "dev": {"NatMode": "none"}})
    hours = [x for x in estimate(cfg, [s]).lines if x.dimension == "NAT gateway hours"]
    assert sorted(x.account for x in hours) == ["prod", "prod", "staging"]


def test_prices_come_from_the_snapshot_given(cfg, tmp_path):
    snap = load().snapshot.model_copy(deep=True)
    snap.prices["vpc.nat_gateway.hours"].usd["us-east-1"] = 0.1
    path = tmp_path / "prices.json"
    from charter.cost.prices import dump

    path.write_text(dump(snap))
    est = estimate(cfg, [stack("n", {"Nat": res("AWS::EC2::NatGateway")})], load(path))
    assert _by(est, "Nat")["NAT gateway hours"] == pytest.approx(73.0)


def test_the_network_settings_change_what_the_network_stackset_costs(cfg):
    from charter.landing_zone.builders.network import build

    def network_cost(c) -> dict[str, float]:
        est = estimate(c, [s for s in _specs(build(c))])
        return {a: sum(x.monthly_usd for x in est.lines if x.account == a and x.dimension == "interface endpoint hours")
                for a in ("prod", "staging", "dev")}

    base = network_cost(cfg)
    assert base == pytest.approx({a: 6 * 3 * HOURS * 0.01 for a in ("prod", "staging", "dev")})
    lean = small_with(replace=("baseline:\n", "baseline:\n  network:\n    endpoints: {staging: single-az, dev: none}\n"))
    assert network_cost(lean) == pytest.approx({"prod": 6 * 3 * HOURS * 0.01, "staging": 6 * HOURS * 0.01, "dev": 0})


def _specs(specs):
    from types import SimpleNamespace

    return [SimpleNamespace(name=s.name, data=s.template.to_dict(), spec=s) for s in specs]


@pytest.mark.parametrize(("cost_yaml", "runs"), [("", 365 / 12), ("  usage: {evidence_runs_per_day: 4}\n", 4 * 365 / 12)])
def test_evidence_runs_follow_the_schedule_unless_set(cost_yaml, runs):
    from charter.landing_zone.synth import synthesize

    cfg = small_with(cost_yaml)
    [store] = [s for s in synthesize(cfg) if s.name == "evidence-store"]
    est = estimate(cfg, [store])
    # the schedule starts the evidence state machine: Plan and Seal, and one batch of 7 accounts
    step = next(x for x in est.lines if x.resource == "RunStepFunction" and x.dimension == "requests")
    batch = next(x for x in est.lines if x.resource == "RunBatchFunction" and x.dimension == "requests")
    assert (step.quantity, batch.quantity) == (pytest.approx(2 * runs), pytest.approx(runs))
    transitions = next(x for x in est.lines if x.resource == "RunStateMachine")
    assert transitions.quantity == pytest.approx(runs * (4 + 2 * 1))
    assert not any(x.resource == "CollectorFunction" for x in est.lines)  # on demand only
    # each run writes 20 artifacts per account and region: 7 accounts (management too) x 2 regions
    puts = next(x for x in est.lines if x.resource == "EvidenceBucket" and x.price_key == "s3.put_requests")
    assert puts.quantity == pytest.approx(runs * 20 * 7 * 2)
    assert puts.monthly_usd == pytest.approx(runs * 20 * 14 * 0.005 / 1000)


def test_a_rum_app_monitor_is_priced_from_its_sampled_page_views(cfg):
    monitor = res("AWS::RUM::AppMonitor", ("WKL-06",), AppMonitorConfiguration={"SessionSampleRate": 0.25})
    est = estimate(cfg, [stack("synthetic", {"Rum": monitor})])
    # 20,000 page views (cost.usage.console_page_views_per_month) x 10 events per view x 0.25 sampled
    # = 50,000 events x $1.00 per 100,000 events
    assert _by(est, "Rum") == {"RUM events (sampled page views)": pytest.approx(0.50)}


def test_a_public_acm_certificate_is_free_and_a_billed_one_is_unknown_never_zero(cfg):
    public = res("AWS::CertificateManager::Certificate", ("WKL-01",), DomainName="app.example", ValidationMethod="DNS")
    private = res("AWS::CertificateManager::Certificate", ("WKL-01",), DomainName="app.internal",
                  CertificateAuthorityArn="arn:aws:acm-pca:us-east-1:222222222222:certificate-authority/x")
    exportable = res("AWS::CertificateManager::Certificate", ("WKL-01",), DomainName="app.example",
                     ValidationMethod="DNS", CertificateExport="ENABLED")
    est = estimate(cfg, [stack("synthetic", {"Public": public, "Private": private, "Exportable": exportable})])
    assert "Public" not in {x.resource for x in est.lines}  # issued and renewed for CloudFront at no charge
    assert sorted(x.resource for x in est.unknown) == ["Exportable", "Private"]
    assert est.total == 0
