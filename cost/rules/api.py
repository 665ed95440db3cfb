"""API Gateway (REST, WebSocket, cache), WAF, CloudFront and its ACM certificate, and Cognito."""

from __future__ import annotations

from collections.abc import Iterator

from ..engine import HOURS_PER_MONTH, Res, rule
from ..lines import Line


@rule("AWS::ApiGateway::Stage")
def rest_stage(r: Res) -> Iterator[Line]:
    req = r.usage("api_requests_per_month")
    yield r.line("API Gateway", "REST API requests", "apigateway.rest.requests", req.value, req.text, req.setting)
    if r.props.get("CacheClusterEnabled"):
        size = str(r.props.get("CacheClusterSize", "0.5"))
        yield r.line("API Gateway", f"API cache ({size} GB)", f"apigateway.cache.{size}.hours", HOURS_PER_MONTH,
                     "730 hours (always on)", "the api stack's CacheClusterEnabled")


@rule("AWS::ApiGatewayV2::Stage")
def v2_stage(r: Res) -> Iterator[Line]:
    api_id = r.props.get("ApiId")
    api = {}
    if isinstance(api_id, dict) and "Ref" in api_id:
        api = r.p.template.get("Resources", {}).get(api_id["Ref"], {}).get("Properties", {})
    if api.get("ProtocolType") == "WEBSOCKET":
        msgs, mins = r.usage("websocket_messages_per_month"), r.usage("websocket_connection_minutes_per_month")
        yield r.line("API Gateway", "WebSocket messages", "apigateway.websocket.messages", msgs.value, msgs.text,
                     msgs.setting)
        yield r.line("API Gateway", "WebSocket connection minutes", "apigateway.websocket.minutes", mins.value,
                     mins.text, mins.setting)
    else:
        req = r.usage("api_requests_per_month")
        yield r.line("API Gateway", "HTTP API requests", "apigateway.http.requests", req.value, req.text, req.setting)


@rule("AWS::WAFv2::WebACL")
def web_acl(r: Res) -> Iterator[Line]:
    rules = r.props.get("Rules") or []
    scope = r.props.get("Scope", "REGIONAL")
    # CloudFront-scoped web ACLs are billed in us-east-1 whatever the stack's region
    region = "us-east-1" if scope == "CLOUDFRONT" else None
    yield r.line("WAF", "web ACL", "waf.web_acl.month", 1, "1 web ACL-month", "", region=region)
    yield r.line("WAF", "rules and managed rule groups", "waf.rule.month", len(rules),
                 f"{len(rules)} rule(s) in the web ACL", "", region=region)
    req = r.usage("api_requests_per_month")
    yield r.line("WAF", f"requests inspected ({scope.lower()})", "waf.requests", req.value, req.text, req.setting,
                 region=region)


@rule("AWS::CloudFront::Distribution")
def distribution(r: Res) -> Iterator[Line]:
    gb, req = r.usage("cdn_gb_per_month"), r.usage("api_requests_per_month")
    yield r.line("CloudFront", "data transfer out (North America)", "cloudfront.data_out.gb", gb.value, gb.text,
                 gb.setting)
    yield r.line("CloudFront", "HTTPS requests", "cloudfront.https_requests", req.value,
                 f"{req.text} (every API request passes the edge)", req.setting)


@rule("AWS::CertificateManager::Certificate")
def certificate(r: Res) -> Iterator[Line]:
    """A public certificate ACM issues and renews for an AWS service (CloudFront here) is free.
    A private one (AWS Private CA) or an exportable public one is billed, at prices the
    snapshot does not hold: those become lines with an unknown price, never zero."""
    if r.props.get("CertificateAuthorityArn"):
        yield r.line("ACM", "private certificate (AWS Private CA)", "acm.private_certificate", 1, "1 certificate",
                     "the certificate's CertificateAuthorityArn")
    elif str(r.props.get("CertificateExport", "")).upper() == "ENABLED":
        yield r.line("ACM", "exportable public certificate", "acm.exportable_certificate", 1, "1 certificate",
                     "the certificate's CertificateExport")


@rule("AWS::Cognito::UserPool")
def user_pool(r: Res) -> Iterator[Line]:
    tier = str(r.props.get("UserPoolTier", "ESSENTIALS")).lower()
    mau = r.usage("monthly_active_users")
    free = 0 if tier == "plus" else 10_000  # Lite and Essentials include 10,000 MAU a month
    billed = max(0.0, mau.value - free)
    why = mau.text + (f" minus {free:,} included" if free else "")
    yield r.line("Cognito", f"monthly active users ({tier} tier)", f"cognito.mau.{tier}", billed, why, mau.setting)


@rule("AWS::RUM::AppMonitor")
def rum_app_monitor(r: Res) -> Iterator[Line]:
    views, per_view = r.usage("console_page_views_per_month"), r.usage("rum_events_per_page_view")
    rate = float(r.resolve((r.props.get("AppMonitorConfiguration") or {}).get("SessionSampleRate")) or 0.0)
    events = views.value * per_view.value * rate
    yield r.line("CloudWatch RUM", "RUM events (sampled page views)", "rum.events", events,
                 f"{views.text} x {per_view.text} x session sample rate {rate:g}",
                 f"{views.setting}; {per_view.setting}; workloads.optimizer.environments.<env>.rum_sample_rate")
