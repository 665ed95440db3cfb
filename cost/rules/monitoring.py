"""CloudWatch (alarms, dashboards, custom metrics, logs), Synthetics canaries and X-Ray."""

from __future__ import annotations

from collections.abc import Iterator

from ..assumptions import number
from ..engine import TRAIL_LOG_GROUP, Res, rule
from ..lines import Line
from ..schedule import runs_per_month
from ..targets import MANAGEMENT

DAYS_PER_MONTH = 365 / 12


@rule("AWS::CloudWatch::Alarm")
def alarm(r: Res) -> Iterator[Line]:
    metrics = r.props.get("Metrics")
    n = sum(1 for m in metrics if "MetricStat" in m) if metrics else 1
    yield r.line("CloudWatch", "alarm metrics", "cloudwatch.alarm.month", max(n, 1),
                 f"{max(n, 1)} metric(s) evaluated by the alarm", "")


@rule("AWS::CloudWatch::Dashboard")
def dashboard(r: Res) -> Iterator[Line]:
    yield r.line("CloudWatch", "dashboard", "cloudwatch.dashboard.month", 1, "1 dashboard-month", "")


@rule("AWS::Logs::MetricFilter")
def metric_filter(r: Res) -> Iterator[Line]:
    n = len(r.props.get("MetricTransformations") or []) or 1
    yield r.line("CloudWatch", "custom metrics from log filters", "cloudwatch.metric.month", n,
                 f"{n} custom metric(s)", "")


@rule("AWS::Logs::LogGroup")
def log_group(r: Res) -> Iterator[Line]:
    if (r.p.instance.stack, r.p.logical) in r.facts.trail_log_groups:
        events = r.usage("management_events_millions", environment=MANAGEMENT)
        kb = r.usage("cloudtrail_event_kb", environment=MANAGEMENT)
        accounts = len(r.cfg.accounts) + 1
        regions = len(r.cfg.organization.governed_regions)
        gb = events.value * 1_000_000 * accounts * regions * kb.value / 1_048_576
        why = f"{events.text} million x {accounts} accounts x {regions} regions x {kb.text} KB (organization trail)"
        setting = events.setting
    else:
        total = r.usage("log_gb_per_account")
        groups = (r.facts.count(r.account, "AWS::Logs::LogGroup") - r.facts.count(r.account, TRAIL_LOG_GROUP)) or 1
        gb = total.value / groups
        why = f"{total.text} GB over the account's {groups} log group(s)"
        setting = total.setting
    yield r.line("CloudWatch Logs", "ingestion", "cloudwatch.logs.ingest.gb", gb, why, setting)
    retention = r.props.get("RetentionInDays")
    horizon = r.est.assume.horizon
    months = horizon.value if not isinstance(retention, int) else min(horizon.value, retention / DAYS_PER_MONTH)
    ratio = r.usage("log_compression_ratio")
    yield r.line("CloudWatch Logs", "storage", "cloudwatch.logs.storage.gb", gb * months * ratio.value,
                 f"{number(round(gb, 3))} GB a month for {number(round(months, 1))} months ({horizon.text}, "
                 f"retention {retention} days) x {ratio.text} compressed", "baseline.log_retention_days")


@rule("AWS::Synthetics::Canary")
def canary(r: Res) -> Iterator[Line]:
    expression = str((r.props.get("Schedule") or {}).get("Expression", "rate(5 minutes)"))
    runs = runs_per_month(expression)
    if runs is None:
        yield r.line("CloudWatch", "Synthetics canary runs", "synthetics.canary_run", 0,
                     f"cannot read the schedule {expression!r}", "")
        return
    yield r.line("CloudWatch", "Synthetics canary runs", "synthetics.canary_run", runs,
                 f"schedule {expression}: {number(round(runs))} runs", "the canary's Schedule")
    ms = r.usage("synthetics_ms_per_run")
    memory = float((r.props.get("RunConfig") or {}).get("MemoryInMB", 1000))
    yield r.line("Lambda", f"canary run duration (x86_64, {memory:g} MB)", "lambda.duration.x86_64",
                 runs * ms.value / 1000 * memory / 1024, f"{number(round(runs))} runs x {ms.text} ms x {memory:g} MB",
                 ms.setting)


@rule("AWS::XRay::SamplingRule")
def sampling_rule(r: Res) -> Iterator[Line]:
    rule_ = r.props.get("SamplingRule") or {}
    if rule_.get("URLPath", "*") != "*":
        return  # a narrower rule samples a subset of what the catch-all rule already counts
    req = r.usage("api_requests_per_month")
    yield r.line("X-Ray", "traces recorded", "xray.traces_recorded", req.value,
                 f"{req.text}: with a reservoir of {rule_.get('ReservoirSize', 1)}/s nearly every request of a "
                 "low-traffic API is traced (upper bound)", req.setting)
