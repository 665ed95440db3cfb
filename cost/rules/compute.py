"""Lambda: requests, duration and ephemeral storage per function; provisioned concurrency."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..assumptions import number
from ..engine import SECONDS_PER_MONTH, Res, function_name, rule
from ..lines import Line
from ..schedule import runs_per_month

FREE_EPHEMERAL_MB = 512


def _arch(props: dict[str, Any]) -> str:
    archs = props.get("Architectures") or ["x86_64"]
    return "arm64" if archs[0] == "arm64" else "x86_64"


def invocations(r: Res, name: str) -> tuple[float, str, str] | None:
    """Invocations per month, why, and the setting behind them; None = deploy-time only."""
    key = (r.account, r.region, name)
    sources = r.facts.invokers.get(key, [])
    if not sources:
        if key in r.facts.service_tokens:
            return None  # a custom resource's handler runs only when CloudFormation deploys
        from .orchestration import evidence_run_invocations

        started = evidence_run_invocations(r)
        if started is not None:
            return started
        if r.props.get("Handler") == "charter.evidence.continuous.handler":
            return None  # on demand only: the schedule starts the evidence state machine
        opt = r.usage("optimizations_per_month")
        return opt.value, f"no trigger in the templates: once per optimization ({opt.text})", opt.setting
    total, why, setting = 0.0, [], ""
    seen: set[str] = set()
    for principal, rule_props in sources:
        kind = principal.split(".")[0]
        if kind in seen and kind != "events":
            continue
        seen.add(kind)
        if kind == "apigateway":
            api = [n for (a, g, n), src in r.facts.invokers.items() if (a, g) == (r.account, r.region)
                   and any(p.startswith("apigateway") for p, _ in src)]
            req, ws = r.usage("api_requests_per_month"), r.usage("websocket_messages_per_month")
            total += (req.value + ws.value) / len(api)
            why.append(f"({req.text} + {ws.text}) over {len(api)} API function(s)")
            setting = req.setting
        elif kind == "events" and rule_props and rule_props.get("ScheduleExpression"):
            runs = runs_per_month(str(rule_props["ScheduleExpression"]))
            override = r.est.assume.explicit(r.environment, "evidence_runs_per_day")
            if "EVD-01" in r.p.controls and override is not None:  # the evidence collector, run more often
                total += override.value * 365 / 12
                why.append(override.text + " x 30.4 days")
                setting = override.setting
            elif runs is not None:
                total += runs
                why.append(f"schedule {rule_props['ScheduleExpression']}: {number(round(runs, 1))} runs")
                setting = setting or "the rule's ScheduleExpression"
        elif kind == "events":
            files = r.usage("market_data_files_per_month")
            total += files.value
            why.append(f"one per new object ({files.text})")
            setting = files.setting
        elif kind == "bedrock":
            calls = sum(r.est.assume.agent_calls(agent.name).value
                        for agent in r.facts.agents.get((r.account, r.region), []))
            opt = r.usage("optimizations_per_month")
            total += calls * opt.value
            why.append(f"{number(calls)} agent calls per optimization (cost.optimization.agent_calls) x {opt.text}")
            setting = opt.setting
        elif kind == "secretsmanager":
            rot = sum(4 * 365 / 12 / days for days in r.facts.rotations.get((r.account, r.region), []))
            total += rot
            why.append(f"4 calls per rotation of {len(r.facts.rotations.get((r.account, r.region), []))} secret(s)")
            setting = setting or "the secrets' RotationRules"
        else:
            opt = r.usage("optimizations_per_month")
            total += opt.value
            why.append(f"invoked by {principal}: once per optimization ({opt.text})")
            setting = opt.setting
    return total, "; ".join(why), setting


@rule("AWS::Lambda::Function")
def function(r: Res) -> Iterator[Line]:
    name = r.props.get("FunctionName") if isinstance(r.props.get("FunctionName"), str) else r.p.logical
    inv = invocations(r, name)
    if inv is None:
        return
    count, why, setting = inv
    if count <= 0:
        return
    memory = float(r.props.get("MemorySize", 128))
    ms = r.usage("lambda_ms_per_invocation")
    yield r.line("Lambda", "requests", "lambda.requests", count, why, setting)
    gb_seconds = count * ms.value / 1000 * memory / 1024
    yield r.line("Lambda", f"duration ({_arch(r.props)}, {memory:g} MB)", f"lambda.duration.{_arch(r.props)}",
                 gb_seconds, f"{number(round(count))} invocations x {ms.text} ms x {memory:g} MB", ms.setting)
    ephemeral = float((r.props.get("EphemeralStorage") or {}).get("Size", FREE_EPHEMERAL_MB))
    if ephemeral > FREE_EPHEMERAL_MB:
        extra = (ephemeral - FREE_EPHEMERAL_MB) / 1024 * count * ms.value / 1000
        yield r.line("Lambda", f"ephemeral storage above {FREE_EPHEMERAL_MB} MB", "lambda.ephemeral_storage", extra,
                     f"{ephemeral - FREE_EPHEMERAL_MB:g} MB x {number(round(count))} invocations x {ms.text} ms",
                     ms.setting)


@rule("AWS::Lambda::Alias")
def alias(r: Res) -> Iterator[Line]:
    pc = (r.props.get("ProvisionedConcurrencyConfig") or {}).get("ProvisionedConcurrentExecutions")
    if not pc:
        return
    target = r.props.get("FunctionName")
    fn = {}
    if isinstance(target, dict) and "Ref" in target:
        fn = r.p.template.get("Resources", {}).get(target["Ref"], {}).get("Properties", {})
    memory = float(fn.get("MemorySize", 128))
    gb_seconds = float(pc) * memory / 1024 * SECONDS_PER_MONTH
    who = function_name(target, r.p.template) or r.p.logical
    yield r.line("Lambda", f"provisioned concurrency ({_arch(fn)}, {memory:g} MB)", f"lambda.provisioned.{_arch(fn)}",
                 gb_seconds, f"{pc} warm environment(s) of {who} x {memory:g} MB x 730 h",
                 f"workloads.optimizer.environments.{r.environment}.provisioned_concurrency")
