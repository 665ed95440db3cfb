"""`charter plan` shows the landing zone's monthly estimate and what changed since the last deploy."""

from __future__ import annotations

import json
import re

from cli_testkit import run_cli
from costkit import SMALL

from charter.commands.cost import record_deployed_cost
from charter.landing_zone.config import load_config


def test_plan_shows_the_cost_delta_since_the_last_deploy(tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = run_cli(capsys, "plan", "-c", str(SMALL), "-o", str(out), "--offline")
    assert code == 0
    first = re.search(r"cost: \$([\d,.]+) a month for the landing zone; no deploy recorded", stdout)
    assert first, stdout

    # what was deployed last had one NAT gateway in prod instead of three
    before = tmp_path / "before.yaml"
    before.write_text(SMALL.read_text().replace("      cidr: 10.10.0.0/16\n",
                                                "      cidr: 10.10.0.0/16\n      nat_gateways: single\n"))
    assert run_cli(capsys, "synth", "-c", str(before), "-o", str(out))[0] == 0
    record_deployed_cost(load_config(before), out)
    recorded = json.loads((out / ".charter" / "cost-deployed.json").read_text())
    assert recorded["by_stack"]["network"] > 0

    code, stdout, _ = run_cli(capsys, "plan", "-c", str(SMALL), "-o", str(out), "--offline")
    line = next(x for x in stdout.splitlines() if x.startswith("cost:"))
    # two more gateways, each 730 h x ($0.045 + $0.005 for its address)
    assert line.endswith("+$73.00 since the last deploy (network +$73.00)"), line
    assert first.group(1) in line
