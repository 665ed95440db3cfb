"""Commands as a user types them (in-process, through `charter`'s own entry point): what each
writes or prints, its exit code, and the message of a mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_testkit import flat
from troposphere import Template
from troposphere.s3 import Bucket

from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.synth import dump_yaml

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"


# -- landing zone ----------------------------------------------------------------------------

def test_schema_file_validates_the_examples_and_refuses_a_mistake(charter, tmp_path: Path) -> None:
    import jsonschema

    code, out, _ = charter("schema", "-o", str(tmp_path / "org.schema.json"))
    assert code == 0 and "wrote" in out
    schema = json.loads((tmp_path / "org.schema.json").read_text())
    for example in ("small", "large"):
        jsonschema.validate(yaml.safe_load((REPO / "examples" / example / "org.yaml").read_text()), schema)
    wrong = yaml.safe_load(SMALL.read_text())
    wrong["accounts"][0]["email"] = 42
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema)


def test_builders_lists_each_builder_with_the_controls_it_implements(charter) -> None:
    from charter.controls.links import all_builders

    code, out, _ = charter("builders")
    assert code == 0
    named = set(all_builders())
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 3}
    assert named <= set(rows), sorted(named - set(rows))  # every builder, workload stacks included, is listed
    assert "ENC-01" in rows["kms"] and "NET-01" in rows["network"] and "WKL-01" in rows["workload_api"]


@pytest.mark.slow
def test_lint_reports_findings_and_listed_suppressions_in_text_and_json(charter, tmp_path: Path) -> None:
    t = Template()
    t.add_resource(controls(Bucket("Naked"), "DAT-01"))
    (tmp_path / "bad.yaml").write_text(dump_yaml(t.to_dict()))
    kept = Template()
    bucket = controls(Bucket("Kept"), "DAT-01")
    suppress(bucket, "CKV_AWS_18", "test fixture: the access-log bucket itself is not logged")
    kept.add_resource(bucket)
    (tmp_path / "kept.yaml").write_text(dump_yaml(kept.to_dict()))

    code, out, err = charter("lint", str(tmp_path), "--regions", "us-east-1")
    text = flat(out + err)
    assert code == 1, text
    assert "bad.yaml" in text and "Naked" in text and "CKV_AWS_18" in text
    assert "1 suppression(s), each with its reason" in text
    assert "kept.yaml: Kept: CKV_AWS_18: test fixture: the access-log bucket itself is not logged" in text
    assert "2 templates:" in text

    code, out, _ = charter("lint", str(tmp_path), "--regions", "us-east-1", "--format", "json")
    report = json.loads(out)
    assert code == 1 and sorted(report["templates"]) == ["bad.yaml", "kept.yaml"]
    assert {(f["template"], f["resource"], f["rule"]) for f in report["findings"]} >= {("bad.yaml", "Naked",
                                                                                         "CKV_AWS_18")}
    assert [(s["resource"], s["rule"]) for s in report["suppressions"]] == [("Kept", "CKV_AWS_18")]
    assert report["checkov_passed"] > 0


# -- deploy plan, before any deploy -----------------------------------------------------------

def test_offline_plan_before_any_deploy_lists_what_deploy_would_create(charter, tmp_path: Path) -> None:
    code, out, err = charter("plan", "-c", str(SMALL), "-o", str(tmp_path / "out"), "--offline")
    assert code == 0, err
    assert "plan against nothing deployed yet (no journal)" in out
    assert "create   account prod" in out and "create   stackset charter-kms-prod" in out
    assert (tmp_path / "out" / "plan.json").is_file()  # synthesized first


# -- docs and runbooks ------------------------------------------------------------------------

def test_docs_build_writes_the_guide_reference_and_diagram(charter, tmp_path: Path) -> None:
    code, out, _ = charter("docs", "build", "-c", str(SMALL), "-o", str(tmp_path / "docs"))
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "docs").iterdir())
    assert f"wrote {len(list((tmp_path / 'docs').rglob('*.*')))} files" in out
    assert "architecture.svg" in written and any(n.startswith("deploy-guide") for n in written)
    assert "acme" in next((tmp_path / "docs").glob("deploy-guide*")).read_text()  # the org's own names


def test_runbooks_list_and_render_every_runbook_of_the_repository(charter, tmp_path: Path) -> None:
    shipped = sorted(p.name.removesuffix(".md.j2") for p in (REPO / "runbooks").glob("*.md.j2")
                     if not p.name.startswith("_"))  # _partials are included, not rendered
    code, out, _ = charter("runbooks", "list")
    assert code == 0 and sorted(out.split()) == shipped
    code, out, _ = charter("runbooks", "render", "-c", str(SMALL), "-o", str(tmp_path / "rb"))
    assert code == 0 and "index.html" in "".join(out.split())  # the path wraps anywhere on a narrow terminal
    for rid in shipped:
        assert (tmp_path / "rb" / f"{rid}.md").is_file() and (tmp_path / "rb" / f"{rid}.html").is_file(), rid
    assert "acme" in (tmp_path / "rb" / "break-glass.md").read_text()


# -- optimize -----------------------------------------------------------------------------------

JOB = {"seed": 3, "data": {"synthetic": {"n_assets": 6, "n_days": 360}},
       "portfolio": {"objective": "min_variance", "constraints": {"max_weight": 0.4}},
       "backtest": {"lookback": 60, "rebalance_every": 21},
       "search": {"n_trials": 3, "n_rungs": 1, "workers": 1, "n_folds": 3,
                  "space": {"lookback": [40, 80], "rebalance_every": [10, 30], "objectives": ["min_variance"]}}}


def _job(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({**JOB, **changes}))
    return path


def test_optimize_search_writes_results_and_its_report(charter, tmp_path: Path) -> None:
    code, out, err = charter("optimize", "search", "-c", str(_job(tmp_path)), "-o", str(tmp_path / "s"),
                             "--workers", "1")
    assert code == 0, err
    summary = json.loads((tmp_path / "s" / "search.json").read_text())
    assert summary["n_trials"] == 3 and len(summary["trials"]) == 3
    assert summary["best_config"]["lookback"] in range(40, 81)
    assert "<html" in (tmp_path / "s" / "report.html").read_text().lower()
    assert f"best: {summary['best_config']}" in out


@pytest.mark.parametrize(("args", "says"), [
    (["--workers", "0"], "--workers must be >= 1"),
    (["--no-report"], "no 'search:' section"),
])
def test_optimize_search_mistakes_exit_2_with_the_fix(charter, tmp_path: Path, args: list[str], says: str) -> None:
    job = _job(tmp_path, search=None) if "--no-report" in args else _job(tmp_path)
    code, _, err = charter("optimize", "search", "-c", str(job), "-o", str(tmp_path / "s"), *args)
    assert code == 2 and says in flat(err) and "Traceback" not in err


def test_optimize_local_cluster_mistakes_exit_2_before_any_host_starts(charter, tmp_path: Path) -> None:
    code, _, err = charter("optimize", "local-cluster", "-c", str(_job(tmp_path)), "-o", str(tmp_path / "c"),
                           "--hosts", "0")
    assert code == 2 and "--hosts must be >= 1" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [\n")
    code, _, err = charter("optimize", "local-cluster", "-c", str(bad), "-o", str(tmp_path / "c"))
    assert code == 2 and "invalid YAML" in err and "line" in err
    assert not (tmp_path / "c" / "cluster").exists()
