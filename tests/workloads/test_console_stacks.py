"""What the console needs from the synthesized stacks: the edge stack's RUM (sampling from
org.yaml, an identity pool of signed-in users only, a role that can only PutRumEvents on this
monitor), CloudFront serving console/ and routing the console's API paths, and the api stack's
hosted-UI sign-in (code grant for a public client, back to the environment's domain only)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from charter.landing_zone.config import load_config
from charter.workloads.stacks import api, compute, edge
from charter.workloads.stacks._common import Ctx


@pytest.fixture(scope="module")
def ctx(small_config_path) -> Ctx:
    text = small_config_path.read_text().replace("        processing_max_instances: 4\n",
                                                 "        processing_max_instances: 4\n        rum_sample_rate: 0.25\n")
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "org.yaml"
    path.write_text(text)
    return Ctx(load_config(path), "dev")


def _resources(template: Any, kind: str) -> dict[str, dict]:
    data = json.loads(template.to_json())
    return {k: v for k, v in data["Resources"].items() if v["Type"] == kind}


def test_rum_app_monitor_samples_at_the_configured_rate_for_signed_in_users_only(ctx: Ctx) -> None:
    t = edge.build(ctx)
    (monitor,) = _resources(t, "AWS::RUM::AppMonitor").values()
    conf = monitor["Properties"]["AppMonitorConfiguration"]
    assert conf["SessionSampleRate"] == 0.25
    assert monitor["Properties"]["Domain"] == ctx.settings.domain and conf["AllowCookies"] is False
    (pool,) = _resources(t, "AWS::Cognito::IdentityPool").values()
    assert pool["Properties"]["AllowUnauthenticatedIdentities"] is False
    assert [p["ClientId"] for p in pool["Properties"]["CognitoIdentityProviders"]] == [{"Ref": "UserPoolClientId"}]
    role = _resources(t, "AWS::IAM::Role")["RumGuestRole"]["Properties"]
    (statement,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["rum:PutRumEvents"]
    assert statement["Resource"][0]["Fn::Sub"].endswith(f":appmonitor/{monitor['Properties']['Name']}")
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"]["ForAnyValue:StringLike"]["cognito-identity.amazonaws.com:amr"] == "authenticated"
    (attachment,) = _resources(t, "AWS::Cognito::IdentityPoolRoleAttachment").values()
    assert set(attachment["Properties"]["Roles"]) == {"authenticated"}


def test_cloudfront_serves_only_the_console_prefix_and_routes_the_console_api(ctx: Ctx) -> None:
    (dist,) = _resources(edge.build(ctx), "AWS::CloudFront::Distribution").values()
    config = dist["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    bucket = next(o for o in config["Origins"] if o["Id"] == "results")
    assert bucket["OriginPath"] == "/console"
    api_paths = {b["PathPattern"] for b in config["CacheBehaviors"] if b["TargetOriginId"] == "api"}
    assert {"/jobs", "/jobs/*", "/compliance/*", "/optimize"} <= api_paths
    csp = edge.CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in csp and "https://*.amazoncognito.com" in csp and "unsafe-inline" not in csp


def test_hosted_ui_sign_in_is_a_code_grant_for_a_public_client_back_to_the_console(ctx: Ctx) -> None:
    t = api.build(ctx)
    (client,) = _resources(t, "AWS::Cognito::UserPoolClient").values()
    p = client["Properties"]
    assert p["GenerateSecret"] is False and p["AllowedOAuthFlows"] == ["code"]  # PKCE: the app sends S256
    assert p["CallbackURLs"] == [f"https://{ctx.settings.domain}/"] == p["LogoutURLs"]
    assert "implicit" not in json.dumps(p)
    assert _resources(t, "AWS::Cognito::UserPoolDomain")
    groups = {g["Properties"]["GroupName"] for g in _resources(t, "AWS::Cognito::UserPoolGroup").values()}
    assert groups == {"portfolio-managers", "compliance"}
    methods = _resources(t, "AWS::ApiGateway::Method")
    for name in ("ListJobs", "GetComplianceSummary", "GetComplianceArtifact"):
        m = methods[name]["Properties"]
        assert m["AuthorizationType"] == "CUSTOM" and m["ApiKeyRequired"] is True  # Cognito token, per-user key


def test_the_console_functions_have_least_privilege(ctx: Ctx) -> None:
    fns = {f.short: f for f in compute.FUNCTIONS}
    assert fns["jobs"].handler.endswith("api.jobs") and fns["compliance"].handler.endswith("compliance.handler")
    from troposphere import encode_to_dict

    text = json.dumps(encode_to_dict(compute._permissions(ctx, fns["compliance"])))
    assert "s3:GetObject" in text and "/compliance/*" in text and "dynamodb" not in text
    text = json.dumps(encode_to_dict(compute._permissions(ctx, fns["jobs"])))
    assert "dynamodb:Query" in text and "PutItem" not in text and "/index/*" in text
