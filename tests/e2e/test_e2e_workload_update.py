"""`charter workload deploy --endpoint-url` on top of a landing zone on a running embedded
AWS, then again after org.yaml changes: the stacks are updated in place, with no failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.local import LocalAws

SMALL = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


@pytest.mark.slow
def test_workload_stacks_update_in_place_after_a_config_change(tmp_path: Path) -> None:
    changed = tmp_path / "org.yaml"
    text = SMALL.read_text()
    assert "        processing_max_instances: 4\n" in text
    # an explicit budget replaces the estimated one, and prod-style warm functions appear in dev
    changed.write_text(text.replace("        processing_max_instances: 4\n",
                                    "        processing_max_instances: 4\n        monthly_budget_usd: 750\n"
                                    "        provisioned_concurrency: 2\n"))
    runner = CliRunner()
    with LocalAws() as aws:
        at = ["--endpoint-url", aws.endpoint_url]
        assert runner.invoke(app, ["deploy", "-c", str(SMALL), *at]).exit_code == 0
        wl = ["workload", "deploy", "optimizer", "--env", "dev", "-o", str(tmp_path / "wl"), *at]
        first = runner.invoke(app, [*wl, "-c", str(SMALL)])
        assert first.exit_code == 0, first.output
        second = runner.invoke(app, [*wl, "-c", str(changed)])
        assert second.exit_code == 0, second.output
        assert "0 failure(s)" in second.output
        out = " ".join(second.output.split())
        assert "update stack charter-optimizer-dev-compute" in out and "update stack charter-optimizer-dev-cost" in out
        dev = {"account_id": _dev_account(aws), "role_name": "OrganizationAccountAccessRole"}
        cfn = aws.sessions().client("cloudformation", **dev)
        stack = cfn.describe_stacks(StackName="charter-optimizer-dev-compute")["Stacks"][0]
        assert stack["StackStatus"] == "UPDATE_COMPLETE"
        assert "ProvisionedConcurrencyConfig" in cfn.get_template(StackName=stack["StackId"])["TemplateBody"]
        # the aliases the update replaced exist once each (moto lacks provisioned concurrency itself)
        lam = aws.sessions().client("lambda", **dev)
        assert [a["Name"] for a in lam.list_aliases(FunctionName="acme-dev-optimizer-submit")["Aliases"]] == ["dev"]


def _dev_account(aws: LocalAws) -> str:
    accounts = aws.sessions().client("organizations").list_accounts()["Accounts"]
    return next(a["Id"] for a in accounts if a["Name"] == "dev")
