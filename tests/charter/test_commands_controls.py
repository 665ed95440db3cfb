"""`charter controls` as a gate and as a file: `--fail-on` exits 1 naming the controls, the matrix
is written with `-o` (and stdout stays the JSON document alone with `--output json`), a wrong
`--fail-on` word is exit 2; `controls show ID` prints a control's status and latest evidence, with
and without org.yaml."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_testkit import flat

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"
sys.path.insert(0, str(REPO / "tests" / "evidence"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sealed run: LOG-01's and IAM-01's items include failures, DAT-01's all pass."""
    from evstore_helpers import run_artifacts

    from charter.evidence.manifest import Scope
    from charter.evidence.signing import LocalSigner
    from charter.evidence.store import EvidenceStore, LocalBackend

    root = tmp_path_factory.mktemp("controls-gate")
    EvidenceStore(LocalBackend(root / "ev")).write_run(run_artifacts(datetime(2026, 11, 1, tzinfo=UTC)),
                                                       LocalSigner.for_directory(root / "k"), Scope())
    return root / "ev"


@pytest.fixture()
def charter(charter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`charter(*args)` run from an empty directory (no ./org.yaml, no .charter/access-reviews)."""
    monkeypatch.chdir(tmp_path)
    return charter


def test_fail_on_failing_writes_the_matrix_then_exits_1_naming_the_failing_controls(charter, store: Path,
                                                                                    tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.html"
    code, out, err = charter("controls", "-c", str(SMALL), "--store", str(store), "--format", "html", "-o", str(matrix),
                             "--fail-on", "failing")
    assert code == 1, out + err
    assert "<html" in matrix.read_text(encoding="utf-8").lower()  # written before the gate fails
    said = flat(out)
    assert f"wrote {matrix}:" in said and "/61 criteria with controls" in said and "failing" in said
    failed = flat(err).split("--fail-on failing: ", 1)[1]
    assert "LOG-01" in failed and "DAT-01" not in failed  # LOG-01's evidence fails, DAT-01's passes


def test_json_output_is_the_document_alone_and_gates_with_fail_on(charter, store: Path, tmp_path: Path) -> None:
    code, out, err = charter("controls", "-c", str(SMALL), "--store", str(store), "--output", "json",
                             "--fail-on", "failing")
    doc = json.loads(out)  # stdout is one JSON document, nothing else
    assert code == 1, err
    assert doc["fail_on"] == ["failing"] and "LOG-01" in doc["failed"] and doc["controls"]["LOG-01"] == "failing"
    assert doc["controls"]["DAT-01"] == "implemented" and "DAT-01" not in doc["failed"]

    matrix = tmp_path / "matrix.md"
    code, out, err = charter("controls", "-c", str(SMALL), "--store", str(store), "--output", "json", "-o", str(matrix))
    doc = json.loads(out)  # with -o too: no "wrote" line on stdout
    assert code == 0, err  # no --fail-on: failing controls are reported, not a failed run
    assert doc["failed"] == [] and doc["controls"]["LOG-01"] == "failing"
    assert "LOG-01" in matrix.read_text(encoding="utf-8")


def test_an_unknown_fail_on_word_is_exit_2_with_the_words_to_use(charter) -> None:
    code, out, err = charter("controls", "-c", str(SMALL), "--fail-on", "failing,broken")
    said = flat(err)
    assert code == 2, out + err
    assert "--fail-on failing,broken: unknown status broken" in said and "use failing, gap or failing,gap" in said


def test_show_prints_status_resources_and_latest_evidence(charter, store: Path) -> None:
    code, out, err = charter("controls", "show", "LOG-01", "-c", str(SMALL), "--store", str(store))
    assert code == 0, err
    text = flat(out)
    assert "status failing (latest evidence (run" in text
    assert "latest evidence failing" in text  # the evidence line names the run and its date
    resources = next(line for line in out.splitlines() if line.startswith("resources"))
    assert int(resources.split()[1].rstrip(":")) > 0  # synth emits resources for LOG-01 in the small org


def test_show_without_a_config_reads_the_latest_evidence_from_the_store(charter, store: Path) -> None:
    code, out, err = charter("controls", "show", "DAT-01", "--store", str(store))
    assert code == 0, err
    text = flat(out)
    assert "latest evidence passing" in text
    assert "status" not in [line.split(None, 1)[0] for line in out.splitlines() if line.strip()]  # no org.yaml

    code, out, _ = charter("controls", "show", "NET-01", "--store", str(store), "-f", "json")
    latest = json.loads(out)["latest_evidence"]
    assert code == 0 and (latest["passed"], latest["failed"]) == (0, 0), latest  # no artifact of the run covers it
    assert latest["reason"] == "no evidence collected for this control yet"
    code, out, _ = charter("controls", "show", "NET-01", "--store", str(store))
    assert code == 0 and f"latest evidence {latest['status']} (no evidence collected for this control yet)" in flat(out)
