"""`charter optimize local-cluster`: usage errors exit 2 with one line; help has an example."""

import typer
from typer.testing import CliRunner

from charter.commands.optimize_cluster import local_cluster

app = typer.Typer()
app.command("local-cluster")(local_cluster)
app.command("other")(lambda: None)  # keep typer from collapsing the group


def run(*args):
    return CliRunner().invoke(app, ["local-cluster", *args])


def test_help_has_an_example():
    assert "Example: charter optimize local-cluster --hosts 4 -c" in (local_cluster.__doc__ or "")
    assert run("--help").exit_code == 0


def test_missing_job_file(tmp_path):
    r = run("-c", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "o"))
    assert r.exit_code == 2 and "file not found" in r.output and "Traceback" not in r.output


def test_bad_hosts_and_bad_yaml(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("search: [\n")
    assert run("--hosts", "0", "-c", str(job)).exit_code == 2
    r = run("-c", str(job), "-o", str(tmp_path / "o"))
    assert r.exit_code == 2 and "invalid YAML" in r.output


def test_job_without_search_fails_in_the_first_step_with_its_reason(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("data: {synthetic: {n_assets: 4, n_days: 200}}\nbacktest: {lookback: 40}\n")
    r = run("--hosts", "2", "-c", str(job), "-o", str(tmp_path / "o"))
    assert r.exit_code == 2
    assert "01-validate-data failed on algo-1 (exit 2)" in r.output and "no 'search:' section" in r.output
