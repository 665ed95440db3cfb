"""API stack: REST and WebSocket APIs, Cognito (MFA required) and the regional WAF.

REST: `POST /optimize` (body validated against the handlers' request model), `GET /jobs`
(the caller's jobs, paged), `GET /jobs/{id}` (long polling: never cached) and
`GET /jobs/{id}/results` (cached 300 s per job id, `page` and caller's token: a page of an
ended job never changes, and one user's cached page never answers another), `GET /compliance/summary` and `GET /compliance/artifact` (the console's compliance
face: the `compliance` function answers members of the user pool's `compliance` group
only), `GET /health` (a mock for the canaries). Every data route needs a Cognito token
from a user with MFA and is metered per user.

Per-user limits (1000+ portfolio managers): API Gateway throttles and counts a usage plan
per API key, so one key for the whole frontend made the plan a global cap. The data routes
use a Lambda REQUEST authorizer (`workloads.handlers.api_authorizer`) that verifies the
Cognito token and answers with the caller's own API key as `usageIdentifierKey` (the API's
key source is the authorizer; the browser holds no key), made on the user's first request
in the `per-user` plan: `api_rate_per_second` (burst twice that) and
`api_requests_per_user_per_day` apply to each user alone. The answer is cached per token
for `AUTHORIZER_TTL_SECONDS`. API Gateway allows 10,000 API keys per region by default
(adjustable).

Sign-in for the console: Cognito's hosted UI on a prefix domain, the authorization-code
grant with PKCE for the public app client (no secret: the app is a browser), redirecting
back to the environment's domain. Groups: `portfolio-managers` and `compliance`.

WebSocket: `$connect`, `$disconnect`, `$default`. API Gateway authorizes only `$connect`
(the connection is then trusted for its lifetime), with a Lambda REQUEST authorizer
(`workloads.handlers.ws_authorizer`, a function of the compute stack like every other):
the client passes its Cognito token as `?token=<JWT>` (browsers cannot set headers on a
WebSocket handshake), the authorizer verifies it against the user pool's keys and answers
with principalId = the user's `sub`, the same user id the REST API's Cognito authorizer
gives the handlers. The user pool and app client ids reach it as stage variables: this
stack creates the pool after the compute stack made the function.

WAF rate limit, 10 requests per second per user: WAF counts requests over a window of
60-600 s, so the rule is `Limit=600` over `EvaluationWindowSec=60` (600/60 = 10 rps),
aggregated on a custom key, the `Authorization` header: each Cognito session carries its
own token, so this counts per signed-in user (WAF cannot decode the JWT to read `sub`,
and per IP would throttle a whole office behind one NAT). Requests without the header
are not counted by that rule, so a second per-IP rule (5x the user limit) backstops them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from troposphere import GetAtt, Join, Output, Ref, Sub, Template
from troposphere import apigateway as agw
from troposphere import apigatewayv2 as agw2
from troposphere.awslambda import Permission as LambdaPermission
from troposphere.cognito import (
    AccountRecoverySetting,
    AdminCreateUserConfig,
    PasswordPolicy,
    Policies,
    RecoveryOption,
    TokenValidityUnits,
    UserPool,
    UserPoolAddOns,
    UserPoolClient,
    UserPoolDomain,
    UserPoolGroup,
)
from troposphere.wafv2 import (
    AllowAction,
    BlockAction,
    DefaultAction,
    LoggingConfiguration,
    LoggingConfigurationFieldToMatch,
    ManagedRuleGroupStatement,
    OverrideAction,
    RateBasedStatement,
    RateBasedStatementCustomKey,
    RateLimitHeader,
    RuleAction,
    SingleHeader,
    TextTransformation,
    VisibilityConfig,
    WebACL,
    WebACLAssociation,
    WebACLRule,
)
from troposphere.wafv2 import (
    Statement as WafStatement,
)

from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.registry import builder

from ._common import Ctx, key_parameter, log_group, new_template, service_role
from .compute import usage_plan_name

#: Cognito groups of the console's users (the compliance API answers the second only).
GROUPS = {"portfolio-managers": "Portfolio managers: submit and follow optimizations",
          "compliance": "Security lead and auditors: the console's compliance view"}
OAUTH_SCOPES = ["openid", "email", "profile"]
#: The stage caches GET /jobs/{id}/results only: GET /jobs/{id} long-polls (`wait`, `after`)
#: and must see every change. The results cache key: the job, the page and the caller (the
#: Cognito token; the handler's owner check never runs on a cache hit).
CACHED_PATHS = ("/~1jobs~1{id}~1results",)
RESULTS_CACHE_KEY = ("method.request.path.id", "method.request.querystring.page",
                     "method.request.header.Authorization")
#: Seconds GET responses stay in the API Gateway cache (spec: 5 minutes).
CACHE_TTL_SECONDS = 300
#: Seconds API Gateway reuses the authorizer's answer for one token.
AUTHORIZER_TTL_SECONDS = 300
#: WAF window and the resulting per-user limit (10 rps = 600 per 60 s).
WAF_WINDOW_SECONDS = 60
IP_BACKSTOP_FACTOR = 5
MANAGED_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                       "AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesSQLiRuleSet")

def optimize_request_schema() -> dict[str, Any]:
    """The POST /optimize body (JSON Schema draft-04, the dialect of API Gateway models),
    generated from the handlers' pydantic model: API Gateway rejects exactly what the
    submit handler would, with no second copy of the rules to drift."""
    from charter.workloads.handlers.openapi import optimize_request_schema as from_models

    return from_models()


ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "user": "$context.authorizer.principalId",
    "requestTime": "$context.requestTime", "httpMethod": "$context.httpMethod", "path": "$context.resourcePath",
    "status": "$context.status", "latency": "$context.responseLatency", "wafStatus": "$context.waf.status",
}, separators=(",", ":"))


def _lambda_uri(ctx: Ctx, short: str) -> Sub:
    return Sub("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
               "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
               + ctx.function_name(short) + ":" + ctx.alias + "/invocations")


def _visibility(name: str) -> VisibilityConfig:
    return VisibilityConfig(CloudWatchMetricsEnabled=True, MetricName=name, SampledRequestsEnabled=True)


def web_acl(ctx: Ctx, logical: str, scope: str, name: str) -> WebACL:
    """Rate limit per user, per-IP backstop and AWS managed rule groups (shared with the edge stack)."""
    per_user = ctx.settings.api_rate_per_second * WAF_WINDOW_SECONDS
    rules = [
        WebACLRule(Name="RateLimitPerUser", Priority=0, Action=RuleAction(Block=BlockAction()), VisibilityConfig=_visibility("RatePerUser"),
                   Statement=WafStatement(RateBasedStatement=RateBasedStatement(
                       Limit=per_user, EvaluationWindowSec=WAF_WINDOW_SECONDS, AggregateKeyType="CUSTOM_KEYS",
                       CustomKeys=[RateBasedStatementCustomKey(Header=RateLimitHeader(
                           Name="authorization", TextTransformations=[TextTransformation(Priority=0, Type="NONE")]))]))),
        WebACLRule(Name="RateLimitPerIp", Priority=1, Action=RuleAction(Block=BlockAction()), VisibilityConfig=_visibility("RatePerIp"),
                   Statement=WafStatement(RateBasedStatement=RateBasedStatement(
                       Limit=per_user * IP_BACKSTOP_FACTOR, EvaluationWindowSec=WAF_WINDOW_SECONDS,
                       AggregateKeyType="IP"))),
    ]
    for i, group in enumerate(MANAGED_RULE_GROUPS, start=2):
        rules.append(WebACLRule(
            Name=group, Priority=i, OverrideAction=OverrideAction(**{"None": {}}), VisibilityConfig=_visibility(group),
            Statement=WafStatement(ManagedRuleGroupStatement=ManagedRuleGroupStatement(VendorName="AWS", Name=group))))
    return controls(WebACL(
        logical, Name=name, Scope=scope, DefaultAction=DefaultAction(Allow=AllowAction()),
        Description=f"{ctx.prefix}: {ctx.settings.api_rate_per_second} rps per user, managed rules",
        VisibilityConfig=_visibility(logical), Rules=rules), "WKL-01")


def waf_logging(t: Template, ctx: Ctx, acl: WebACL, key: Any, suffix: str) -> None:
    # WAF only delivers to log groups whose name starts with aws-waf-logs-.
    group = log_group(t, ctx, f"WafLogs{suffix}", f"aws-waf-logs-{ctx.prefix}-{suffix.lower()}", key, "WKL-01")
    t.add_resource(controls(LoggingConfiguration(
        f"WafLogging{suffix}", ResourceArn=GetAtt(acl, "Arn"), LogDestinationConfigs=[GetAtt(group, "Arn")],
        RedactedFields=[LoggingConfigurationFieldToMatch(SingleHeader=SingleHeader(Name="authorization"))]), "WKL-01", "WKL-05"))


@builder("workload_api", controls=["LOG-04", "WKL-01", "WKL-02", "WKL-05", "WKL-06", "WKL-07", "WKL-10", "WKL-11"],
         description="Optimizer REST and WebSocket APIs: Cognito, authorizers, usage plans, WAF, Lambda handlers.")
def build(ctx: Ctx) -> Template:
    t = new_template(ctx, "API (API Gateway REST and WebSocket, Cognito, WAF)")
    key = key_parameter(t, ctx)

    # -- Cognito: MFA required, advanced security enforced -----------------------------------
    pool = controls(UserPool(
        "UserPool", UserPoolName=ctx.name("users"), MfaConfiguration="ON", EnabledMfas=["SOFTWARE_TOKEN_MFA"],
        UserPoolTier="PLUS", UserPoolAddOns=UserPoolAddOns(AdvancedSecurityMode="ENFORCED"),
        UsernameAttributes=["email"], AutoVerifiedAttributes=["email"],
        AdminCreateUserConfig=AdminCreateUserConfig(AllowAdminCreateUserOnly=True),
        AccountRecoverySetting=AccountRecoverySetting(RecoveryMechanisms=[
            RecoveryOption(Name="verified_email", Priority=1)]),
        Policies=Policies(PasswordPolicy=PasswordPolicy(
            MinimumLength=14, RequireLowercase=True, RequireUppercase=True, RequireNumbers=True,
            RequireSymbols=True, TemporaryPasswordValidityDays=3)),
        DeletionProtection="ACTIVE" if ctx.env == "prod" else "INACTIVE",
        UserPoolTags=ctx.tags("api"),
    ), "WKL-02")
    pool.DeletionPolicy = "Retain"
    pool.UpdateReplacePolicy = "Retain"
    t.add_resource(pool)
    console_url = f"https://{ctx.settings.domain}/"
    client = t.add_resource(controls(UserPoolClient(
        "UserPoolClient", UserPoolId=Ref(pool), ClientName=ctx.name("web"), GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"], PreventUserExistenceErrors="ENABLED",
        AccessTokenValidity=60, IdTokenValidity=60, RefreshTokenValidity=12, EnableTokenRevocation=True,
        TokenValidityUnits=TokenValidityUnits(AccessToken="minutes", IdToken="minutes", RefreshToken="hours"),
        # the console: hosted UI, code grant (the app sends a PKCE challenge), back to its own domain only
        AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["code"], AllowedOAuthScopes=OAUTH_SCOPES,
        SupportedIdentityProviders=["COGNITO"], CallbackURLs=[console_url], LogoutURLs=[console_url],
        DefaultRedirectURI=console_url), "WKL-02"))
    domain = t.add_resource(controls(UserPoolDomain(
        "UserPoolDomain", UserPoolId=Ref(pool), Domain=Sub(f"{ctx.prefix}-${{AWS::AccountId}}"), ManagedLoginVersion=1),
        "WKL-02"))
    for group, description in GROUPS.items():
        t.add_resource(controls(UserPoolGroup(
            "".join(w.capitalize() for w in group.split("-")) + "Group", UserPoolId=Ref(pool), GroupName=group,
            Description=description), "WKL-02"))

    # -- REST API ------------------------------------------------------------------------
    api = t.add_resource(controls(agw.RestApi(
        "RestApi", Name=ctx.name("api"), Description="Dynamic asset allocation optimizer API",
        EndpointConfiguration=agw.EndpointConfiguration(Types=["REGIONAL"]), DisableExecuteApiEndpoint=False,
        ApiKeySourceType="AUTHORIZER",  # each caller's own key, from the authorizer (per-user usage plan)
    ), "WKL-02", "WKL-10"))
    authorizer = t.add_resource(controls(agw.Authorizer(
        "UserAuthorizer", RestApiId=Ref(api), Name="cognito-per-user-key", Type="REQUEST",
        AuthorizerUri=_lambda_uri(ctx, "api-authorizer"), IdentitySource="method.request.header.Authorization",
        AuthorizerResultTtlInSeconds=AUTHORIZER_TTL_SECONDS), "WKL-02"))
    t.add_resource(controls(LambdaPermission(
        "UserAuthorizerPermission", Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
        FunctionName=ctx.function_arn("api-authorizer", ctx.alias),
        SourceArn=Sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/authorizers/${Auth}",
                      Api=Ref(api), Auth=Ref(authorizer))), "WKL-11"))
    validator = t.add_resource(controls(agw.RequestValidator(
        "RequestValidator", RestApiId=Ref(api), Name="body-and-parameters",
        ValidateRequestBody=True, ValidateRequestParameters=True), "WKL-10"))
    model = t.add_resource(controls(agw.Model(
        "OptimizeRequestModel", RestApiId=Ref(api), Name="OptimizeRequest", ContentType="application/json",
        Description="Body of POST /optimize", Schema=optimize_request_schema()), "WKL-10"))

    def resource(logical: str, parent: Any, part: str) -> agw.Resource:
        return t.add_resource(controls(agw.Resource(logical, RestApiId=Ref(api), ParentId=parent, PathPart=part),
                                       "WKL-02"))

    optimize = resource("OptimizeResource", GetAtt(api, "RootResourceId"), "optimize")
    jobs = resource("JobsResource", GetAtt(api, "RootResourceId"), "jobs")
    job = resource("JobResource", Ref(jobs), "{id}")
    job_results = resource("JobResultsResource", Ref(job), "results")
    health = resource("HealthResource", GetAtt(api, "RootResourceId"), "health")
    compliance = resource("ComplianceResource", GetAtt(api, "RootResourceId"), "compliance")
    compliance_summary = resource("ComplianceSummaryResource", Ref(compliance), "summary")
    compliance_artifact = resource("ComplianceArtifactResource", Ref(compliance), "artifact")

    methods: list[agw.Method] = []

    def lambda_method(logical: str, res: agw.Resource, verb: str, short: str, cache_key: tuple[str, ...] = (),
                      **extra: Any) -> None:
        # the stage caches only what `cached` lists; a cached method's key is every parameter
        # that changes its answer (`cache_key`), declared as a request parameter as API Gateway requires
        cache = list(cache_key)
        m = controls(agw.Method(
            logical, RestApiId=Ref(api), ResourceId=Ref(res), HttpMethod=verb, AuthorizationType="CUSTOM",
            AuthorizerId=Ref(authorizer), ApiKeyRequired=True, RequestValidatorId=Ref(validator),
            Integration=agw.Integration(Type="AWS_PROXY", IntegrationHttpMethod="POST", Uri=_lambda_uri(ctx, short),
                                        CacheKeyParameters=cache), **extra), "WKL-02", "WKL-10")
        methods.append(t.add_resource(m))

    lambda_method("PostOptimize", optimize, "POST", "submit", RequestModels={"application/json": Ref(model)})
    lambda_method("ListJobs", jobs, "GET", "jobs", RequestParameters={"method.request.querystring.limit": False,
                                                                       "method.request.querystring.cursor": False})
    lambda_method("GetJob", job, "GET", "status", RequestParameters={
        "method.request.path.id": True, "method.request.querystring.wait": False,
        "method.request.querystring.after": False})
    lambda_method("GetJobResults", job_results, "GET", "results", cache_key=RESULTS_CACHE_KEY,
                  RequestParameters={"method.request.path.id": True, "method.request.querystring.page": False,
                                     "method.request.header.Authorization": True})
    lambda_method("GetComplianceSummary", compliance_summary, "GET", "compliance")
    lambda_method("GetComplianceArtifact", compliance_artifact, "GET", "compliance",
                  RequestParameters={"method.request.querystring.path": True})
    health_method = controls(agw.Method(
        "GetHealth", RestApiId=Ref(api), ResourceId=Ref(health), HttpMethod="GET", AuthorizationType="NONE",
        Integration=agw.Integration(Type="MOCK", RequestTemplates={"application/json": '{"statusCode": 200}'},
                                    IntegrationResponses=[agw.IntegrationResponse(
                                        StatusCode="200", ResponseTemplates={"application/json": '{"status":"ok"}'})]),
        MethodResponses=[agw.MethodResponse(StatusCode="200")]), "WKL-06")
    suppress(health_method, "CKV_AWS_59", "GET /health is a MOCK integration returning a constant body for the "
             "Synthetics canaries; it reaches no function or data, so it needs no authorizer.")
    methods.append(t.add_resource(health_method))

    # A new deployment whenever the method set changes (deployments are immutable snapshots).
    digest = hashlib.sha256(json.dumps([m.to_dict() for m in methods], sort_keys=True, default=str).encode()).hexdigest()
    deployment = t.add_resource(controls(agw.Deployment(
        "ApiDeployment" + digest[:10], RestApiId=Ref(api), Description=f"methods {digest[:10]}",
        DependsOn=[m.title for m in methods]), "WKL-07"))
    access_logs = log_group(t, ctx, "ApiAccessLogs", f"/charter/{ctx.prefix}/api-access", key)
    cw_role = service_role(t, "ApiGatewayCloudWatchRole", "apigateway.amazonaws.com", [], "WKL-05",
                           managed=["service-role/AmazonAPIGatewayPushToCloudWatchLogs"])
    account = t.add_resource(controls(agw.Account("ApiGatewayAccount", CloudWatchRoleArn=GetAtt(cw_role, "Arn")),
                                      "WKL-05"))
    stage = t.add_resource(controls(agw.Stage(
        "ApiStage", RestApiId=Ref(api), DeploymentId=Ref(deployment), StageName=ctx.env, TracingEnabled=True,
        CacheClusterEnabled=True, CacheClusterSize="0.5",
        # what the authorizer accepts tokens of (ids, not secrets: the web app ships them too)
        Variables={"cognitoUserPoolId": Ref(pool), "cognitoClientId": Ref(client)},
        AccessLogSetting=agw.AccessLogSetting(DestinationArn=GetAtt(access_logs, "Arn"), Format=ACCESS_LOG_FORMAT),
        MethodSettings=[
            agw.MethodSetting(ResourcePath="/*", HttpMethod="*", LoggingLevel="INFO", MetricsEnabled=True,
                              DataTraceEnabled=False, CachingEnabled=False, CacheDataEncrypted=True,
                              ThrottlingRateLimit=100, ThrottlingBurstLimit=200),
            *[agw.MethodSetting(ResourcePath=path, HttpMethod="GET", CachingEnabled=True, CacheDataEncrypted=True,
                                CacheTtlInSeconds=CACHE_TTL_SECONDS, LoggingLevel="INFO", MetricsEnabled=True,
                                DataTraceEnabled=False)
              for path in CACHED_PATHS],
        ],
        DependsOn=[account.title]), "WKL-05", "WKL-06"))

    # Limits of each user's own key (the authorizer adds every user's key to this plan).
    rate = ctx.settings.api_rate_per_second
    t.add_resource(controls(agw.UsagePlan(
        "UsagePlan", UsagePlanName=usage_plan_name(ctx), Description="Per-user limits: each user has an API key",
        ApiStages=[agw.ApiStage(ApiId=Ref(api), Stage=Ref(stage))],
        Throttle=agw.ThrottleSettings(RateLimit=rate, BurstLimit=2 * rate),
        Quota=agw.QuotaSettings(Limit=ctx.settings.api_requests_per_user_per_day, Period="DAY")), "WKL-02", "WKL-06"))

    for short, path in (("submit", "POST/optimize"), ("jobs", "GET/jobs"), ("status", "GET/jobs/*"),
                        ("results", "GET/jobs/*/results"), ("compliance", "GET/compliance/*")):
        t.add_resource(controls(LambdaPermission(
            "".join(w.capitalize() for w in short.split("-")) + "ApiPermission", Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com", FunctionName=ctx.function_arn(short, ctx.alias),
            SourceArn=Sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*/" + path,
                          Api=Ref(api))), "WKL-11"))

    # -- WAF ------------------------------------------------------------------------------
    acl = t.add_resource(web_acl(ctx, "ApiWebAcl", "REGIONAL", ctx.name("api")))
    waf_logging(t, ctx, acl, key, "Api")
    t.add_resource(controls(WebACLAssociation(
        "ApiWebAclAssociation", WebACLArn=GetAtt(acl, "Arn"),
        ResourceArn=Sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${Api}/stages/${Stage}",
                        Api=Ref(api), Stage=Ref(stage))), "WKL-01"))

    # -- WebSocket API ------------------------------------------------------------------------
    ws = t.add_resource(controls(agw2.Api(
        "WebSocketApi", Name=ctx.name("ws"), ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action",
        Description="Job progress notifications"), "WKL-02"))
    ws_authorizer = t.add_resource(controls(agw2.Authorizer(
        "WsConnectAuthorizer", ApiId=Ref(ws), Name="cognito-jwt", AuthorizerType="REQUEST",
        AuthorizerUri=_lambda_uri(ctx, "ws-authorizer"), IdentitySource=["route.request.querystring.token"]),
        "WKL-02"))
    t.add_resource(controls(LambdaPermission(
        "WsAuthorizerPermission", Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
        FunctionName=ctx.function_arn("ws-authorizer", ctx.alias),
        SourceArn=Sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/authorizers/${Auth}",
                      Api=Ref(ws), Auth=Ref(ws_authorizer))), "WKL-11"))
    routes = []
    for route_key, short in (("$connect", "ws-connect"), ("$disconnect", "ws-disconnect"), ("$default", "ws-default")):
        lid = "Ws" + "".join(w.capitalize() for w in route_key.strip("$").split("-"))
        integration = t.add_resource(controls(agw2.Integration(
            lid + "Integration", ApiId=Ref(ws), IntegrationType="AWS_PROXY", IntegrationUri=_lambda_uri(ctx, short)),
            "WKL-02"))
        auth: dict[str, Any] = ({"AuthorizationType": "CUSTOM", "AuthorizerId": Ref(ws_authorizer)}
                                if route_key == "$connect" else {"AuthorizationType": "NONE"})
        route = controls(agw2.Route(
            lid + "Route", ApiId=Ref(ws), RouteKey=route_key, OperationName=lid,
            Target=Join("/", ["integrations", Ref(integration)]), **auth), "WKL-02")
        routes.append(t.add_resource(route))
        t.add_resource(controls(LambdaPermission(
            lid + "Permission", Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
            FunctionName=ctx.function_arn(short, ctx.alias),
            SourceArn=Sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*/" + route_key,
                          Api=Ref(ws))), "WKL-11"))
    ws_logs = log_group(t, ctx, "WebSocketAccessLogs", f"/charter/{ctx.prefix}/ws-access", key)
    # As for REST: a new deployment whenever the routes or their authorizer change.
    ws_digest = hashlib.sha256(json.dumps([r.to_dict() for r in (*routes, ws_authorizer)], sort_keys=True,
                                          default=str).encode()).hexdigest()
    ws_deployment = t.add_resource(controls(agw2.Deployment(
        "WebSocketDeployment" + ws_digest[:10], ApiId=Ref(ws), DependsOn=[r.title for r in routes]), "WKL-07"))
    ws_stage = t.add_resource(controls(agw2.Stage(
        "WebSocketStage", ApiId=Ref(ws), StageName=ctx.env, DeploymentId=Ref(ws_deployment),
        # what the $connect authorizer accepts tokens of (ids, not secrets: the web app ships them too)
        StageVariables={"cognitoUserPoolId": Ref(pool), "cognitoClientId": Ref(client)},
        DefaultRouteSettings=agw2.RouteSettings(LoggingLevel="INFO", DataTraceEnabled=False,
                                                DetailedMetricsEnabled=True, ThrottlingRateLimit=100,
                                                ThrottlingBurstLimit=200),
        AccessLogSettings=agw2.AccessLogSettings(DestinationArn=GetAtt(ws_logs, "Arn"), Format=json.dumps({
            "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "route": "$context.routeKey",
            "user": "$context.authorizer.principalId",
            "status": "$context.status", "connectionId": "$context.connectionId"}, separators=(",", ":"))),
        DependsOn=[account.title]), "WKL-05"))

    for name, value in (("RestApiId", Ref(api)), ("RestApiStage", Ref(stage)), ("UserPoolId", Ref(pool)),
                        ("UserPoolClientId", Ref(client)), ("WebSocketApiId", Ref(ws)),
                        ("UserPoolDomain", Sub("${Domain}.auth.${AWS::Region}.amazoncognito.com", Domain=Ref(domain))),
                        ("WebSocketStage", Ref(ws_stage)),
                        ("RestApiDomain", Sub("${Api}.execute-api.${AWS::Region}.amazonaws.com", Api=Ref(api)))):
        t.add_output(Output(name, Value=value))
    return t
