"""`charter workload deploy --local`: the console lands in the edge bucket with a config.json
that names the deployed user pool, its hosted-UI domain, the WebSocket API and the RUM app
monitor, and CloudFront serves that prefix (`console/`) and nothing else of the bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.local import LocalAws

pytestmark = pytest.mark.e2e
SMALL = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


def test_workload_deploy_uploads_the_console_with_its_aws_config(tmp_path: Path) -> None:
    from charter.landing_zone.config import load_config
    from charter.workloads.console import dist_dir
    from charter.workloads.stacks._common import Ctx

    cfg = load_config(SMALL)
    ctx = Ctx(cfg, "dev")
    with LocalAws() as aws:
        result = CliRunner().invoke(app, ["workload", "deploy", "optimizer", "--env", "dev", "-c", str(SMALL),
                                          "-o", str(tmp_path / "wl"), "--endpoint-url", aws.endpoint_url])
        assert result.exit_code == 0, result.output
        assert "upload stack s3://" in " ".join(result.output.split())
        accounts = aws.sessions().client("organizations").list_accounts()["Accounts"]
        dev = {"account_id": next(a["Id"] for a in accounts if a["Name"] == "dev"),
               "role_name": "OrganizationAccountAccessRole"}
        s3 = aws.sessions().client("s3", **dev)
        bucket = f"{ctx.prefix}-results-{dev['account_id']}-{ctx.region}"
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="console/")["Contents"]}
        built = {f"console/{p.relative_to(dist_dir()).as_posix()}" for p in dist_dir().rglob("*") if p.is_file()}
        assert built <= keys and {"console/config.json", "console/openapi.json", "console/errors/404.html"} <= keys
        index = s3.get_object(Bucket=bucket, Key="console/index.html")
        assert index["ContentType"].startswith("text/html") and index["CacheControl"] == "no-cache"
        asset = next(k for k in keys if k.startswith("console/assets/") and k.endswith(".js"))
        assert "immutable" in s3.get_object(Bucket=bucket, Key=asset)["CacheControl"]

        config = json.loads(s3.get_object(Bucket=bucket, Key="console/config.json")["Body"].read())
        cfn = aws.sessions().client("cloudformation", **dev)
        out = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(
            StackName="charter-optimizer-dev-api")["Stacks"][0]["Outputs"]}
        edge = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(
            StackName="charter-optimizer-dev-edge")["Stacks"][0]["Outputs"]}
        assert config["identity"] == {"kind": "cognito", "domain": f"https://{out['UserPoolDomain']}",
                                      "client_id": out["UserPoolClientId"], "user_pool_id": out["UserPoolId"]}
        assert out["UserPoolDomain"].endswith(".auth.us-east-1.amazoncognito.com")
        assert config["api"]["websocket"] == f"wss://{out['WebSocketApiId']}.execute-api.us-east-1.amazonaws.com/dev"
        assert config["api"]["key"] is None  # no shared key: each user's comes from the REST authorizer
        assert config["rum"]["app_monitor_id"] == edge["AppMonitorId"]
        assert config["rum"]["sample_rate"] == cfg.workloads.optimizer.environments["dev"].rum_sample_rate
        assert config["rum"]["user_pool_provider"].endswith(out["UserPoolId"])
        # the identity pool trusts the console's user pool, and only it
        pool = aws.sessions().client("cognito-identity", **dev).describe_identity_pool(
            IdentityPoolId=edge["RumIdentityPoolId"])
        assert pool["AllowUnauthenticatedIdentities"] is False
        assert [p["ClientId"] for p in pool["CognitoIdentityProviders"]] == [out["UserPoolClientId"]]
        dist = aws.sessions().client("cloudfront", **dev).get_distribution(Id=edge["DistributionId"])
        origins = dist["Distribution"]["DistributionConfig"]["Origins"]["Items"]
        assert next(o for o in origins if o["Id"] == "results")["OriginPath"] == "/console"
