"""Edge stack (us-east-1, where CloudFront's certificates and WAF ACLs live).

CloudFront serves the console (the web app `charter workload deploy` uploads under
`console/` of the results bucket; origin access control, SigV4) and routes the API paths
(`/optimize`, `/jobs`, `/jobs/*`, `/compliance/*`, `/health`) to the regional REST API.
The bucket origin's path is `/console`: job results stay reachable only through the API
(which checks who asks), never as plain CloudFront objects.

CloudWatch RUM: an app monitor for the console's domain, sampling the share of sessions
the org config sets (`rum_sample_rate`), fed by the console's own PutRumEvents client.
Its credentials come from a Cognito identity pool whose only identity provider is the
console's user pool (signed-in users; no guest access) and whose role may do one thing:
`rum:PutRumEvents` on this app monitor. The user pool is the api stack's, in the home
region: deploy fills its provider name and app client id as parameters, as it fills the
REST API's domain. Errors and performance telemetry; no cookies, no X-Ray.

The custom domain's certificate is the configured `certificate_arn` (validation checks it
is in this account and us-east-1, the only place CloudFront reads one) or, when unset, an
ACM certificate this stack requests for the domain (DNS validation). TLS 1.2+, custom error pages under `/errors/`, a security-headers policy (HSTS,
CSP, frame denial, nosniff, referrer policy), standard logging and the CloudFront-scoped
WAF ACL (same rate limit and managed rules as the regional one).
"""

from __future__ import annotations

from awacs.aws import Action as AwacsAction
from awacs.aws import (
    Allow,
    Condition,
    ForAnyValueStringLike,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from awacs.sts import AssumeRoleWithWebIdentity
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template
from troposphere import cloudfront as cf
from troposphere.certificatemanager import Certificate, DomainValidationOption
from troposphere.cognito import CognitoIdentityProvider, IdentityPool, IdentityPoolRoleAttachment
from troposphere.iam import Policy as InlinePolicy
from troposphere.iam import Role
from troposphere.rum import AppMonitor, AppMonitorConfiguration
from troposphere.s3 import OwnershipControls, OwnershipControlsRule

from charter.landing_zone.components.s3 import secure_bucket
from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder
from charter.naming import access_log_bucket_name

from . import data
from ._common import Ctx, key_parameter, new_template
from .api import waf_logging, web_acl

# AWS managed policy ids (documented, identical in every account).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
API_PATHS = ("/optimize", "/jobs", "/jobs/*", "/compliance/*", "/health")
#: Where the console lives in the results bucket (the bucket origin's OriginPath).
CONSOLE_PREFIX = data.CONSOLE_PREFIX
RUM_TELEMETRIES = ["errors", "performance"]
# connect-src: the API's WebSocket and presigned result pages (*.amazonaws.com), Cognito's
# token endpoint (*.amazoncognito.com), RUM's data plane, Cognito identity and STS (*.amazonaws.com)
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "connect-src 'self' https://*.amazonaws.com wss://*.amazonaws.com https://*.amazoncognito.com; "
                           "img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def rum(t: Template, ctx: Ctx) -> tuple[AppMonitor, IdentityPool, Role]:
    """The console's RUM app monitor, its identity pool (signed-in users only) and their role
    (PutRumEvents on this monitor only)."""
    provider = t.add_parameter(Parameter(
        "UserPoolProvider", Type="String", AllowedPattern=r"^cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9-]+_[0-9A-Za-z]+$",
        Description="The console's user pool as an identity provider (api stack output UserPoolId; filled by deploy)."))
    client_id = t.add_parameter(Parameter(
        "UserPoolClientId", Type="String", AllowedPattern=r"^[0-9a-z]{1,128}$",
        Description="The console's app client (api stack output UserPoolClientId; filled by deploy)."))
    pool = t.add_resource(controls(IdentityPool(
        "RumIdentityPool", IdentityPoolName=ctx.name("rum").replace("-", "_"), AllowUnauthenticatedIdentities=False,
        AllowClassicFlow=True, CognitoIdentityProviders=[CognitoIdentityProvider(
            ProviderName=Ref(provider), ClientId=Ref(client_id), ServerSideTokenCheck=True)]), "WKL-06"))
    monitor_name = ctx.name("console")
    trust = PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("Federated", "cognito-identity.amazonaws.com"),
        Action=[AssumeRoleWithWebIdentity],
        Condition=Condition([StringEquals("cognito-identity.amazonaws.com:aud", Ref(pool)),
                             ForAnyValueStringLike("cognito-identity.amazonaws.com:amr", "authenticated")]))])
    role = t.add_resource(controls(Role(
        "RumGuestRole", AssumeRolePolicyDocument=trust, Description="Signed-in console users: send RUM events only",
        Policies=[InlinePolicy(PolicyName="PutRumEvents", PolicyDocument=PolicyDocument(
            Version="2012-10-17", Statement=[Statement(
                Effect=Allow, Action=[AwacsAction("rum", "PutRumEvents")],
                Resource=[Sub("arn:${AWS::Partition}:rum:${AWS::Region}:${AWS::AccountId}:appmonitor/"
                              + monitor_name)])]))]), "WKL-06", "WKL-11"))
    t.add_resource(controls(IdentityPoolRoleAttachment(
        "RumIdentityPoolRoles", IdentityPoolId=Ref(pool), Roles={"authenticated": GetAtt(role, "Arn")}), "WKL-06"))
    monitor = t.add_resource(controls(AppMonitor(
        "ConsoleAppMonitor", Name=monitor_name, Domain=ctx.settings.domain, CwLogEnabled=True,
        AppMonitorConfiguration=AppMonitorConfiguration(
            AllowCookies=False, EnableXRay=False, SessionSampleRate=ctx.settings.rum_sample_rate,
            Telemetries=RUM_TELEMETRIES, IdentityPoolId=Ref(pool), GuestRoleArn=GetAtt(role, "Arn"))), "WKL-06"))
    return monitor, pool, role


