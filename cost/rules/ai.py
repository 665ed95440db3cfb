"""The optimizer's ML and AI: the SageMaker pipeline per optimization, Bedrock agents, guardrail and
knowledge base per optimization, and the OpenSearch Serverless collection behind the knowledge base.

One optimization = one pipeline execution and the agent calls around it. `per_optimization`
prices one (quantities from the pipeline definition in the template and the
`cost.optimization` assumptions); the monthly rules multiply it by
`optimizations_per_month`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from ..assumptions import number
from ..cfn import UNKNOWN
from ..engine import HOURS_PER_MONTH, SECONDS_PER_MONTH, Res, rule
from ..lines import Line

SPOT = "cost.optimization.spot_savings"
_REGION_PREFIX = re.compile(r"^(us|eu|apac|us-gov)\.")


# -- the SageMaker pipeline -------------------------------------------------------------------
def pipeline_body(props: dict[str, Any]) -> dict[str, Any] | None:
    body = (props.get("PipelineDefinition") or {}).get("PipelineDefinitionBody")
    if isinstance(body, dict) and "Fn::Sub" in body:
        body = body["Fn::Sub"][0] if isinstance(body["Fn::Sub"], list) else body["Fn::Sub"]
    if not isinstance(body, str):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _value(value: Any, defaults: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "Get" in value and str(value["Get"]).startswith("Parameters."):
        return defaults.get(value["Get"].split(".", 1)[1])
    return value


def _trials_at(r: Res, rung: int) -> tuple[int, str]:
    trials, eta = r.est.assume.optimization("trials"), r.est.assume.optimization("halving_eta")
    n = math.ceil(trials.value / eta.value ** rung)
    return n, (trials.text if rung == 0 else f"ceil({trials.text} / {eta.text}^{rung})")


def sagemaker_steps(r: Res, times: float) -> Iterator[Line]:
    definition = pipeline_body(r.props)
    if definition is None:
        yield r.line("SageMaker", "pipeline definition not readable", "sagemaker.unknown", 1,
                     "PipelineDefinitionBody is not inline JSON", "")
        return
    a = r.est.assume
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])}
    startup, step_s, trial_s = a.optimization("startup_seconds"), a.optimization("step_seconds"), a.optimization("trial_seconds")
    rungs = int(a.optimization("rungs").value)
    distributed = [s for s in definition.get("Steps", []) if s.get("Type") == "Training"]
    for step in definition.get("Steps", []):
        args = step.get("Arguments", {})
        name = step.get("Name", "?")
        if step.get("Type") == "Processing":
            cluster = args.get("ProcessingResources", {}).get("ClusterConfig", {})
            kind, itype = "processing", _value(cluster.get("InstanceType"), defaults)
            count = int(_value(cluster.get("InstanceCount", 1), defaults) or 1)
            volume = float(cluster.get("VolumeSizeInGB", 0))
            cargs = [str(x) for x in args.get("AppSpecification", {}).get("ContainerArguments", [])]
            if cargs and cargs[0] == "aggregate" and "--final" in cargs:
                workers = int(cargs[cargs.index("--workers") + 1]) if "--workers" in cargs else 1
                later = [_trials_at(r, k) for k in range(len(distributed), rungs)]
                n = sum(t for t, _ in later)
                work = math.ceil(n / workers) * trial_s.value
                why = (f"{startup.text} s + {n} trials of the later rungs ({', '.join(w for _, w in later) or 'none'}) "
                       f"x {trial_s.text} s / {workers} workers")
            else:
                work = step_s.value
                why = f"{startup.text} s + {step_s.text} s"
            spot = False
        elif step.get("Type") == "Training":
            res = args.get("ResourceConfig", {})
            kind, itype = "training", _value(res.get("InstanceType"), defaults)
            count = int(_value(res.get("InstanceCount", 1), defaults) or 1)
            volume = float(res.get("VolumeSizeInGB", 0))
            hp = args.get("HyperParameters", {})
            rung, workers = int(hp.get("rung", 0)), int(hp.get("workers", 1))
            trials, twhy = _trials_at(r, rung)
            work = math.ceil(trials / (count * workers)) * trial_s.value
            why = f"{startup.text} s + ceil({twhy} trials / ({count} hosts x {workers} workers)) x {trial_s.text} s"
            spot = bool(args.get("EnableManagedSpotTraining"))
        else:
            continue
        seconds = startup.value + work
        hours = count * seconds / 3600 * times
        each = "" if times == 1 else f" x {number(times)} optimizations"
        settings = f"workloads.optimizer.environments.{r.environment}"
        yield r.line("SageMaker", f"{name}: {kind} on {count} x {itype}", f"sagemaker.{kind}.{itype}", hours,
                     f"{count} instance(s) x ({why}){each}", f"{settings}.processing_max_instances"
                     if kind == "training" else f"{settings}.processing_instance_type")
        if spot:
            saving = a.optimization("spot_savings")
            yield r.line("SageMaker", f"{name}: managed spot saving", f"sagemaker.{kind}.{itype}", -hours * saving.value,
                         f"{saving.text} of the on-demand hours above", SPOT)
        if volume:
            yield r.line("SageMaker", f"{name}: ML storage", "sagemaker.volume.gb",
                         count * volume * seconds / SECONDS_PER_MONTH * times,
                         f"{count} x {volume:g} GB for {number(round(seconds))} s{each}", "")


# -- Bedrock ----------------------------------------------------------------------------------
def model_key(model: str) -> str:
    return _REGION_PREFIX.sub("", model)


def agent_calls(r: Res, times: float) -> Iterator[Line]:
    tags = r.props.get("Tags") or {}
    agent = str(tags.get("charter:agent", r.p.logical))
    model = r.resolve(r.props.get("FoundationModel"))
    calls = r.est.assume.agent_calls(agent)
    a = r.est.assume
    tin, tout = a.optimization("input_tokens_per_call"), a.optimization("output_tokens_per_call")
    each = "" if times == 1 else f" x {number(times)} optimizations"
    key = "bedrock.unknown-model" if model is UNKNOWN else f"bedrock.{model_key(str(model))}"
    yield r.line("Bedrock", f"{agent}: input tokens ({model})", f"{key}.input", calls.value * tin.value * times,
                 f"{calls.text} calls x {tin.text} tokens{each}", calls.setting)
    yield r.line("Bedrock", f"{agent}: output tokens ({model})", f"{key}.output", calls.value * tout.value * times,
                 f"{calls.text} calls x {tout.text} tokens{each}", calls.setting)


def _calls(r: Res, which: str) -> tuple[float, str]:
    agents = r.facts.agents.get((r.account, r.region), [])
    chosen = [ag for ag in agents if getattr(ag, which)]
    total = sum(r.est.assume.agent_calls(ag.name).value for ag in chosen)
    return total, " + ".join(f"{number(r.est.assume.agent_calls(ag.name).value)} ({ag.name})" for ag in chosen)


def guardrail(r: Res, times: float) -> Iterator[Line]:
    calls, why = _calls(r, "guardrailed")
    a = r.est.assume
    chars = (a.optimization("input_tokens_per_call").value + a.optimization("output_tokens_per_call").value) \
        * a.optimization("characters_per_token").value
    units = math.ceil(chars / 1000)
    each = "" if times == 1 else f" x {number(times)} optimizations"
    policies = (("ContentPolicyConfig", "content filters", "content_filter"),
                ("TopicPolicyConfig", "denied topics", "denied_topics"),
                ("SensitiveInformationPolicyConfig", "sensitive information filter", "sensitive_information"))
    for prop, label, key in policies:
        if prop in r.props:
            yield r.line("Bedrock", f"guardrail {label}", f"bedrock.guardrail.{key}", calls * units * times,
                         f"{number(calls)} calls ({why}) x {units} text units (input + output tokens x "
                         f"cost.optimization.characters_per_token / 1,000){each}", "cost.optimization.agent_calls")


def knowledge_base(r: Res, times: float) -> Iterator[Line]:
    calls, why = _calls(r, "knowledge_base")
    arn = (((r.props.get("KnowledgeBaseConfiguration") or {}).get("VectorKnowledgeBaseConfiguration") or {})
           .get("EmbeddingModelArn"))
    model: Any = UNKNOWN
    if isinstance(arn, dict) and "Fn::Sub" in arn and isinstance(arn["Fn::Sub"], list):
        model = r.resolve(arn["Fn::Sub"][1].get("Model"))
    key = "bedrock.unknown-model" if model is UNKNOWN else f"bedrock.{model_key(str(model))}"
    tokens = r.est.assume.optimization("retrieval_tokens_per_call")
    each = "" if times == 1 else f" x {number(times)} optimizations"
    yield r.line("Bedrock", f"knowledge base query embeddings ({model})", f"{key}.input", calls * tokens.value * times,
                 f"{number(calls)} calls ({why}) x {tokens.text} tokens{each}", tokens.setting)


def _monthly(r: Res) -> tuple[float, str]:
    opt = r.usage("optimizations_per_month")
    return opt.value, opt.text


@rule("AWS::SageMaker::Pipeline")
def pipeline(r: Res) -> Iterator[Line]:
    yield from sagemaker_steps(r, _monthly(r)[0])


@rule("AWS::Bedrock::Agent")
def agent(r: Res) -> Iterator[Line]:
    yield from agent_calls(r, _monthly(r)[0])


@rule("AWS::Bedrock::Guardrail")
def guardrail_rule(r: Res) -> Iterator[Line]:
    yield from guardrail(r, _monthly(r)[0])


@rule("AWS::Bedrock::KnowledgeBase")
def knowledge_base_rule(r: Res) -> Iterator[Line]:
    yield from knowledge_base(r, _monthly(r)[0])


#: The rules of one optimization, by resource type (times = 1).
PER_OPTIMIZATION = {"AWS::SageMaker::Pipeline": sagemaker_steps, "AWS::Bedrock::Agent": agent_calls,
                    "AWS::Bedrock::Guardrail": guardrail, "AWS::Bedrock::KnowledgeBase": knowledge_base}


@rule("AWS::OpenSearchServerless::Collection")
def collection(r: Res) -> Iterator[Line]:
    """OpenSearch Serverless bills at least 0.5 OCU for indexing and 0.5 for search; standby
    replicas double both (one copy per AZ)."""
    standby = r.props.get("StandbyReplicas", "ENABLED") == "ENABLED"
    ocu = 1.0 if standby else 0.5
    why = f"{ocu:g} OCU minimum ({'standby replicas enabled' if standby else 'standby replicas disabled'}) x 730 h"
    setting = "the bedrock stack's StandbyReplicas (ENABLED only in prod)"
    yield r.line("OpenSearch Serverless", "indexing OCU hours", "aoss.indexing_ocu.hours", ocu * HOURS_PER_MONTH, why,
                 setting)
    yield r.line("OpenSearch Serverless", "search OCU hours", "aoss.search_ocu.hours", ocu * HOURS_PER_MONTH, why,
                 setting)
