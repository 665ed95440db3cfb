"""Price every resource of every stack instance, one rule per resource type.

Two passes. The first places each stack on its accounts and regions (`targets`), keeps the
resources whose `Condition` holds there (`cfn`), and indexes what rules need to know about
their neighbours: how many log groups share an account's log volume, which principal may
invoke each Lambda function, which agents call which model. The second asks the rule of
each resource type for its lines.

Rules live in `charter.cost.rules` (one module per AWS area) and register with `@rule`.
A type no rule knows and that is not declared free becomes one line with an unknown
price, so nothing is silently counted as zero.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from charter.config.model import OrgConfig

from .assumptions import Assumed, Assumptions
from .cfn import UNKNOWN, Scope
from .lines import Line
from .prices import PriceBook
from .targets import Instance, StackLike, instances

HOURS_PER_MONTH = 730.0
#: Pseudo-type counted in Facts: interface VPC endpoints (gateway endpoints are free).
INTERFACE = "vpc-endpoint:Interface"
#: Pseudo-type counted in Facts: log groups a trail delivers to (their volume is the trail's).
TRAIL_LOG_GROUP = "logs:trail"
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600

Rule = Callable[["Res"], Iterable[Line]]
_RULES: dict[str, Rule] = {}
#: Types AWS does not bill for by themselves (their usage, if any, is priced elsewhere) -> why.
FREE: dict[str, str] = {}


def rule(*types: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for t in types:
            _RULES[t] = fn
        return fn
    return register


def free(reason: str, *types: str) -> None:
    for t in types:
        FREE[t] = reason


def rules() -> dict[str, Rule]:
    from . import rules as _  # noqa: F401 (registers every rule module)

    return _RULES


@dataclass(slots=True)
class Placed:
    """One resource as created in one stack instance."""

    instance: Instance
    logical: str
    type: str
    props: dict[str, Any]
    controls: tuple[str, ...]
    template: dict[str, Any]
    scope: Scope
    assumed_condition: str = ""  # a condition that could not be decided before deploy


_FUNCTION_IN_ARN = re.compile(r":function:([A-Za-z0-9_-]+)")


def function_name(value: Any, template: dict[str, Any]) -> str | None:
    """The physical name a FunctionName or ARN value points at: a Ref/GetAtt to a function of
    the same template (its FunctionName, else its logical id) or an ARN string (or Fn::Sub)."""
    if isinstance(value, dict) and ("Ref" in value or "Fn::GetAtt" in value):
        target = value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]
        name = template.get("Resources", {}).get(target, {}).get("Properties", {}).get("FunctionName")
        return name if isinstance(name, str) else target
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"][0] if isinstance(value["Fn::Sub"], list) else value["Fn::Sub"]
    if isinstance(value, str):
        m = _FUNCTION_IN_ARN.search(value)
        return m.group(1) if m else value
    return None  # an import or another intrinsic: not resolvable before deploy


@dataclass(frozen=True, slots=True)
class Agent:
    name: str  # the `charter:agent` tag (or logical id)
    model: str  # foundation model id ("" when only known after deploy)
    guardrailed: bool
    knowledge_base: bool


def tag_of(props: dict[str, Any], key: str) -> str | None:
    tags = props.get("Tags")
    if isinstance(tags, dict):
        return tags.get(key)
    for t in tags or []:
        if isinstance(t, dict) and t.get("Key") == key:
            return t.get("Value")
    return None


@dataclass
class Facts:
    """What rules need to know about a resource's neighbours."""

    by_account_type: Counter = field(default_factory=Counter)  # (account, type)
    by_place_type: Counter = field(default_factory=Counter)  # (account, region, type)
    #: (account, region, function name) -> invocation sources [(principal, rule props or None)]
    invokers: dict[tuple[str, str, str], list[tuple[str, dict | None]]] = field(default_factory=lambda: defaultdict(list))
    #: (account, region, function name) of custom resource handlers (invoked only during deploys)
    service_tokens: set[tuple[str, str, str]] = field(default_factory=set)
    #: (account, region) -> the Bedrock agents there
    agents: dict[tuple[str, str], list[Agent]] = field(default_factory=lambda: defaultdict(list))
    #: (account, region) -> rotation schedules (days between rotations)
    rotations: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    #: (stack, logical id) of log groups a CloudTrail trail delivers to
    trail_log_groups: set[tuple[str, str]] = field(default_factory=set)
    iam_roles_total: int = 0
    sso_roles: int = 0

    def count(self, account: str, type_: str, region: str | None = None) -> int:
        if region is None:
            return self.by_account_type[(account, type_)]
        return self.by_place_type[(account, region, type_)]


