"""Cost stack: a monthly budget with alerts and Cost Anomaly Detection for the environment.

The workload account is dedicated to one environment, so the budget and the monitor cover
the whole account. The budget is `monthly_budget_usd` when org.yaml sets it; otherwise it
is the estimate of everything Charter deploys in the account (landing zone and workload,
`charter cost`) times `cost.budget_headroom`, which synth computes and passes in
`ctx.budget_usd`, so it follows the templates and the usage assumptions. Every resource of every optimizer stack also carries cost allocation
tags (`CostCenter`, `charter:component`, `charter:environment`, per-agent `charter:agent`);
they must be activated once in the management account's Billing console to appear in
Cost Explorer, and the anomaly monitor watches `CostCenter` (a customer-managed monitor:
the account's one AWS-managed services monitor may already exist, AWS creates it in new
accounts).
"""

from __future__ import annotations

import json

from troposphere import Output, Ref, Template
from troposphere.budgets import Budget as BudgetResource
from troposphere.budgets import (
    BudgetData,
    Notification,
    NotificationWithSubscribers,
    ResourceTag,
    Spend,
    Subscriber,
)
from troposphere.ce import AnomalyMonitor, AnomalySubscription
from troposphere.ce import ResourceTag as CeResourceTag
from troposphere.ce import Subscriber as CeSubscriber

from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder

from ._common import Ctx, new_template

#: The cost-allocation tag every optimizer resource carries (`Ctx.tags`), which the anomaly monitor watches.
COST_CENTER_TAG = "CostCenter"
#: (notification type, percent of the budget): warn early on actuals, and on the forecast.
BUDGET_ALERTS: tuple[tuple[str, float], ...] = (("ACTUAL", 80.0), ("ACTUAL", 100.0), ("FORECASTED", 100.0))


@builder("workload_cost", controls=["WKL-09"],
         description="Budget and cost anomaly monitoring of the optimizer account.")
def build(ctx: Ctx) -> Template:
    t = new_template(ctx, "cost (budget, anomaly detection)")
    s = ctx.settings
    emails = [str(e) for e in s.alert_emails]
    tags = ctx.tags("cost")
    amount = s.monthly_budget_usd if s.monthly_budget_usd is not None else ctx.budget_usd
    if amount is None:
        raise RuntimeError("the cost stack needs monthly_budget_usd or the estimate's budget (ctx.budget_usd)")
    t.add_resource(controls(BudgetResource(
        "MonthlyBudget",
        Budget=BudgetData(BudgetName=ctx.name("monthly"), BudgetType="COST", TimeUnit="MONTHLY",
                          BudgetLimit=Spend(Amount=float(amount), Unit="USD")),
        NotificationsWithSubscribers=[NotificationWithSubscribers(
            Notification=Notification(NotificationType=kind, ComparisonOperator="GREATER_THAN", Threshold=pct,
                                      ThresholdType="PERCENTAGE"),
            Subscribers=[Subscriber(SubscriptionType="EMAIL", Address=e) for e in emails])
            for kind, pct in BUDGET_ALERTS],
        ResourceTags=[ResourceTag(Key=k, Value=v) for k, v in tags.items()],
    ), "WKL-09"))
    # A customer-managed monitor over the workload's cost-allocation tag, not the DIMENSIONAL
    # SERVICE monitor: AWS allows one of those per account and creates it itself in new
    # accounts, so creating another fails the stack. An account may hold many CUSTOM monitors.
    monitor = t.add_resource(controls(AnomalyMonitor(
        "AnomalyMonitor", MonitorName=ctx.name("cost"), MonitorType="CUSTOM",
        MonitorSpecification=json.dumps({"Tags": {
            "Key": COST_CENTER_TAG, "Values": [tags[COST_CENTER_TAG]], "MatchOptions": ["EQUALS"]}}),
        ResourceTags=[CeResourceTag(Key=k, Value=v) for k, v in tags.items()]), "WKL-09"))
    t.add_resource(controls(AnomalySubscription(
        "AnomalySubscription", SubscriptionName=ctx.name("anomalies"), MonitorArnList=[Ref(monitor)],
        Frequency="DAILY", Subscribers=[CeSubscriber(Type="EMAIL", Address=e) for e in emails],
        ThresholdExpression=json.dumps({"Dimensions": {
            "Key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE", "MatchOptions": ["GREATER_THAN_OR_EQUAL"],
            "Values": [str(s.anomaly_threshold_usd)]}}),
        ResourceTags=[CeResourceTag(Key=k, Value=v) for k, v in tags.items()]), "WKL-09"))
    t.add_output(Output("AnomalyMonitorArn", Value=Ref(monitor)))
    return t
