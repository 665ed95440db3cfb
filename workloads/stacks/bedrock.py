"""Bedrock stack: three agents, their action groups, a knowledge base and a guardrail.

- portfolio strategy (Claude Sonnet): designs and evaluates allocation strategies;
- market analysis (Claude Sonnet): reads market data and the research knowledge base;
- risk assessment (Claude Haiku, real time): portfolio risk answers at interactive latency.

Action groups are OpenAPI 3 schemas executed by the `agents` Lambda alias. The knowledge
base is a vector index on OpenSearch Serverless, with the collection's encryption (the
environment key), network and data-access policies. CloudFormation creates the index by
calling the collection endpoint as the deployer (the identity that called CreateStack),
from outside any VPC: the network policy opens the endpoint (never the dashboards) and the
data access policy admits exactly two principals, the deployer (index management only) and
the knowledge base's role (the documents).
The guardrail filters every agent's input and output. Model ids are stack parameters
(defaults from `workloads.optimizer.models`), and each agent carries its own cost tag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from awacs import bedrock as br
from awacs import s3 as s3_actions
from awacs.aws import Action
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template
from troposphere.awslambda import Permission as LambdaPermission
from troposphere.bedrock import (
    ActionGroupExecutor,
    Agent,
    AgentActionGroup,
    AgentAlias,
    AgentKnowledgeBase,
    APISchema,
    ContentFilterConfig,
    ContentPolicyConfig,
    DataSource,
    DataSourceConfiguration,
    Guardrail,
    GuardrailConfiguration,
    GuardrailVersion,
    KnowledgeBase,
    KnowledgeBaseConfiguration,
    OpenSearchServerlessConfiguration,
    OpenSearchServerlessFieldMapping,
    PiiEntityConfig,
    S3DataSourceConfiguration,
    SensitiveInformationPolicyConfig,
    ServerSideEncryptionConfiguration,
    StorageConfiguration,
    TopicConfig,
    TopicPolicyConfig,
    VectorKnowledgeBaseConfiguration,
)
from troposphere.opensearchserverless import (
    AccessPolicy,
    Collection,
    Index,
    IndexProperty,
    IndexSettings,
    Mappings,
    PropertyMapping,
    SecurityPolicy,
)
from troposphere.opensearchserverless import Method as KnnMethod
from troposphere.opensearchserverless import Parameters as KnnParameters

from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder

from ._common import Ctx, allow, key_parameter, key_use, new_template, service_role

VECTOR_INDEX = "optimizer-research"
EMBEDDING_DIMENSIONS = 1024  # Titan Text Embeddings v2 default
KNOWLEDGE_PREFIX = "knowledge/"


def openapi(title: str, ops: list[str]) -> str:
    """An action group's OpenAPI 3.0 schema, generated from the `agents` handler's models."""
    from charter.workloads.handlers.openapi import action_group_document

    return json.dumps(action_group_document(ops, title=title), separators=(",", ":"))


@dataclass(frozen=True)
class AgentSpec:
    short: str
    model: str  # analysis | realtime
    instruction: str
    groups: dict[str, list[str]]
    knowledge_base: bool = False


AGENTS: tuple[AgentSpec, ...] = (
    AgentSpec("portfolio-strategy", "analysis",
              "You are the portfolio strategy agent of a dynamic asset allocation optimizer. Propose allocation "
              "strategies within the user's constraints, evaluate each with the evaluateStrategy action before "
              "recommending it, start a hyperparameter search when results are unstable, and explain trade-offs "
              "in plain language. Never promise returns; always state the risk measures you relied on.",
              {"strategy": ["get_market_data", "evaluate_strategy", "run_hyperparameter_search"]},
              knowledge_base=True),
    AgentSpec("market-analysis", "analysis",
              "You are the market analysis agent. Summarize market regimes, correlations and volatility for the "
              "assets asked about, using getMarketData for figures and the research knowledge base for context. "
              "Cite the data window you used and say when data is missing or stale.",
              {"market": ["get_market_data"]}, knowledge_base=True),
    AgentSpec("risk-assessment", "realtime",
              "You are the real-time risk assessment agent. For a given portfolio, call portfolioRisk and report "
              "volatility, value at risk and conditional value at risk at the requested confidence, flag "
              "concentration above 25 percent in any asset, and answer briefly.",
              {"risk": ["portfolio_risk", "get_market_data"]}),
)


def _name32(ctx: Ctx, suffix: str) -> str:
    """OpenSearch Serverless names: lowercase, 3-32 characters."""
    return f"{ctx.cfg.organization.name}-{ctx.env}-{suffix}"[:32].rstrip("-")


@builder("workload_bedrock", controls=["WKL-03", "WKL-11", "WKL-12", "WKL-13"],
         description="Bedrock agents, their action groups, a knowledge base and a guardrail.")
def build(ctx: Ctx) -> Template:
    t = new_template(ctx, "AI agents (Bedrock, OpenSearch Serverless)")
    key = key_parameter(t, ctx)
    deployer = t.add_parameter(Parameter(
        "DeployerArn", Type="String", AllowedPattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$",
        Description="The IAM role or user that calls CloudFormation for this stack: CloudFormation creates the "
                    "vector index as that principal (filled by deploy from STS GetCallerIdentity)."))
    models = ctx.workload.models
    model_params = {
        "analysis": t.add_parameter(Parameter("AnalysisModelId", Type="String", Default=models.analysis,
                                              Description="Claude Sonnet model id for strategy and market analysis.")),
        "realtime": t.add_parameter(Parameter("RealtimeModelId", Type="String", Default=models.realtime,
                                              Description="Claude Haiku model id for real-time risk assessment.")),
        "embedding": t.add_parameter(Parameter("EmbeddingModelId", Type="String", Default=models.embedding,
                                               Description="Embedding model of the knowledge base.")),
    }

    def model_arn(kind: str) -> Sub:
        return Sub("arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${Model}", Model=Ref(model_params[kind]))

    # -- guardrail on every agent's input and output -------------------------------------------
    filters = [ContentFilterConfig(Type=k, InputStrength="HIGH", OutputStrength="HIGH")
               for k in ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")]
    filters.append(ContentFilterConfig(Type="PROMPT_ATTACK", InputStrength="HIGH", OutputStrength="NONE"))
    guardrail = t.add_resource(controls(Guardrail(
        "AgentGuardrail", Name=ctx.name("guardrail"), KmsKeyArn=key,
        Description="Filters harmful content, guaranteed-return claims and personal data in agent output",
        BlockedInputMessaging="This request cannot be processed by the optimizer assistants.",
        BlockedOutputsMessaging="The answer was withheld by the optimizer's output policy.",
        ContentPolicyConfig=ContentPolicyConfig(FiltersConfig=filters),
        TopicPolicyConfig=TopicPolicyConfig(TopicsConfig=[TopicConfig(
            Name="GuaranteedReturns", Type="DENY",
            Definition="Promises or guarantees of investment returns or of the absence of losses.",
            Examples=["This portfolio is guaranteed to return 12% a year.", "You cannot lose money with this."])]),
        SensitiveInformationPolicyConfig=SensitiveInformationPolicyConfig(PiiEntitiesConfig=[
            PiiEntityConfig(Type=k, Action="BLOCK") for k in
            ("US_SOCIAL_SECURITY_NUMBER", "CREDIT_DEBIT_CARD_NUMBER", "US_BANK_ACCOUNT_NUMBER", "PASSWORD")]
            + [PiiEntityConfig(Type="EMAIL", Action="ANONYMIZE")]),
    ), "WKL-12", "WKL-03"))
    guardrail_version = t.add_resource(controls(GuardrailVersion(
        "AgentGuardrailVersion", GuardrailIdentifier=GetAtt(guardrail, "GuardrailId"),
        Description="Version the agents use"), "WKL-12"))

    # -- knowledge base on OpenSearch Serverless ------------------------------------------------
    collection_name = _name32(ctx, "research")
    enc = t.add_resource(controls(SecurityPolicy(
        "CollectionEncryptionPolicy", Name=_name32(ctx, "research-enc"), Type="encryption",
        Description="Encrypt the research collection with the environment key",
        Policy=Sub(json.dumps({"Rules": [{"ResourceType": "collection", "Resource": [f"collection/{collection_name}"]}],
                               "AWSOwnedKey": False, "KmsARN": "${KeyArn}"}), KeyArn=key)), "WKL-03"))
    # CloudFormation's Index handler calls the collection endpoint from outside any VPC (as the
    # deployer), and a network policy can name no other AWS service than Bedrock: the endpoint
    # must take requests from outside. Every request is still SigV4-signed and judged by the
    # data access policy below, which names two principals; the dashboards stay closed.
    net = t.add_resource(controls(SecurityPolicy(
        "CollectionNetworkPolicy", Name=_name32(ctx, "research-net"), Type="network",
        Description="The collection endpoint (not the dashboards) for CloudFormation and Bedrock; access by IAM only",
        Policy=json.dumps([{"Rules": [{"ResourceType": "collection", "Resource": [f"collection/{collection_name}"]}],
                            "AllowFromPublic": True}])), "WKL-13"))
    kb_role = service_role(t, "KnowledgeBaseRole", "bedrock.amazonaws.com", [
        allow([br.InvokeModel], [model_arn("embedding")]),
        allow([Action("aoss", "APIAccessAll")],
              [Sub("arn:${AWS::Partition}:aoss:${AWS::Region}:${AWS::AccountId}:collection/*")]),
        allow([s3_actions.GetObject, s3_actions.ListBucket],
              [ctx.bucket_arn("models"), Sub("arn:${AWS::Partition}:s3:::" + ctx.bucket("models") + "/"
                                             + KNOWLEDGE_PREFIX + "*")]),
        key_use(key),
    ], "WKL-11")
    collection_rule = {"ResourceType": "collection", "Resource": [f"collection/{collection_name}"],
                       "Permission": ["aoss:DescribeCollectionItems"]}
    index_resource = [f"index/{collection_name}/*"]
    access = t.add_resource(controls(AccessPolicy(
        "CollectionDataAccessPolicy", Name=_name32(ctx, "research-access"), Type="data",
        Description="The deployer manages the vector index; the knowledge base reads and writes its documents",
        Policy=Sub(json.dumps([
            {"Rules": [collection_rule, {"ResourceType": "index", "Resource": index_resource, "Permission": [
                "aoss:CreateIndex", "aoss:DescribeIndex", "aoss:UpdateIndex", "aoss:DeleteIndex"]}],
             "Principal": ["${Deployer}"], "Description": "CloudFormation's index handler, as the deployer"},
            {"Rules": [collection_rule, {"ResourceType": "index", "Resource": index_resource, "Permission": [
                "aoss:DescribeIndex", "aoss:ReadDocument", "aoss:WriteDocument"]}],
             "Principal": ["${KbRole}"], "Description": "The knowledge base (Bedrock)"},
        ]), KbRole=GetAtt(kb_role, "Arn"), Deployer=Ref(deployer)),
    ), "WKL-11"))
    collection = t.add_resource(controls(Collection(
        "ResearchCollection", Name=collection_name, Type="VECTORSEARCH", StandbyReplicas=(
            "ENABLED" if ctx.env == "prod" else "DISABLED"),
        Description="Research corpus of the optimizer agents", DependsOn=[enc.title, net.title, access.title]),
        "WKL-03", "WKL-12"))
    index = t.add_resource(controls(Index(
        "ResearchIndex", CollectionEndpoint=GetAtt(collection, "CollectionEndpoint"), IndexName=VECTOR_INDEX,
        Settings=IndexSettings(Index=IndexProperty(Knn=True)),
        Mappings=Mappings(Properties={
            "embedding": PropertyMapping(Type="knn_vector", Dimension=EMBEDDING_DIMENSIONS, Method=KnnMethod(
                Name="hnsw", Engine="faiss", SpaceType="l2", Parameters=KnnParameters(EfConstruction=512, M=16))),
            "text": PropertyMapping(Type="text", Index=True),
            "metadata": PropertyMapping(Type="text", Index=False)}),
    ), "WKL-12"))
    kb = t.add_resource(controls(KnowledgeBase(
        "ResearchKnowledgeBase", Name=ctx.name("research"), RoleArn=GetAtt(kb_role, "Arn"),
        Description="Market research and strategy notes for the agents",
        KnowledgeBaseConfiguration=KnowledgeBaseConfiguration(
            Type="VECTOR", VectorKnowledgeBaseConfiguration=VectorKnowledgeBaseConfiguration(
                EmbeddingModelArn=model_arn("embedding"))),
        StorageConfiguration=StorageConfiguration(
            Type="OPENSEARCH_SERVERLESS", OpensearchServerlessConfiguration=OpenSearchServerlessConfiguration(
                CollectionArn=GetAtt(collection, "Arn"), VectorIndexName=VECTOR_INDEX,
                FieldMapping=OpenSearchServerlessFieldMapping(
                    VectorField="embedding", TextField="text", MetadataField="metadata"))),
        DependsOn=[index.title]), "WKL-12", "WKL-03"))
    t.add_resource(controls(DataSource(
        "ResearchDataSource", Name=ctx.name("research-s3"), KnowledgeBaseId=Ref(kb),
        DataSourceConfiguration=DataSourceConfiguration(Type="S3", S3Configuration=S3DataSourceConfiguration(
            BucketArn=ctx.bucket_arn("models"), InclusionPrefixes=[KNOWLEDGE_PREFIX])),
        ServerSideEncryptionConfiguration=ServerSideEncryptionConfiguration(KmsKeyArn=key)),
        "WKL-12", "WKL-03"))

    # -- agents ---------------------------------------------------------------------------------
    executor = ctx.function_arn("agents", ctx.alias)
    for spec in AGENTS:
        lid = "".join(w.capitalize() for w in spec.short.split("-"))
        model_ids = [model_arn(spec.model), Sub(
            "arn:${AWS::Partition}:bedrock:*:${AWS::AccountId}:inference-profile/${Model}",
            Model=Ref(model_params[spec.model]))]
        statements = [
            allow([br.InvokeModel, br.InvokeModelWithResponseStream], model_ids),
            allow([br.ApplyGuardrail, br.GetGuardrail], [GetAtt(guardrail, "GuardrailArn")]),
            key_use(key),
        ]
        if spec.knowledge_base:
            statements.append(allow([br.Retrieve], [GetAtt(kb, "KnowledgeBaseArn")]))
        role = service_role(t, f"{lid}AgentRole", "bedrock.amazonaws.com", statements, "WKL-11")
        groups = [AgentActionGroup(
            ActionGroupName=name, ActionGroupState="ENABLED", Description=f"{name} actions",
            ActionGroupExecutor=ActionGroupExecutor(Lambda=executor),
            ApiSchema=APISchema(Payload=openapi(f"{spec.short} {name}", ops))) for name, ops in spec.groups.items()]
        props: dict[str, Any] = dict(
            AgentName=ctx.name(spec.short), AgentResourceRoleArn=GetAtt(role, "Arn"),
            FoundationModel=Ref(model_params[spec.model]), Instruction=spec.instruction,
            Description=f"{spec.short} agent ({spec.model} model)", IdleSessionTTLInSeconds=600,
            CustomerEncryptionKeyArn=key, AutoPrepare=True, ActionGroups=groups,
            GuardrailConfiguration=GuardrailConfiguration(
                GuardrailIdentifier=GetAtt(guardrail, "GuardrailId"),
                GuardrailVersion=GetAtt(guardrail_version, "Version")),
            Tags={"charter:agent": spec.short, "CostCenter": f"optimizer-{ctx.env}-agent-{spec.short}"},
        )
        if spec.knowledge_base:
            props["KnowledgeBases"] = [AgentKnowledgeBase(
                KnowledgeBaseId=Ref(kb), KnowledgeBaseState="ENABLED",
                Description="Market research and strategy notes; use for context, not for prices.")]
        agent = t.add_resource(controls(Agent(f"{lid}Agent", **props), "WKL-12", "WKL-03"))
        t.add_resource(controls(AgentAlias(
            f"{lid}AgentAlias", AgentId=GetAtt(agent, "AgentId"), AgentAliasName=ctx.alias,
            Description=f"{ctx.env} alias of the {spec.short} agent",
            Tags={"charter:agent": spec.short, "CostCenter": f"optimizer-{ctx.env}-agent-{spec.short}"}), "WKL-12"))
        t.add_resource(controls(LambdaPermission(
            f"{lid}InvokeActions", Action="lambda:InvokeFunction", Principal="bedrock.amazonaws.com",
            FunctionName=executor, SourceArn=GetAtt(agent, "AgentArn"),
            SourceAccount=Ref("AWS::AccountId")), "WKL-11"))
        t.add_output(Output(f"{lid}AgentId", Value=GetAtt(agent, "AgentId")))
    return t