def certificate(t: Template, ctx: Ctx) -> Parameter | Certificate:
    """The distribution's certificate: the configured one (checked at validation to be in this
    account, in us-east-1), or one this stack requests here, where CloudFront needs it,
    validated through DNS (automatically with `hosted_zone_id`, else by the CNAME the stack's
    events show)."""
    s = ctx.settings
    if s.certificate_arn:
        return t.add_parameter(Parameter(
            "CertificateArn", Type="String", Default=s.certificate_arn,
            AllowedPattern=r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$",
            Description=f"ACM certificate (us-east-1, this account) for {s.domain}."))
    validation = DomainValidationOption(DomainName=s.domain)
    if s.hosted_zone_id:
        validation.HostedZoneId = s.hosted_zone_id
    return t.add_resource(controls(Certificate(
        "DomainCertificate", DomainName=s.domain, ValidationMethod="DNS", DomainValidationOptions=[validation],
        KeyAlgorithm="EC_prime256v1", CertificateTransparencyLoggingPreference="ENABLED"), "WKL-01"))


@builder("workload_edge", controls=["DAT-01", "ENC-02", "ENC-04", "LOG-04", "LOG-05", "WKL-01", "WKL-03", "WKL-05", "WKL-06", "WKL-11"],
         description="CloudFront serving the console, with its WAF web ACL (us-east-1).")
