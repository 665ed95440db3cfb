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
