"""The spec's figures, read back from the synthesized templates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.landing_zone.config import load_config
from charter.workloads.synth import synthesize_workloads

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


@pytest.fixture(scope="module")
def wl_cfg():
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def prod(wl_cfg):
    return {s.name.removeprefix("optimizer-prod-"): s.data for s in synthesize_workloads(wl_cfg, "prod")}


@pytest.fixture(scope="module")
def dev(wl_cfg):
    return {s.name.removeprefix("optimizer-dev-"): s.data for s in synthesize_workloads(wl_cfg, "dev")}


def of_type(data, kind):
    return {k: r for k, r in data["Resources"].items() if r["Type"] == kind}


def props(data, logical):
    return data["Resources"][logical]["Properties"]


# -- compute --------------------------------------------------------------------------------

def test_workloads_lambda_sizes_and_timeouts(prod):
    c = prod["compute"]
    expected = {  # logical id: (memory MB, timeout s)
        "SubmitFunction": (512, 30), "StatusFunction": (256, 10), "ResultsFunction": (1024, 30),
        "RiskFunction": (3008, 900), "AgentsFunction": (2048, 900), "AggregatorFunction": (4096, 900),
    }
    for lid, (memory, timeout) in expected.items():
        p = props(c, lid)
        assert (p["MemorySize"], p["Timeout"]) == (memory, timeout), lid
    risk = props(c, "RiskFunction")
    assert risk["PackageType"] == "Image" and risk["EphemeralStorage"] == {"Size": 10240}
    assert props(c, "AggregatorFunction")["ReservedConcurrentExecutions"] == 10
    assert props(c, "SubmitFunction")["Runtime"] == "python3.12"
    assert props(c, "SubmitFunction")["Handler"] == "charter.workloads.handlers.api.submit"
    assert "VpcConfig" in props(c, "SubmitFunction")


def test_workloads_every_function_traced_with_dlq_and_alias(prod):
    c = prod["compute"]
    functions = of_type(c, "AWS::Lambda::Function")
    assert len(functions) == 16
    handlers = {p["Properties"].get("Handler") or p["Properties"]["ImageConfig"]["Command"][0] for p in functions.values()}
    assert handlers == {f"charter.workloads.handlers.{h}" for h in (
        "api.submit", "api.jobs", "api.status", "api.results", "compliance.handler", "risk.handler", "agents.handler",
        "aggregator.handler",
        "ingest.handler", "cleanup.handler", "jobstatus.handler", "ws_authorizer.handler", "api_authorizer.handler",
        "websocket.connect", "websocket.disconnect", "websocket.default")}
    for lid, res in functions.items():
        p = res["Properties"]
        assert p["TracingConfig"] == {"Mode": "Active"}, lid
        assert "DeadLetterConfig" in p, lid
        assert p["KmsKeyArn"] == {"Fn::ImportValue": "charter-kms-key-arn"}, lid
    arm = [lid for lid, r in functions.items() if r["Properties"]["Architectures"] == ["arm64"]]
    assert len(arm) == 15  # all but the container image
    aliases = of_type(c, "AWS::Lambda::Alias")
    assert len(aliases) == 16 and all(a["Properties"]["Name"] == "prod" for a in aliases.values())
    assert all("CodeDeployLambdaAliasUpdate" in a["UpdatePolicy"] for a in aliases.values())
    groups = of_type(c, "AWS::CodeDeploy::DeploymentGroup")
    assert {g["Properties"]["DeploymentConfigName"] for g in groups.values()} == {
        "CodeDeployDefault.LambdaCanary10Percent5Minutes"}
    assert props(c, "AgentsAsyncConfig")["MaximumRetryAttempts"] == 2


def test_workloads_provisioned_concurrency_only_on_prod_api(prod, dev):
    def provisioned(stacks):
        return {lid for lid, a in of_type(stacks["compute"], "AWS::Lambda::Alias").items()
                if "ProvisionedConcurrencyConfig" in a["Properties"]}
    assert provisioned(prod) == {"SubmitAlias", "JobsAlias", "StatusAlias", "ResultsAlias", "ComplianceAlias",
                                 "ApiAuthorizerAlias", "WsAuthorizerAlias", "WsConnectAlias", "WsDisconnectAlias", "WsDefaultAlias"}
    assert provisioned(dev) == set()


def test_workloads_schedules_and_triggers(prod):
    c = prod["compute"]
    assert props(c, "DailyCleanup")["ScheduleExpression"] == "cron(0 3 * * ? *)"
    pattern = props(c, "IngestOnNewMarketData")["EventPattern"]
    assert pattern["detail-type"] == ["Object Created"]
    bucket = props(prod["data"], "MarketDataBucket")
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


# -- data -----------------------------------------------------------------------------------

def test_workloads_tables(prod):
    d = prod["data"]
    tables = of_type(d, "AWS::DynamoDB::Table")
    assert len(tables) == 5  # jobs, strategies, cache, connections, api-keys
    for lid, t in tables.items():
        p = t["Properties"]
        assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, lid
        assert p["SSESpecification"]["SSEType"] == "KMS", lid
        assert "BCK-03" in t["Metadata"]["Charter"]["Controls"]
    jobs = props(d, "JobsTable")
    assert jobs["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"},
                                 {"AttributeName": "timestamp", "KeyType": "RANGE"}]
    assert jobs["GlobalSecondaryIndexes"][0]["KeySchema"][0] == {"AttributeName": "user_id", "KeyType": "HASH"}
    targets = of_type(d, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert len(targets) == 4  # table and GSI, read and write
    assert {(t["Properties"]["MinCapacity"], t["Properties"]["MaxCapacity"]) for t in targets.values()} == {(1, 100)}
    cache = props(d, "CacheTable")
    assert cache["BillingMode"] == "PAY_PER_REQUEST"
    assert cache["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props(d, "StrategiesTable")["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    pipe = props(d, "StrategyAuditPipe")
    assert pipe["Source"] == {"Fn::GetAtt": ["StrategiesTable", "StreamArn"]}


def test_workloads_buckets(prod, wl_cfg):
    d = prod["data"]
    market = props(d, "MarketDataBucket")
    assert market["VersioningConfiguration"] == {"Status": "Enabled"}
    glacier = [r for r in market["LifecycleConfiguration"]["Rules"] if r["Id"] == "MarketDataToGlacier"][0]
    assert glacier["Transitions"][0]["StorageClass"] == "GLACIER"
    sse = market["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::ImportValue": "charter-kms-key-arn"}}
    results = props(d, "ResultsBucket")
    assert results["CorsConfiguration"]["CorsRules"][0]["AllowedOrigins"] == ["https://optimizer.acme-corp.example"]
    assert any(t["StorageClass"] == "INTELLIGENT_TIERING" for r in results["LifecycleConfiguration"]["Rules"]
               for t in r.get("Transitions", []))
    replication = props(d, "ModelArtifactsBucket")["ReplicationConfiguration"]["Rules"][0]
    assert "us-west-2" in json.dumps(replication["Destination"])
    assert "alias/acme-prod" in json.dumps(replication["Destination"]["EncryptionConfiguration"])


def test_model_replication_time_control_follows_the_environment_rpo(prod, dev, wl_cfg):
    """Prod's RPO of 5 minutes needs S3 Replication Time Control (15-minute SLA); dev's 24 h does
    not. RTC needs a filter rule, which must replicate delete markers as the prefix rule did."""
    assert wl_cfg.baseline.backup.rpo_minutes("prod") <= 15 < wl_cfg.baseline.backup.rpo_minutes("dev")
    [rule] = props(prod["data"], "ModelArtifactsBucket")["ReplicationConfiguration"]["Rules"]
    assert rule["Destination"]["ReplicationTime"] == {"Status": "Enabled", "Time": {"Minutes": 15}}
    assert rule["Destination"]["Metrics"] == {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}
    assert rule["Filter"] == {"Prefix": ""} and "Prefix" not in rule and rule["Priority"] == 1
    assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
    [rule] = props(dev["data"], "ModelArtifactsBucket")["ReplicationConfiguration"]["Rules"]
    assert "ReplicationTime" not in rule["Destination"] and "Metrics" not in rule["Destination"]


# -- ML -------------------------------------------------------------------------------------

def test_workloads_pipeline_processing_and_spot_search(prod):
    s = prod["sagemaker"]
    body = props(s, "OptimizationPipeline")["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"][0]
    definition = json.loads(body)
    steps = {st["Name"]: st for st in definition["Steps"]}
    # the five steps, in order, each depending on the one before
    assert list(steps) == ["DataValidation", "ScenarioGeneration", "DistributedOptimization",
                           "ResultsAggregation", "AgentSynthesis"]
    names = list(steps)
    assert all(steps[b]["DependsOn"] == [a] for a, b in zip(names, names[1:], strict=False))
    params = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    assert params["ProcessingInstanceType"] == "ml.c5.4xlarge"
    assert params["OptimizationInstanceCount"] == 20
    training = steps["DistributedOptimization"]["Arguments"]
    assert training["ResourceConfig"]["InstanceCount"] == {"Get": "Parameters.OptimizationInstanceCount"}
    assert training["EnableManagedSpotTraining"] is True
    stop = training["StoppingCondition"]
    assert stop["MaxWaitTimeInSeconds"] > stop["MaxRuntimeInSeconds"]
    assert training["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    repos = of_type(s, "AWS::ECR::Repository")
    assert all(r["Properties"]["ImageTagMutability"] == "IMMUTABLE" and
               r["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True} for r in repos.values())
    assert of_type(s, "AWS::SageMaker::ModelPackageGroup")
    target = props(s, "RunPipelineOnNewMarketData")["Targets"][0]
    assert "SageMakerPipelineParameters" in target


def test_workloads_pipeline_definition_is_an_input(wl_cfg):
    from charter.workloads.stacks import sagemaker
    from charter.workloads.stacks._common import Ctx

    custom = {"Version": "2020-12-01", "Parameters": [], "Steps": [{"Name": "Only", "Type": "Processing"}]}
    t = sagemaker.build(Ctx(wl_cfg, "dev"), definition=custom).to_dict()
    body = t["Resources"]["OptimizationPipeline"]["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
    assert json.loads(body["Fn::Sub"][0]) == custom


def test_workloads_bedrock_agents(prod):
    b = prod["bedrock"]
    agents = of_type(b, "AWS::Bedrock::Agent")
    assert len(agents) == 3 and len(of_type(b, "AWS::Bedrock::AgentAlias")) == 3
    models = {lid: a["Properties"]["FoundationModel"] for lid, a in agents.items()}
    assert models["RiskAssessmentAgent"] == {"Ref": "RealtimeModelId"}
    assert b["Parameters"]["AnalysisModelId"]["Default"].startswith("anthropic.claude-3-5-sonnet")
    assert b["Parameters"]["RealtimeModelId"]["Default"].startswith("anthropic.claude-3-haiku")
    ops = set()
    for a in agents.values():
        assert "GuardrailConfiguration" in a["Properties"]
        assert a["Properties"]["Tags"]["charter:agent"]
        for group in a["Properties"]["ActionGroups"]:
            ops |= {op["post"]["operationId"] for op in json.loads(group["ApiSchema"]["Payload"])["paths"].values()}
    assert ops == {"getMarketData", "evaluateStrategy", "portfolioRisk", "runHyperparameterSearch"}
    policies = {p["Properties"]["Type"] for p in of_type(b, "AWS::OpenSearchServerless::SecurityPolicy").values()}
    assert policies == {"encryption", "network"}
    assert of_type(b, "AWS::OpenSearchServerless::AccessPolicy")
    assert props(b, "ResearchKnowledgeBase")["StorageConfiguration"]["Type"] == "OPENSEARCH_SERVERLESS"


# -- API, edge, monitoring, secrets, cost, CI/CD ----------------------------------------------

def test_workloads_api(prod):
    a = prod["api"]
    rule = props(a, "ApiWebAcl")["Rules"][0]["Statement"]["RateBasedStatement"]
    assert (rule["Limit"], rule["EvaluationWindowSec"], rule["AggregateKeyType"]) == (600, 60, "CUSTOM_KEYS")
    managed = {r["Name"] for r in props(a, "ApiWebAcl")["Rules"] if "ManagedRuleGroupStatement" in r["Statement"]}
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= managed
    pool = props(a, "UserPool")
    assert pool["MfaConfiguration"] == "ON"
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    settings = props(a, "ApiStage")["MethodSettings"]
    cached = [s for s in settings if s.get("CachingEnabled")]
    assert cached and all(s["CacheTtlInSeconds"] == 300 and s["HttpMethod"] == "GET" for s in cached)
    post = props(a, "PostOptimize")
    assert post["RequestModels"] == {"application/json": {"Ref": "OptimizeRequestModel"}}
    assert post["AuthorizationType"] == "CUSTOM" and post["ApiKeyRequired"] is True  # per-user key
    schema = json.loads(props(a, "OptimizeRequestModel")["Schema"])
    assert schema["required"] == ["assets", "objective"] and schema["additionalProperties"] is False
    routes = {r["Properties"]["RouteKey"] for r in of_type(a, "AWS::ApiGatewayV2::Route").values()}
    assert routes == {"$connect", "$disconnect", "$default"}
    assert of_type(a, "AWS::ApiGateway::UsagePlan") and not of_type(a, "AWS::ApiGateway::ApiKey")


def test_workloads_edge(prod):
    e = prod["edge"]
    config = props(e, "Distribution")["DistributionConfig"]
    assert config["Aliases"] == ["optimizer.acme-corp.example"]
    assert config["ViewerCertificate"]["AcmCertificateArn"] == {"Ref": "DomainCertificate"}
    assert props(e, "DomainCertificate")["DomainName"] == "optimizer.acme-corp.example"
    assert {b["PathPattern"] for b in config["CacheBehaviors"]} == {"/optimize", "/jobs", "/jobs/*", "/compliance/*",
                                                                    "/health"}
    # distribution-wide error pages would turn the API's JSON errors into HTML (see test_workloads_api_cache)
    assert "CustomErrorResponses" not in config
    assert "Logging" in config and "WebACLId" in config
    headers = props(e, "SecurityHeaders")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert props(e, "EdgeWebAcl")["Scope"] == "CLOUDFRONT"


def test_workloads_alarms(prod):
    m = prod["monitoring"]
    alarms = of_type(m, "AWS::CloudWatch::Alarm")
    submit = props(m, "SubmitErrorRate")
    assert submit["Threshold"] == 1.0 and submit["ComparisonOperator"] == "GreaterThanThreshold"
    assert any("100 * errors / invocations" in q.get("Expression", "") for q in submit["Metrics"])
    assert props(m, "PipelineFailures")["MetricName"] == "ExecutionFailed"
    assert props(m, "Api5xx")["MetricName"] == "5XXError"
    throttles = [a for lid, a in alarms.items() if lid.endswith("Throttles")]
    assert len(throttles) == 5
    topic = json.dumps(submit["AlarmActions"])
    assert "acme-prod-optimizer-alerts" in topic  # the workload's own topic (test_workloads_api_cache)
    assert of_type(m, "AWS::XRay::SamplingRule") and len(of_type(m, "AWS::Synthetics::Canary")) == 2
    body = json.loads(props(m, "Dashboard")["DashboardBody"])
    titles = {w["properties"]["title"] for w in body["widgets"]}
    assert {"Bedrock tokens", "Sharpe ratio", "Strategies tested", "API latency (ms)"} <= titles


def test_workloads_secrets_cost_cicd(prod, dev):
    s = prod["secrets"]
    secrets = of_type(s, "AWS::SecretsManager::Secret")
    assert len(secrets) == 2 and all("KmsKeyId" in x["Properties"] for x in secrets.values())
    assert props(s, "ReminderFunction")["Handler"] == "charter.workloads.handlers.secret_reminders.handler"
    budget = props(prod["cost"], "MonthlyBudget")
    # no monthly_budget_usd in the example: the prod account's estimate x headroom, up to $10
    amount = budget["Budget"]["BudgetLimit"]["Amount"]
    assert amount % 10 == 0 and amount > 100
    assert len(budget["NotificationsWithSubscribers"]) == 3
    assert of_type(prod["cost"], "AWS::CE::AnomalySubscription")
    pipeline = props(dev["optimizer-cicd"], "Pipeline")
    stages = [st["Name"] for st in pipeline["Stages"]]
    assert stages == ["Source", "Build", "Deploy-dev", "Deploy-staging", "Deploy-prod"]
    approvals = [a["Name"] for st in pipeline["Stages"] for a in st["Actions"]
                 if a["ActionTypeId"]["Category"] == "Approval"]
    assert approvals == ["ApproveStaging", "ApproveProd"]
    assert pipeline["ArtifactStore"]["EncryptionKey"]["Type"] == "KMS"


def test_workloads_cost_allocation_tags_everywhere(prod):
    tagged = 0
    for stack in prod.values():
        for res in stack["Resources"].values():
            tags = res.get("Properties", {}).get("Tags")
            if tags is None:
                continue
            keys = {t["Key"] for t in tags} if isinstance(tags, list) else set(tags)
            assert {"CostCenter", "charter:environment", "charter:component"} <= keys
            tagged += 1
    assert tagged > 50
