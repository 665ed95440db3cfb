"""Every runbook renders for both examples with no undefined variable, naming real things."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.landing_zone.config import load_config
from charter.landing_zone.synth import synthesize
from charter.runbooks.context import build_context
from charter.runbooks.render import render_all, render_markdown, runbook_ids

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPECTED = {
    "incident-response", "security-event-triage", "disaster-recovery", "kms-key-management", "access-review",
    "change-management", "account-vending", "account-closure", "evidence-export", "break-glass",
}


@pytest.fixture(scope="module", params=["small", "large"])
def context(request):
    cfg = load_config(EXAMPLES / request.param / "org.yaml")
    return cfg, build_context(cfg, synthesize(cfg), config_path=f"examples/{request.param}/org.yaml",
                              controls_by_runbook={"access-review": [{"id": "IAM-09", "title": "Quarterly access review"}]})


def test_issue_runbooks_exist() -> None:
    assert EXPECTED <= set(runbook_ids())


def test_every_runbook_renders_strictly(context) -> None:
    cfg, ctx = context
    for rid in runbook_ids():
        text = render_markdown(rid, ctx)  # StrictUndefined raises on any unknown name
        assert text.startswith("# ") and cfg.organization.name in text.splitlines()[0]


def test_runbooks_name_real_things(context) -> None:
    cfg, ctx = context
    dr = render_markdown("disaster-recovery", ctx)
    assert cfg.dr_region in dr and "| prod | 5 min | 1 h | continuous backup" in dr and "| dev | 1 d | 3 d |" in dr
    assert "`log-archive-replica`" in dr and cfg.account("log-archive").name in dr
    review = render_markdown("access-review", ctx)
    assert all(str(a.owner) in review for a in cfg.accounts)
    assert "IAM-09" in review  # the controls it operates are listed
    assert cfg.security_contact in render_markdown("incident-response", ctx)


def test_render_all_writes_markdown_html_and_index(context, tmp_path: Path) -> None:
    _, ctx = context
    written = render_all(ctx, tmp_path)
    assert (tmp_path / "index.html").exists()
    for rid in runbook_ids():
        html = (tmp_path / f"{rid}.html").read_text()
        assert "<h1" in html and 'href="index.html"' in html
    assert len(written) == 2 * len(runbook_ids()) + 2


def test_unknown_runbook_is_a_clear_error(context) -> None:
    from charter.errors import CharterError

    with pytest.raises(CharterError) as info:
        render_markdown("no-such-runbook", context[1])
    assert "available: " in info.value.render() and "incident-response" in info.value.render()
