"""CloudFormation types of the optimizer's workload stacks (Cognito, WAFv2, OpenSearch
Serverless, Bedrock, CloudFront) that moto's CloudFormation skips."""

from __future__ import annotations

from charter.local.patches.cfn_model import cfn_model


def _distribution_config(props: dict) -> dict:
    """CloudFormation's DistributionConfig in the shape of CloudFront's API (lists as
    {Quantity, Items}, a few renamed keys), which moto's backend reads."""
    def items(values) -> dict:
        values = list(values or [])
        return {"Quantity": len(values), "Items": values}

    def methods(behavior: dict) -> dict:
        allowed = behavior.get("AllowedMethods") or ["GET", "HEAD"]
        return {**items(allowed), "CachedMethods": items(behavior.get("CachedMethods") or ["GET", "HEAD"])}

    def behavior(b: dict) -> dict:
        return {**{k: v for k, v in b.items() if k not in ("AllowedMethods", "CachedMethods")},
                "AllowedMethods": methods(b)}

    def origin(o: dict) -> dict:
        out = {k: v for k, v in o.items() if k not in ("S3OriginConfig", "CustomOriginConfig", "OriginCustomHeaders")}
        if "S3OriginConfig" in o:
            out["S3OriginConfig"] = {"OriginAccessIdentity": o["S3OriginConfig"].get("OriginAccessIdentity", "")}
        if "CustomOriginConfig" in o:
            c = o["CustomOriginConfig"]
            out["CustomOriginConfig"] = {"HTTPPort": c.get("HTTPPort"), "HTTPSPort": c.get("HTTPSPort"),
                                         "OriginProtocolPolicy": c.get("OriginProtocolPolicy"),
                                         "OriginSslProtocols": items(c.get("OriginSSLProtocols"))}
        out["CustomHeaders"] = items(o.get("OriginCustomHeaders"))
        return out

    import uuid

    config = {k: v for k, v in props.items() if k not in (
        "Aliases", "Origins", "DefaultCacheBehavior", "CacheBehaviors", "CustomErrorResponses", "ViewerCertificate",
        "Logging", "IPV6Enabled")}
    config["CallerReference"] = str(uuid.uuid4())
    config["Aliases"] = items(props.get("Aliases"))
    config["Origins"] = items([origin(o) for o in props.get("Origins", [])])
    config["DefaultCacheBehavior"] = behavior(props.get("DefaultCacheBehavior", {}))
    if props.get("CacheBehaviors"):
        config["CacheBehaviors"] = items([behavior(b) for b in props["CacheBehaviors"]])
    if props.get("CustomErrorResponses"):
        config["CustomErrorResponses"] = items(props["CustomErrorResponses"])
    if "ViewerCertificate" in props:
        v = props["ViewerCertificate"]
        config["ViewerCertificate"] = {"CloudFrontDefaultCertificate": v.get("CloudFrontDefaultCertificate", False),
                                       "ACMCertificateArn": v.get("AcmCertificateArn"),
                                       "IAMCertificateId": v.get("IamCertificateId"),
                                       "SSLSupportMethod": v.get("SslSupportMethod"),
                                       "MinimumProtocolVersion": v.get("MinimumProtocolVersion")}
    if "Logging" in props:
        config["Logging"] = {"Enabled": True, **props["Logging"]}
    if "IPV6Enabled" in props:
        config["IsIPV6Enabled"] = props["IPV6Enabled"]
    return config


