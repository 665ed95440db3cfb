"""Workload stacks read against AWS's semantics, not only cfn-lint's (issue #26).

Each test names the AWS behaviour the stack must respect; they all ran red on the stacks
before the fix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from charter.workloads.synth import synthesize_workloads


@pytest.fixture(scope="module")
def prod(small_config) -> dict[str, dict[str, Any]]:
    return {s.name.removeprefix("optimizer-prod-"): s.data for s in synthesize_workloads(small_config, "prod")}


def of_type(data: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in data["Resources"].items() if r["Type"] == kind}


# -- 6: Cost Anomaly Detection -------------------------------------------------------------

def test_anomaly_monitor_is_not_the_accounts_one_services_monitor(prod):
    """AWS allows one DIMENSIONAL/SERVICE monitor per account and creates one itself in new
    accounts: a second CreateAnomalyMonitor of that kind fails the cost stack. The stack's
    monitor is a customer-managed (CUSTOM) one over the workload's own cost-allocation tag,
    of which an account may hold many, and the subscription alerts on it."""
    monitors = of_type(prod["cost"], "AWS::CE::AnomalyMonitor")
    assert len(monitors) == 1
    (logical, monitor), = monitors.items()
    p = monitor["Properties"]
    assert p["MonitorType"] == "CUSTOM" and "MonitorDimension" not in p
    spec = json.loads(p["MonitorSpecification"])
    assert spec == {"Tags": {"Key": "CostCenter", "Values": ["optimizer-prod"], "MatchOptions": ["EQUALS"]}}
    # the tag the monitor watches is the one every resource of the workload carries
    tagged = [r for stack in prod.values() for r in stack["Resources"].values()
              if isinstance(r.get("Properties", {}).get("Tags"), list)
              and {"Key": "CostCenter", "Value": "optimizer-prod"} in r["Properties"]["Tags"]]
    assert len(tagged) > 50
    sub = next(iter(of_type(prod["cost"], "AWS::CE::AnomalySubscription").values()))["Properties"]
    assert sub["MonitorArnList"] == [{"Ref": logical}]


# -- 8: vendor-issued secrets --------------------------------------------------------------

def test_vendor_issued_secrets_are_not_rotated_and_wait_for_the_vendors_value(prod):
    """A rotation that stores a random string breaks a licence or API key a vendor issued
    (and the old set step pushed it nowhere). Vendor secrets carry no rotation schedule and
    no generated value; their issuer and owner are tags the reminder reads."""
    s = prod["secrets"]
    assert not of_type(s, "AWS::SecretsManager::RotationSchedule")
    secrets = of_type(s, "AWS::SecretsManager::Secret")
    assert {r["Properties"]["Name"] for r in secrets.values()} == {
        "acme-prod-optimizer/pricing-licence", "acme-prod-optimizer/market-data-keys"}
    for secret in secrets.values():
        p = secret["Properties"]
        assert "GenerateSecretString" not in p
        assert "set-by-owner" in json.loads(p["SecretString"]).values()
        tags = {t["Key"]: t["Value"] for t in p["Tags"]}
        assert tags["charter:issuer"] == "vendor"
        assert tags["charter:owner"] == "optimizer-oncall@acme-corp.example"


def test_vendor_secret_owners_are_reminded_through_a_daily_schedule(prod):
    s = prod["secrets"]
    (rule_id, rule), = of_type(s, "AWS::Events::Rule").items()
    assert rule["Properties"]["ScheduleExpression"].startswith("cron(")
    fn = of_type(s, "AWS::Lambda::Function")["ReminderFunction"]["Properties"]
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ReminderFunction", "Arn"]}
    assert fn["Environment"]["Variables"]["REMINDER_TOPIC_ARN"] == {"Ref": "ReminderTopic"}
    subs = {r["Properties"]["Endpoint"] for r in of_type(s, "AWS::SNS::Subscription").values()}
    assert subs == {"optimizer-oncall@acme-corp.example", "finops@acme-corp.example"}
    assert "KmsMasterKeyId" in of_type(s, "AWS::SNS::Topic")["ReminderTopic"]["Properties"]
    perm = next(iter(of_type(s, "AWS::Lambda::Permission").values()))["Properties"]
    assert perm["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}
    role = of_type(s, "AWS::IAM::Role")["ReminderRole"]["Properties"]
    actions = {a for st in role["Policies"][0]["PolicyDocument"]["Statement"]
               for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
    assert {"secretsmanager:ListSecrets", "secretsmanager:GetSecretValue", "sns:Publish"} <= actions
    assert not {a for a in actions if a in ("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage")}


# -- 2: OpenSearch Serverless: the index creator and Bedrock, no one else -------------------

def _policy(data: dict[str, Any], logical: str) -> Any:
    policy = data["Resources"][logical]["Properties"]["Policy"]
    if isinstance(policy, dict) and "Fn::Sub" in policy:
        body, names = policy["Fn::Sub"]
        return json.loads(body), names
    return json.loads(policy), {}


def test_collection_network_policy_lets_cloudformations_index_call_through(prod):
    """CloudFormation's AWS::OpenSearchServerless::Index handler calls the collection's
    endpoint from outside any VPC, as the deployer: a network policy open only to
    bedrock.amazonaws.com refuses it, and the index, the knowledge base and the rest of the
    stack fail. The endpoint takes requests from outside (never the dashboards); who may do
    anything is the data access policy's to say."""
    rules, _ = _policy(prod["bedrock"], "CollectionNetworkPolicy")
    assert len(rules) == 1
    (rule,) = rules
    assert rule["AllowFromPublic"] is True
    assert [r["ResourceType"] for r in rule["Rules"]] == ["collection"]  # no dashboard access at all


