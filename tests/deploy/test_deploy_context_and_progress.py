"""Deploy-time names and values: account ids read back as the names org.yaml uses, `${...}`
references in API-step parameters filled at any depth; and the live progress view on a
terminal, one row per StackSet operation with its instances done and failed."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from charter.landing_zone.config import load_config
from charter.landing_zone.deploy.context import DeployContext
from charter.landing_zone.deploy.progress import OperationProgress

REPO = Path(__file__).resolve().parents[2]


def test_ids_read_back_as_names_and_references_are_filled_at_any_depth() -> None:
    cfg = load_config(REPO / "examples" / "small" / "org.yaml")
    ctx = DeployContext(organization_id="o-abcdefghij", management_account_id="999999999999",
                        account_ids={"security": "222222222222", "prod": "333333333333"})
    assert ctx.account_name("999999999999") == "management"
    assert ctx.account_name("333333333333") == "prod"
    assert ctx.account_name("444444444444") == "444444444444"  # not Charter's: shown as its id
    params = {"AdminAccountId": "${SecurityAccountId}",
              "Members": [{"AccountId": "${account:prod}", "Note": "in ${OrganizationId}"}, 7],
              "Enabled": True}
    assert ctx.substitute(params, cfg) == {
        "AdminAccountId": "222222222222",
        "Members": [{"AccountId": "333333333333", "Note": "in o-abcdefghij"}, 7],
        "Enabled": True}


def test_the_live_view_draws_a_row_per_operation_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with OperationProgress(console) as progress:
        assert progress.live
        task = progress.start("charter-kms create", 4)
        progress.update(task, done=3, failed=1)
        progress.finish(task, "FAILED")
    drawn = out.getvalue()
    assert "charter-kms create" in drawn and "1 failed" in drawn and "FAILED" in drawn