def add_workload_resource_models() -> None:
    """CloudFormation types of the optimizer's workload stacks that moto's APIs implement but
    its CloudFormation skips, and that other resources or outputs read (Fn::GetAtt of a
    skipped resource fails the stack, or crashes moto's output validation). Each is created
    through moto's own backend, so it is then visible through the service's API.

    Bedrock guardrails have no moto backend at all: they are recorded with the identifiers
    AWS gives them (`_recorded`), and are not readable through an API here.
    """
    import json as _json
    import secrets
    from types import SimpleNamespace

    from moto.apigateway.models import apigateway_backends
    from moto.apigatewayv2.models import apigatewayv2_backends
    from moto.bedrockagent.models import bedrockagent_backends
    from moto.cloudformation import parsing
    from moto.cloudfront.models import cloudfront_backends
    from moto.cognitoidentity.models import cognitoidentity_backends
    from moto.cognitoidp.models import cognitoidp_backends
    from moto.opensearchserverless.models import Collection, opensearchserverless_backends
    from moto.utilities.utils import get_partition
    from moto.wafv2.models import wafv2_backends

    def tags_dict(tags) -> dict:
        if isinstance(tags, dict):
            return dict(tags)
        return {t["Key"]: t["Value"] for t in tags or []}

    def user_pool(p, account, region, name):
        config = {k: v for k, v in p.items() if k not in ("UserPoolName", "UserPoolTags")}
        config["UserPoolTags"] = tags_dict(p.get("UserPoolTags"))
        pool = cognitoidp_backends[account][region].create_user_pool(p.get("UserPoolName") or name, config)
        pool.provider_name = f"cognito-idp.{region}.amazonaws.com/{pool.id}"
        pool.provider_url = f"https://{pool.provider_name}"
        return pool

    def web_acl(p, account, region, name):
        acl = wafv2_backends[account][region].create_web_acl(
            p.get("Name") or name, p["VisibilityConfig"], p["DefaultAction"], p["Scope"], p.get("Description"),
            p.get("Tags") or [], p.get("Rules") or [], p.get("AssociationConfig"), p.get("CaptchaConfig"),
            p.get("ChallengeConfig"), p.get("CustomResponseBodies"), p.get("TokenDomains"))
        acl.ref = f"{acl.name}|{acl.id}|{p['Scope']}"  # AWS's Ref of a web ACL
        return acl

    def security_policy(p, account, region, name):
        policy = p["Policy"] if isinstance(p["Policy"], str) else _json.dumps(p["Policy"])
        return opensearchserverless_backends[account][region].create_security_policy(
            None, p.get("Description"), p["Name"], policy, p["Type"])

    def collection(p, account, region, name):
        backend = opensearchserverless_backends[account][region]
        # moto takes the last policy naming the collection, a network one as often as not;
        # the collection's key comes from its encryption policy
        encryption = [sp.policy for sp in backend.security_policies.values()
                      if sp.type == "encryption" and f"collection/{p['Name']}" in sp.resources]
        if not encryption:
            from moto.opensearchserverless.exceptions import ValidationException

            raise ValidationException(msg=f"No matching security policy of encryption type found for collection "
                                          f"name: {p['Name']}")
        key = encryption[-1] if "KmsARN" in encryption[-1] else {**encryption[-1], "KmsARN": "auto"}
        made = Collection(client_token=secrets.token_hex(5), description=p.get("Description", ""), name=p["Name"],
                          standby_replicas=p.get("StandbyReplicas", "ENABLED"), tags=p.get("Tags") or [],
                          type=p.get("Type", "SEARCH"), policy=key, region=region, account_id=account)
        backend.collections[made.id] = made
        # this API's tags are {key, value}, CloudFormation's {Key, Value}
        backend.tag_resource(made.arn, [{"key": t["Key"], "value": t["Value"]} for t in made.tags])
        return made

    def agent(p, account, region, name):
        return bedrockagent_backends[account][region].create_agent(
            p["AgentName"], p.get("AgentResourceRoleArn"), None, p.get("Instruction"), p.get("FoundationModel"),
            p.get("Description"), p.get("IdleSessionTTLInSeconds"), p.get("CustomerEncryptionKeyArn"),
            tags_dict(p.get("Tags")), p.get("PromptOverrideConfiguration"))

    def lower_first(node):
        # CloudFormation spells these structures in PascalCase, the Bedrock API in camelCase
        if isinstance(node, dict):
            return {k[:1].lower() + k[1:]: lower_first(v) for k, v in node.items()}
        if isinstance(node, list):
            return [lower_first(v) for v in node]
        return node

    def knowledge_base(p, account, region, name):
        return bedrockagent_backends[account][region].create_knowledge_base(
            p["Name"], p["RoleArn"], lower_first(p["KnowledgeBaseConfiguration"]),
            lower_first(p["StorageConfiguration"]), None, p.get("Description"), tags_dict(p.get("Tags")))

    def origin_access_control(p, account, region, name):
        return cloudfront_backends[account][get_partition(region)].create_origin_access_control(p["OriginAccessControlConfig"])

    def distribution(p, account, region, name):
        config = _distribution_config(p["DistributionConfig"])
        dist, _, _ = cloudfront_backends[account][get_partition(region)].create_distribution(config, p.get("Tags") or [])
        return dist

    def _recorded(kind: str):
        def create(p, account, region, name):
            ident = secrets.token_hex(6)
            return SimpleNamespace(id=ident, arn=f"arn:aws:bedrock:{region}:{account}:{kind}/{ident}", version="DRAFT")
        return create

    def guardrail_version(p, account, region, name):
        return SimpleNamespace(id="1", version="1")

    def user_pool_domain(p, account, region, name):
        return cognitoidp_backends[account][region].create_user_pool_domain(p["UserPoolId"], p["Domain"])

    def user_pool_group(p, account, region, name):
        return cognitoidp_backends[account][region].create_group(
            p["UserPoolId"], p.get("GroupName") or name, p.get("Description"), p.get("RoleArn"), p.get("Precedence"))

    def identity_pool(p, account, region, name):
        made = _json.loads(cognitoidentity_backends[account][region].create_identity_pool(
            p.get("IdentityPoolName") or name, p.get("AllowUnauthenticatedIdentities", False),
            p.get("SupportedLoginProviders") or {}, p.get("DeveloperProviderName"),
            p.get("OpenIdConnectProviderARNs") or [], p.get("CognitoIdentityProviders") or [],
            p.get("SamlProviderARNs") or [], tags_dict(p.get("IdentityPoolTags"))))
        return SimpleNamespace(id=made["IdentityPoolId"], name=made["IdentityPoolName"])

    def app_monitor(p, account, region, name):
        # no RUM backend in moto: recorded with the identifiers AWS gives an app monitor
        import uuid

        return SimpleNamespace(name=p["Name"], id=str(uuid.uuid4()))

    def user_pool_client(p, account, region, name):
        # CloudFormation's property names are the API's (ClientName, AllowedOAuthFlows, CallbackURLs, ...)
        extended = {k: v for k, v in p.items() if k not in ("UserPoolId", "GenerateSecret")}
        return cognitoidp_backends[account][region].create_user_pool_client(
            p["UserPoolId"], bool(p.get("GenerateSecret")), extended)

    def websocket_api(p, account, region, name):
        return apigatewayv2_backends[account][region].create_api(
            api_key_selection_expression=p.get("ApiKeySelectionExpression"), cors_configuration=p.get("CorsConfiguration"),
            description=p.get("Description"), disable_schema_validation=p.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=p.get("DisableExecuteApiEndpoint"), name=p.get("Name") or name,
            protocol_type=p["ProtocolType"], route_selection_expression=p.get("RouteSelectionExpression"),
            tags=tags_dict(p.get("Tags")), version=p.get("Version"))

    def websocket_stage(p, account, region, name):
        return apigatewayv2_backends[account][region].create_stage(p["ApiId"], {
            "stageName": p["StageName"], "deploymentId": p.get("DeploymentId"), "description": p.get("Description"),
            "stageVariables": p.get("StageVariables") or {}})

    def api_key(p, account, region, name):
        return apigateway_backends[account][region].create_api_key({
            "name": p.get("Name") or name, "description": p.get("Description"), "enabled": p.get("Enabled", True),
            "value": p.get("Value"), "tags": tags_dict(p.get("Tags"))})

    cfn_model("AWS::Cognito::UserPoolClient", user_pool_client, {"ClientId": "id"})
    cfn_model("AWS::ApiGatewayV2::Api", websocket_api, {"ApiId": "api_id", "ApiEndpoint": "api_endpoint"},
              physical="api_id")
    cfn_model("AWS::ApiGatewayV2::Stage", websocket_stage, physical="name")
    cfn_model("AWS::ApiGateway::ApiKey", api_key, {"APIKeyId": "id"})
    cfn_model("AWS::Cognito::UserPoolDomain", user_pool_domain, physical="domain")
    cfn_model("AWS::Cognito::UserPoolGroup", user_pool_group, physical="group_name")
    cfn_model("AWS::Cognito::IdentityPool", identity_pool, {"Name": "name"})
    cfn_model("AWS::Cognito::IdentityPoolRoleAttachment",
              lambda p, account, region, name: SimpleNamespace(id=f"{p['IdentityPoolId']}-roles"))
    cfn_model("AWS::RUM::AppMonitor", app_monitor, {"Id": "id"}, physical="name")
    cfn_model("AWS::Cognito::UserPool", user_pool,
               {"Arn": "arn", "ProviderName": "provider_name", "ProviderURL": "provider_url", "UserPoolId": "id"})
    cfn_model("AWS::WAFv2::WebACL", web_acl,
               {"Arn": "arn", "Id": "id", "Capacity": "capacity", "LabelNamespace": "label_namespace"},
               physical="ref")
    cfn_model("AWS::OpenSearchServerless::SecurityPolicy", security_policy, physical="name")
    cfn_model("AWS::OpenSearchServerless::Collection", collection,
               {"Arn": "arn", "Id": "id", "CollectionEndpoint": "collection_endpoint",
                "DashboardEndpoint": "dashboard_endpoint"})
    cfn_model("AWS::Bedrock::Agent", agent, {"AgentArn": "agent_arn", "AgentId": "agent_id",
                                              "AgentVersion": "agent_version"}, physical="agent_id")
    cfn_model("AWS::Bedrock::KnowledgeBase", knowledge_base,
               {"KnowledgeBaseArn": "knowledge_base_arn", "KnowledgeBaseId": "knowledge_base_id"},
               physical="knowledge_base_id")
    cfn_model("AWS::Bedrock::Guardrail", _recorded("guardrail"),
               {"GuardrailArn": "arn", "GuardrailId": "id", "Version": "version"}, physical="arn")
    cfn_model("AWS::Bedrock::GuardrailVersion", guardrail_version, {"Version": "version"})
    cfn_model("AWS::CloudFront::OriginAccessControl", origin_access_control, {"Id": "id"})
    cfn_model("AWS::CloudFront::Distribution", distribution, {"DomainName": "domain_name", "Id": "id"})
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