def test_collection_data_access_admits_the_index_creator_and_the_knowledge_base_only(prod):
    rules, names = _policy(prod["bedrock"], "CollectionDataAccessPolicy")
    principals = [p for rule in rules for p in rule["Principal"]]
    assert sorted(principals) == ["${Deployer}", "${KbRole}"]
    assert names["Deployer"] == {"Ref": "DeployerArn"}
    assert names["KbRole"] == {"Fn::GetAtt": ["KnowledgeBaseRole", "Arn"]}
    by_principal = {tuple(r["Principal"]): {p for rr in r["Rules"] for p in rr["Permission"]} for r in rules}
    deployer = by_principal[("${Deployer}",)]
    # the deployer manages the index; it never reads or writes the research documents
    assert {"aoss:CreateIndex", "aoss:DescribeIndex", "aoss:UpdateIndex", "aoss:DeleteIndex"} <= deployer
    assert not {"aoss:ReadDocument", "aoss:WriteDocument"} & deployer
    kb = by_principal[("${KbRole}",)]
    assert {"aoss:ReadDocument", "aoss:WriteDocument", "aoss:DescribeIndex"} <= kb
    assert "aoss:DeleteIndex" not in kb


@pytest.fixture(scope="module")
def deployed_dev(small_config, tmp_path_factory):
    """The dev environment deployed once on the embedded AWS: (sessions, dev account id)."""
    from charter.local import LocalAws
    from charter.workloads.deploy import deploy_workload

    with LocalAws() as aws:
        result = deploy_workload(small_config, "dev", aws.sessions(), tmp_path_factory.mktemp("wl-dev"), local=True)
        assert result.ok, result.failures
        sessions = aws.sessions()
        dev = next(a["Id"] for a in sessions.client("organizations").list_accounts()["Accounts"] if a["Name"] == "dev")
        yield sessions, dev


def _in_dev(deployed_dev, service: str, region: str = "us-east-1"):
    sessions, dev = deployed_dev
    return sessions.client(service, account_id=dev, role_name="OrganizationAccountAccessRole", region=region)


def _parameters(cfn, stack: str) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"]
            for p in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Parameters"]}


@pytest.mark.e2e
def test_the_deployer_is_the_identity_that_calls_cloudformation(deployed_dev):
    """The principal CloudFormation's index handler acts as is the caller of CreateStack:
    deploy fills DeployerArn from that caller's own identity (STS), whichever role or user it is."""
    _, dev = deployed_dev
    params = _parameters(_in_dev(deployed_dev, "cloudformation"), "charter-optimizer-dev-bedrock")
    caller = _in_dev(deployed_dev, "sts").get_caller_identity()
    role = caller["Arn"].split(":assumed-role/")[1].split("/")[0]
    assert params["DeployerArn"] == f"arn:aws:iam::{dev}:role/{role}"


# -- 1: results readable by their owner only ----------------------------------------------