def build(ctx: Ctx) -> Template:
    t = new_template(ctx, "edge (CloudFront, WAF)")
    key = key_parameter(t, ctx)
    cert = certificate(t, ctx)
    api_domain = t.add_parameter(Parameter(
        "RestApiDomain", Type="String", AllowedPattern=r"^[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com$",
        Description="Domain of the regional REST API (api stack output RestApiDomain; filled by deploy)."))

    # CloudFront standard logs are delivered through a bucket ACL grant and cannot use a
    # customer key without a key-policy grant to AWS's log-delivery account: this one
    # bucket keeps ACLs enabled (public access stays blocked) and uses SSE-S3.
    logs, _ = secure_bucket(
        t, "CloudFrontLogBucket", controls=["WKL-05"], bucket_name=ctx.bucket("cdn-logs"), kms_key_arn=None,
        access_log_bucket=access_log_bucket_name(ctx.cfg))
    logs.OwnershipControls = OwnershipControls(Rules=[OwnershipControlsRule(ObjectOwnership="BucketOwnerPreferred")])

    acl = t.add_resource(web_acl(ctx, "EdgeWebAcl", "CLOUDFRONT", ctx.name("edge")))
    waf_logging(t, ctx, acl, key, "Edge")

    oac = t.add_resource(controls(cf.OriginAccessControl(
        "ResultsOriginAccessControl", OriginAccessControlConfig=cf.OriginAccessControlConfig(
            Name=ctx.name("results"), OriginAccessControlOriginType="s3", SigningBehavior="always",
            SigningProtocol="sigv4", Description="CloudFront reads the results bucket with SigV4")), "WKL-01", "WKL-03"))
    headers = t.add_resource(controls(cf.ResponseHeadersPolicy(
        "SecurityHeaders", ResponseHeadersPolicyConfig=cf.ResponseHeadersPolicyConfig(
            Name=ctx.name("security-headers"), Comment="HSTS, CSP, frame denial, nosniff, referrer policy",
            SecurityHeadersConfig=cf.SecurityHeadersConfig(
                StrictTransportSecurity=cf.StrictTransportSecurity(
                    AccessControlMaxAgeSec=63072000, IncludeSubdomains=True, Preload=True, Override=True),
                ContentTypeOptions=cf.ContentTypeOptions(Override=True),
                FrameOptions=cf.FrameOptions(FrameOption="DENY", Override=True),
                ReferrerPolicy=cf.ReferrerPolicy(ReferrerPolicy="strict-origin-when-cross-origin", Override=True),
                XSSProtection=cf.XSSProtection(Protection=True, ModeBlock=True, Override=True),
                ContentSecurityPolicy=cf.ContentSecurityPolicy(ContentSecurityPolicy=CONTENT_SECURITY_POLICY,
                                                               Override=True)))), "WKL-01"))

    results_domain = Sub(ctx.bucket("results", ctx.region) + f".s3.{ctx.region}.amazonaws.com")
    api_behaviours = [cf.CacheBehavior(
        PathPattern=path, TargetOriginId="api", ViewerProtocolPolicy="https-only",
        AllowedMethods=["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"], CachedMethods=["GET", "HEAD"],
        CachePolicyId=CACHING_DISABLED, OriginRequestPolicyId=ALL_VIEWER_EXCEPT_HOST,
        ResponseHeadersPolicyId=Ref(headers), Compress=True) for path in API_PATHS]
    distribution = controls(cf.Distribution("Distribution", DistributionConfig=cf.DistributionConfig(
        Comment=f"{ctx.prefix} frontend and API", Enabled=True, Aliases=[ctx.settings.domain],
        DefaultRootObject="index.html", HttpVersion="http2and3", IPV6Enabled=True, PriceClass="PriceClass_100",
        WebACLId=GetAtt(acl, "Arn"),
        ViewerCertificate=cf.ViewerCertificate(AcmCertificateArn=Ref(cert), SslSupportMethod="sni-only",
                                               MinimumProtocolVersion="TLSv1.2_2021"),
        Origins=[
            cf.Origin(Id="results", DomainName=results_domain, OriginAccessControlId=GetAtt(oac, "Id"),
                      OriginPath=f"/{CONSOLE_PREFIX}", S3OriginConfig=cf.S3OriginConfig(OriginAccessIdentity="")),
            cf.Origin(Id="api", DomainName=Ref(api_domain), OriginPath=f"/{ctx.env}",
                      CustomOriginConfig=cf.CustomOriginConfig(OriginProtocolPolicy="https-only",
                                                               OriginSSLProtocols=["TLSv1.2"])),
        ],
        DefaultCacheBehavior=cf.DefaultCacheBehavior(
            TargetOriginId="results", ViewerProtocolPolicy="redirect-to-https", AllowedMethods=["GET", "HEAD"],
            CachePolicyId=CACHING_OPTIMIZED, ResponseHeadersPolicyId=Ref(headers), Compress=True),
        CacheBehaviors=api_behaviours,
        # No CustomErrorResponses: CloudFront applies them to every behaviour, so the API's JSON
        # errors (404, the authorizer's 403, 5xx) would become the console's HTML pages. The
        # console routes by URL hash, so no path needs index.html as a fallback.
        Logging=cf.Logging(Bucket=GetAtt(logs, "DomainName"), Prefix="cloudfront/", IncludeCookies=False),
        Restrictions=cf.Restrictions(GeoRestriction=cf.GeoRestriction(RestrictionType="none")),
    )), "WKL-01", "WKL-05")
    t.add_resource(distribution)
    monitor, pool, role = rum(t, ctx)
    t.add_output(Output("DistributionDomain", Value=GetAtt(distribution, "DomainName")))
    t.add_output(Output("AppMonitorId", Value=GetAtt(monitor, "Id")))
    t.add_output(Output("RumIdentityPoolId", Value=Ref(pool)))
    t.add_output(Output("RumGuestRoleArn", Value=GetAtt(role, "Arn")))
    t.add_output(Output("DistributionId", Value=Ref(distribution)))
    return t
