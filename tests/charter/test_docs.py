"""Generated docs: architecture SVG from the org, CLI reference, deploy guide, troubleshooting."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from charter.docs.build import _load_error_modules, build_docs
from charter.errors import all_error_classes
from charter.landing_zone.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("example", ["small", "large"])
def test_docs_build_for_each_example(example: str, tmp_path: Path) -> None:
    cfg = load_config(EXAMPLES / example / "org.yaml")
    build_docs(cfg, tmp_path, config_path=f"examples/{example}/org.yaml")
    svg = ET.parse(tmp_path / "architecture.svg").getroot()  # well-formed SVG
    texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    for acct in cfg.accounts:
        assert acct.name in texts
    reference = (tmp_path / "cli-reference.md").read_text()
    for command in ("charter synth", "charter lint", "charter validate", "charter runbooks render"):
        assert f"`{command}`" in reference
    guide = (tmp_path / "deploy-guide.md").read_text()
    assert cfg.scps.admin_role in guide and "charter deploy" in guide


def test_every_error_code_is_unique_and_has_a_fix() -> None:
    _load_error_modules()
    classes = all_error_classes()
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    assert all(c.fix and c.code.startswith("CHARTER-") for c in classes)


ARCH_PROBE = """
  var svg = document.querySelector("svg");
  var vb = svg.viewBox.baseVal, outside = [], overflowing = [];
  svg.querySelectorAll("text").forEach(function (t) {
    var b = t.getBBox();
    if (b.x < 0 || b.y < 0 || b.x + b.width > vb.width + 0.5 || b.y + b.height > vb.height + 0.5) {
      outside.push(t.textContent);
    }
  });
  svg.querySelectorAll("g.account").forEach(function (g) {
    var r = g.querySelector("rect").getBBox();
    g.querySelectorAll("text").forEach(function (t) {
      var b = t.getBBox();
      if (b.x + b.width > r.x + r.width + 0.5 || b.y + b.height > r.y + r.height + 0.5) {
        overflowing.push(g.getAttribute("data-key") + ": " + t.textContent);
      }
    });
  });
  return {width: vb.width, outside: outside, overflowing: overflowing,
          flows: Array.prototype.map.call(svg.querySelectorAll("g.flow"), function (f) { return f.getAttribute("data-flow"); }),
          accounts: Array.prototype.map.call(svg.querySelectorAll("g.account"), function (g) { return g.getAttribute("data-key"); }),
          scrollWidth: document.documentElement.scrollWidth};
"""


@pytest.mark.parametrize("example", ["small", "large"])
def test_architecture_diagram_draws_the_accounts_services_flows_and_regions_and_fits(example: str,
                                                                                      tmp_path: Path) -> None:
    from chromium_page import CHROMIUM, SKIP_REASON, load_in_chromium

    from charter.docs.architecture import render_svg
    from charter.landing_zone.synth import build_plan, synthesize

    if CHROMIUM is None:
        pytest.skip(SKIP_REASON)
    cfg = load_config(EXAMPLES / example / "org.yaml")
    svg = render_svg(cfg, build_plan(cfg, synthesize(cfg)).stacks)
    root = ET.fromstring(svg)
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    # the real architecture: core accounts and their services, the data flows, every region
    for needle in ("Management account", "Log archive", "Security", "Audit", "GuardDuty", "Security Hub",
                   "Evidence bucket", "KMS signing key", "CloudTrail", "CharterEvidenceReader", "Data flows"):
        assert needle in texts, needle
    for region in cfg.organization.governed_regions:
        assert region in texts
    page = tmp_path / "architecture.html"
    page.write_text(f"<!doctype html><html><head><title>a</title></head><body style='margin:0;max-width:70rem'>"
                    f"{svg}</body></html>")
    _, errors, console, got = load_in_chromium(page, tmp_path, ARCH_PROBE)
    assert errors == [] and console == []
    assert got["width"] <= 1120  # a 70rem documentation column, unscaled
    assert got["outside"] == [] and got["overflowing"] == [], got
    assert set(got["flows"]) == {"deploy", "logs", "findings", "evidence"}
    assert {"management", "log-archive", "security", "audit"} <= set(got["accounts"])
    environments = {a.environment for a in cfg.accounts} - {"log-archive", "security", "audit"}
    assert environments <= set(got["accounts"])
    assert got["scrollWidth"] <= 1280


def test_the_guide_says_how_a_workload_goes_from_an_empty_account_to_a_first_job(tmp_path: Path) -> None:
    """Issue #26, 3: every `charter workload` command of the section parses as the CLI has it,
    in the order that works on an empty account: zips, plan, deploy, push, deploy the image."""
    import shlex

    import typer.main

    from charter.cli import app

    cfg = load_config(EXAMPLES / "small" / "org.yaml")
    build_docs(cfg, tmp_path, config_path="examples/small/org.yaml")
    guide = (tmp_path / "deploy-guide.md").read_text()
    section = guide.split("## First workload deploy: optimizer (dev)")[1].split("\n## ")[0]
    lines = [ln.split("  #")[0].strip() for ln in section.splitlines()]
    steps = [ln for ln in lines if ln.startswith(("charter ", "docker push", "aws cognito-idp"))]
    assert [s.split()[:3] for s in steps] == [
        ["charter", "workload", "package"], ["charter", "workload", "plan"], ["charter", "workload", "deploy"],
        ["docker", "push", '"$REGISTRY/acme-dev-optimizer-risk:v1"'], ["charter", "workload", "deploy"],
        ["aws", "cognito-idp", "admin-create-user"]]
    assert "--image-tag v1" in steps[4] and "--image-tag" not in steps[2]
    group = typer.main.get_command(app).commands["workload"]  # type: ignore[attr-defined]
    for step in (s for s in steps if s.startswith("charter")):
        args = shlex.split(step.replace("<management-profile>", "mgmt"))[2:]
        command = group.commands[args[0]]
        command.make_context(args[0], args[1:])  # raises on an option the CLI does not have
    assert "charter-optimizer-dev-api" in section and "https://optimizer.dev.acme-corp.example/" in section
