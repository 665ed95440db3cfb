"""`charter preflight -c org.yaml` in text: the one-line summary counts what `--output json`
reports (needs, trust links, principals, denials), exit 0 for the small example; `--notes` adds
only the notes JSON lists (the small example has none)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from charter.cli import app

SMALL = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


def test_preflight_text_summary_counts_what_json_reports() -> None:
    as_json = CliRunner().invoke(app, ["preflight", "-c", str(SMALL), "--output", "json"])
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.stdout)
    assert doc["denials"] == [] and doc["needs"] > 0 and doc["principals"] > 0, doc

    text = CliRunner().invoke(app, ["preflight", "-c", str(SMALL), "--notes"])
    assert text.exit_code == 0, text.output
    flat = " ".join(text.stdout.split())
    assert f"preflight: {doc['needs']} needs and {doc['trust_links']} trust links of {doc['principals']} principals " \
           "evaluated, 0 denials" in flat
    shown = [line for line in text.stdout.splitlines() if line.startswith("note: ")]
    assert len(shown) == len(doc["notes"])
