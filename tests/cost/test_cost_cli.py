"""`charter cost` as a user runs it: formats, environment filter, gates, what-ifs and bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest
from cli_testkit import run_cli
from costkit import LARGE, SMALL
from typer.testing import CliRunner

from charter.cli import app
from charter.cost.lines import COLUMNS


@pytest.fixture(scope="module")
def small_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("cost") / "small.json"
    result = CliRunner().invoke(app, ["cost", "-c", str(SMALL), "--output", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def test_json_has_every_line_and_the_breakdowns(small_json):
    doc = small_json
    lines = doc["lines"]
    assert doc["unknown_lines"] == 0 and len(lines) > 500
    assert set(lines[0]) == set(COLUMNS)
    assert doc["monthly_usd"] == pytest.approx(sum(x["monthly_usd"] for x in lines), abs=0.01)
    for name in ("environment", "account", "stack", "service", "region"):
        assert sum(doc[f"by_{name}"].values()) == pytest.approx(doc["monthly_usd"], abs=0.05)
    assert {"prod", "staging", "dev", "management", "log-archive", "audit", "security"} == set(doc["by_environment"])
    assert doc["by_control"]["NET-01"] > 0  # NAT gateways carry NET-01
    assert doc["prices"]["as_of"] == "2025-01-15"
    assert len(doc["drivers"]) == 10 and all(d["setting"] for d in doc["drivers"])
    assert doc["drivers"] == sorted(doc["drivers"], key=lambda d: -d["monthly_usd"])
    monthly, *per_opt = doc["checks"]
    assert monthly == {"target": "monthly", "estimate_usd": pytest.approx(doc["monthly_usd"], abs=0.005), "limit_usd": 5000,
                       "holds": True}
    assert {c["target"] for c in per_opt} == {f"per optimization ({e})" for e in ("dev", "staging", "prod")}
    assert all(c["holds"] and c["limit_usd"] == 10 for c in per_opt)
    assert set(doc["per_optimization_lines"]) == {"dev", "staging", "prod"}


def test_csv_and_markdown(tmp_path, small_json):
    runner = CliRunner()
    out = tmp_path / "c.csv"
    assert runner.invoke(app, ["cost", "-c", str(SMALL), "-f", "csv", "-o", str(out)]).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    monthly = [r for r in rows if r["scope"] == "monthly"]
    assert len(monthly) == len(small_json["lines"])
    assert sum(float(r["monthly_usd"]) for r in monthly) == pytest.approx(small_json["monthly_usd"], abs=0.01)
    assert {r["scope"] for r in rows} == {"monthly", "per-optimization"}
    md = runner.invoke(app, ["cost", "-c", str(SMALL), "-f", "md"]).output
    for heading in ("## Targets", "## Top drivers", "## By environment", "## By control", "## One optimization",
                    "### prod:", "## Largest lines"):
        assert heading in md
    assert "| monthly | $" in md and "every line is priced" in md


def test_environment_filter_and_gates(capsys):
    code, out, _ = run_cli(capsys, "cost", "-c", str(SMALL), "--env", "prod", "-f", "json")
    doc = json.loads(out)
    assert code == 0 and {x["environment"] for x in doc["lines"]} == {"prod"}
    assert list(doc["per_optimization"]) == ["prod"]
    code, _, err = run_cli(capsys, "cost", "-c", str(SMALL), "--env", "prod", "--fail-over", "100",
                           "--fail-over-per-optimization", "0.01", "-f", "json")
    assert code == 1
    assert "exceeds --fail-over $100.00" in err and "one optimization in prod costs" in err
    code, _, err = run_cli(capsys, "cost", "-c", str(SMALL), "--env", "qa")
    assert code == 2 and "--env qa: no account" in err


def test_what_if_prices_settings_without_editing_org_yaml(tmp_path, capsys, small_json):
    what = tmp_path / "lean.yaml"
    what.write_text("baseline:\n  network:\n    nat_gateways: {prod: single}\n")
    code, out, _ = run_cli(capsys, "cost", "-c", str(SMALL), "--what-if", str(what), "-f", "json")
    assert code == 0
    # prod keeps one of its three NAT gateways: two fewer gateway-hours and addresses, 730 h x
    # ($0.045 + $0.005) each; the NAT data is the same GB through fewer gateways
    assert json.loads(out)["monthly_usd"] == pytest.approx(small_json["monthly_usd"] - 2 * 730 * 0.05, abs=0.02)
    what.write_text("baseline:\n  network:\n    nat_gatways: {prod: single}\n")
    code, _, err = run_cli(capsys, "cost", "-c", str(SMALL), "--what-if", str(what))
    assert code == 2 and "baseline.network.nat_gatways: unknown key" in err


def test_a_missing_price_file_is_bad_input(tmp_path, capsys):
    code, _, err = run_cli(capsys, "cost", "-c", str(SMALL), "--prices", str(tmp_path / "none.json"))
    assert code == 2 and "cannot read the price snapshot" in err


def test_the_large_example_misses_the_monthly_target(capsys):
    code, out, err = run_cli(capsys, "cost", "-c", str(LARGE), "-f", "json", "--fail-over", "5000")
    doc = json.loads(out)
    assert code == 1 and "exceeds --fail-over $5,000.00" in err
    assert doc["unknown_lines"] == 0 and doc["per_optimization"] == {}
    # 59 VPCs with six interface endpoints in three AZs: the first driver
    assert doc["drivers"][0]["dimension"] == "interface endpoint hours"
    assert doc["drivers"][0]["monthly_usd"] == pytest.approx(59 * 6 * 3 * 730 * 0.01, rel=0.02)