def test_cloudfront_reads_the_console_only_and_only_this_distribution(prod):
    """The bucket policy let any distribution of the account read the whole results bucket.
    Now one statement lets the service read console/ only, and only when the request comes
    from this environment's distribution; job results are read through the API alone."""
    policy = of_type(prod["data"], "AWS::S3::BucketPolicy")["ResultsBucketPolicy"]["Properties"]["PolicyDocument"]
    cloudfront = [st for st in policy["Statement"] if st.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]
    assert len(cloudfront) == 1
    (st,) = cloudfront
    assert st["Action"] == ["s3:GetObject"]
    (resource,) = st["Resource"]
    assert resource["Fn::Sub"].endswith("/console/*")
    assert list(st["Condition"]) == ["StringEquals"]
    arn = st["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert arn[0].endswith(":distribution/${Id}") and arn[1] == {"Id": {"Ref": "ResultsDistributionId"}}
    edge = prod["edge"]["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    bucket_origin = next(o for o in edge["Origins"] if "S3OriginConfig" in o)
    assert bucket_origin["OriginPath"] == "/console"  # no CloudFront path maps to results/<job>/


@pytest.mark.e2e
def test_deploy_names_the_edge_distribution_in_the_bucket_policy(deployed_dev):
    """The data stack deploys before the edge stack; once the distribution exists, deploy
    updates the data stack with its id, in the same run."""
    edge = {o["OutputKey"]: o["OutputValue"] for o in _in_dev(deployed_dev, "cloudformation").describe_stacks(
        StackName="charter-optimizer-dev-edge")["Stacks"][0]["Outputs"]}
    _, dev = deployed_dev
    params = _parameters(_in_dev(deployed_dev, "cloudformation"), "charter-optimizer-dev-data")
    assert params["ResultsDistributionId"] == edge["DistributionId"] != "NONE"
    bucket = f"acme-dev-optimizer-results-{dev}-us-east-1"
    policy = json.loads(_in_dev(deployed_dev, "s3").get_bucket_policy(Bucket=bucket)["Policy"])
    sources = [st["Condition"]["StringEquals"]["AWS:SourceArn"] for st in policy["Statement"]
               if st.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]
    assert sources == [f"arn:aws:cloudfront::{dev}:distribution/{edge['DistributionId']}"]


# -- 4: per-user API limits -----------------------------------------------------------------

def test_usage_plan_limits_each_user_not_the_whole_frontend(prod, small_config):
    """A usage plan throttles and counts per API key: one key shared by the frontend made its
    limits one cap for every portfolio manager. Now the REST API takes each caller's own key
    from its authorizer, and no shared key exists."""
    api = prod["api"]
    assert not of_type(api, "AWS::ApiGateway::ApiKey") and not of_type(api, "AWS::ApiGateway::UsagePlanKey")
    assert "FrontendApiKeyId" not in api.get("Outputs", {})
    (rest,) = of_type(api, "AWS::ApiGateway::RestApi").values()
    assert rest["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    (plan,) = of_type(api, "AWS::ApiGateway::UsagePlan").values()
    settings = small_config.workloads.optimizer.environments["prod"]
    assert plan["Properties"]["Throttle"] == {"RateLimit": settings.api_rate_per_second,
                                              "BurstLimit": 2 * settings.api_rate_per_second}
    assert plan["Properties"]["Quota"] == {"Limit": settings.api_requests_per_user_per_day, "Period": "DAY"}
    (logical, auth), = of_type(api, "AWS::ApiGateway::Authorizer").items()
    assert auth["Properties"]["Type"] == "REQUEST"
    assert auth["Properties"]["IdentitySource"] == "method.request.header.Authorization"
    assert "api-authorizer:prod/invocations" in json.dumps(auth["Properties"]["AuthorizerUri"])
    for method in of_type(api, "AWS::ApiGateway::Method").values():
        if method["Properties"]["Integration"]["Type"] == "MOCK":
            continue
        p = method["Properties"]
        assert (p["AuthorizationType"], p["AuthorizerId"], p["ApiKeyRequired"]) == ("CUSTOM", {"Ref": logical}, True)
    # the authorizer finds the plan by the name the compute stack gives it
    fn = of_type(prod["compute"], "AWS::Lambda::Function")["ApiAuthorizerFunction"]["Properties"]
    assert fn["Environment"]["Variables"]["USAGE_PLAN_NAME"] == plan["Properties"]["UsagePlanName"]
    assert fn["Environment"]["Variables"]["API_KEYS_TABLE"] == "acme-prod-optimizer-api-keys"


# -- 10: backups select what the workload holds -------------------------------------------------

def test_the_backup_plan_selects_the_workloads_data(prod, small_config):
    """The environment's backup plan selects S3 buckets by tag; a tag nothing carries backs up
    nothing (AWS Backup reports no error). Every bucket holding the workload's data carries
    the tag the plan selects, and is versioned (AWS Backup refuses S3 buckets without)."""
    from charter.landing_zone.builders import backup

    plan = backup.template(small_config, "prod").to_dict()
    s3_selections = [r["Properties"]["BackupSelection"] for r in of_type(plan, "AWS::Backup::BackupSelection").values()
                     if any(":s3:::" in str(res) for res in r["Properties"]["BackupSelection"].get("Resources", []))]
    conditions = [c for sel in s3_selections for c in sel.get("Conditions", {}).get("StringEquals", [])]
    assert conditions, "the plan selects buckets by tag"
    selected = {(c["ConditionKey"].removeprefix("aws:ResourceTag/"), c["ConditionValue"]) for c in conditions}
    buckets = of_type(prod["data"], "AWS::S3::Bucket")
    carrying = {logical for logical, r in buckets.items()
                if selected & {(t["Key"], t["Value"]) for t in r["Properties"].get("Tags", [])}}
    assert carrying == {"MarketDataBucket", "ResultsBucket", "ModelArtifactsBucket"}
    for logical in carrying:
        assert buckets[logical]["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"