class Estimator:
    """Holds the config, prices and facts; `run` yields every line."""

    def __init__(self, cfg: OrgConfig, prices: PriceBook) -> None:
        self.cfg = cfg
        self.prices = prices
        self.assume = Assumptions(cfg)
        self.facts = Facts()
        self.placed: list[Placed] = []
        self._account_names = frozenset([a.name for a in cfg.accounts] + ["management"])

    # -- pass 1 ------------------------------------------------------------------------
    def place(self, stacks: Iterable[StackLike]) -> None:
        for stack in stacks:
            data = stack.data
            conditions = data.get("Conditions") or {}
            resources = data.get("Resources") or {}
            for inst in instances(self.cfg, stack):
                scope = Scope(inst.account, inst.region, inst.parameters, conditions, self._account_names)
                for logical, res in resources.items():
                    assumed = ""
                    cond = res.get("Condition")
                    if cond:
                        truth = scope.condition(cond)
                        if truth is False:
                            continue
                        if truth is None:
                            assumed = f"condition {cond} assumed true"
                    props = res.get("Properties") or {}
                    type_ = res["Type"]
                    ctrls = tuple(res.get("Metadata", {}).get("Charter", {}).get("Controls", ()))
                    p = Placed(inst, logical, type_, props, ctrls, data, scope, assumed)
                    self.placed.append(p)
                    self._index(p)

    def _index(self, p: Placed) -> None:
        f, inst = self.facts, p.instance
        f.by_account_type[(inst.account, p.type)] += 1
        f.by_place_type[(inst.account, inst.region, p.type)] += 1
        where = (inst.account, inst.region)
        if p.type == "AWS::EC2::VPCEndpoint" and p.props.get("VpcEndpointType") == "Interface":
            f.by_place_type[(*where, INTERFACE)] += 1
        elif p.type == "AWS::S3::Bucket":
            component = tag_of(p.props, "charter:component")
            if component:
                f.by_account_type[(inst.account, "s3:" + component)] += 1
            elif inst.stack == "log-archive" and p.logical != "AccessLogBucket":
                f.by_account_type[(inst.account, "s3:log-archive")] += 1
        elif p.type == "AWS::CloudTrail::Trail":
            target = p.props.get("CloudWatchLogsLogGroupArn")
            if isinstance(target, dict) and "Fn::GetAtt" in target:
                f.trail_log_groups.add((inst.stack, target["Fn::GetAtt"][0]))
                f.by_account_type[(inst.account, TRAIL_LOG_GROUP)] += 1
        elif p.type == "AWS::Lambda::Permission":
            name = function_name(p.props.get("FunctionName"), p.template)
            source = p.props.get("SourceArn")
            rule_props = None
            if isinstance(source, dict) and "Fn::GetAtt" in source:
                target = p.template.get("Resources", {}).get(source["Fn::GetAtt"][0], {})
                if target.get("Type") == "AWS::Events::Rule":
                    rule_props = target.get("Properties") or {}
            if name:
                f.invokers[(*where, name)].append((str(p.props.get("Principal", "")), rule_props))
        elif p.type.startswith("Custom::") or p.type == "AWS::CloudFormation::CustomResource":
            name = function_name(p.props.get("ServiceToken"), p.template)
            if name:
                f.service_tokens.add((*where, name))
        elif p.type == "AWS::Bedrock::Agent":
            tags = p.props.get("Tags") or {}
            model = p.scope.resolve(p.props.get("FoundationModel"))
            f.agents[where].append(Agent(str(tags.get("charter:agent", p.logical)), "" if model is UNKNOWN else str(model),
                                         "GuardrailConfiguration" in p.props, bool(p.props.get("KnowledgeBases"))))
        elif p.type == "AWS::SecretsManager::RotationSchedule":
            days = (p.props.get("RotationRules") or {}).get("AutomaticallyAfterDays") or 30
            f.rotations[where].append(float(days))
        elif p.type == "AWS::IAM::Role":
            f.iam_roles_total += 1
        elif p.type == "AWS::SSO::Assignment":
            f.sso_roles += 1  # Identity Center provisions one AWSReservedSSO role per set and account

    # -- pass 2 ------------------------------------------------------------------------
    def run(self) -> Iterator[Line]:
        table = rules()
        for p in self.placed:
            fn = table.get(p.type)
            if fn is not None:
                yield from fn(Res(self, p))
            elif p.type not in FREE and not p.type.startswith("Custom::"):
                yield Res(self, p).line("unknown", f"no pricing rule for {p.type}", f"type:{p.type}", 1,
                                        "one resource", "")


class Res:
    """What a rule sees: one placed resource, and helpers to read usage and make lines."""

    __slots__ = ("est", "p")

    def __init__(self, est: Estimator, p: Placed) -> None:
        self.est, self.p = est, p

    @property
    def props(self) -> dict[str, Any]:
        return self.p.props

    @property
    def account(self) -> str:
        return self.p.instance.account

    @property
    def environment(self) -> str:
        return self.p.instance.environment

    @property
    def region(self) -> str:
        return self.p.instance.region

    @property
    def facts(self) -> Facts:
        return self.est.facts

    @property
    def cfg(self) -> OrgConfig:
        return self.est.cfg

    def usage(self, name: str, environment: str | None = None) -> Assumed:
        return self.est.assume.usage(environment or self.environment, name)

    def resolve(self, value: Any) -> Any:
        return self.p.scope.resolve(value)

    def tag(self, key: str) -> str | None:
        return tag_of(self.props, key)

    def line(self, service: str, dimension: str, key: str, quantity: float, assumption: str, setting: str, *,
             account: str | None = None, environment: str | None = None, region: str | None = None) -> Line:
        inst = self.p.instance
        region = region or inst.region
        price = self.est.prices.get(key, region)
        if self.p.assumed_condition:
            assumption = f"{assumption}; {self.p.assumed_condition}"
        return Line(
            account=account or inst.account, environment=environment or inst.environment, region=region,
            stack=inst.stack, resource=self.p.logical, type=self.p.type, service=service, controls=self.p.controls,
            dimension=dimension, price_key=key, unit_price=price.usd if price else None,
            per=price.per if price else 1.0, unit=price.unit if price else "", price_note=price.note if price else
            f"not in the price snapshot ({self.est.prices.as_of})", quantity=quantity, assumption=assumption,
            setting=setting)
