"""`charter optimize local-cluster`: the SageMaker pipeline's contract on one machine.

The lead registers :func:`local_cluster` as ``charter optimize local-cluster``
(the ``optimize`` group belongs to ``charter/commands/optimize.py``).
"""

from __future__ import annotations

from pathlib import Path

import typer


def local_cluster(
    hosts: int = typer.Option(4, "--hosts", help="Instances to simulate (one subprocess each)."),
    config: Path = typer.Option(..., "-c", "--config", help="Job description (YAML) with a 'search:' section."),
    out: Path = typer.Option(Path("optimizer-cluster"), "-o", "--out",
                             help="Output directory (results, agent report, and cluster/ with every host's root)."),
    workers: int = typer.Option(1, "--workers", "-w", help="Processes per host."),
) -> None:
    """Run the optimizer's SageMaker pipeline locally: each host a subprocess with its own resourceconfig.json.

    Data validation, scenario generation, the search sharded over HOSTS processes per rung
    (Training contract, checkpointed), aggregation and the agent report, exchanging files
    through a directory that plays S3. Same best configuration and trial table as
    `charter optimize search` with the same seed.

    Example: charter optimize local-cluster --hosts 4 -c examples/optimizer/job.yaml -o /tmp/cluster
    """
    import yaml

    from charter.optimizer.errors import OptimizerError
    from charter.optimizer.sagemaker.local_cluster import run_local_cluster

    def fail(msg: str) -> None:
        typer.echo(f"error: {msg}", err=True)
        raise typer.Exit(2)

    if hosts < 1:
        fail("--hosts must be >= 1")
    if workers < 1:
        fail("--workers must be >= 1")
    if not config.exists():
        fail(f"{config}: file not found; pass an existing job.yaml with -c")
    try:
        job = yaml.safe_load(config.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        fail(f"{config}:{where} invalid YAML ({getattr(exc, 'problem', exc)}); fix the syntax")
    try:
        res = run_local_cluster(job, config.parent, out, hosts=hosts, workers=workers,
                                log=lambda m: typer.echo(m, err=True))
    except OptimizerError as exc:
        fail(f"{config}: {exc}")
    best = res["result"]["best_config"]
    typer.echo(f"best: {best}  ->  {out / 'search.json'} (agent report: {out / 'agent_report.json'})")
