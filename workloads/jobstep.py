"""The optimization job's pipeline step: ``python3 -m charter.workloads.jobstep``.

The job pipeline's Processing step computes one API job from the job's stored spec; the
pipeline's next step, the results aggregator (a Lambda step, `handlers.aggregator`), turns
the hosts' parts into the result pages the results API serves. It speaks only SageMaker's Processing contract
(`charter.optimizer.sagemaker.contract`), so the same command runs in the optimizer's
image on AWS and as a local process on the embedded AWS (a temporary directory as
``CHARTER_SM_ROOT``):

  /opt/ml/processing/input/spec/<spec.json>        the job spec submit validated and stored
  /opt/ml/processing/input/market/<returns.csv>    the data set the spec names (its validated file)
  /opt/ml/processing/output/parts/<host>/          this host's part (`part_files`): summary.json,
                                                   rows.jsonl and, with a search, trials.jsonl,
                                                   uploaded to s3://<results>/results/<job_id>/parts/

A
problem in the job (a ticker missing from the data, too little history, infeasible
constraints) is written to /opt/ml/output/message, which SageMaker reports as the step's
FailureReason, and the exit code is 2; a bug exits 1 with its type in the message.
The network is isolated: the step makes no AWS call (progress comes from the pipeline's
step events, see `handlers.jobstatus`).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

SPEC, MARKET, PARTS = "spec", "market", "parts"
EXIT_BAD_INPUT, EXIT_BUG = 2, 1


def _one_file(directory: Path, pattern: str, what: str) -> Path:
    found = sorted(directory.glob(pattern)) if directory.is_dir() else []
    if len(found) != 1:
        from charter.optimizer.errors import OptimizerError

        raise OptimizerError(f"{what}: expected one {pattern} in {directory}, found {len(found)}")
    return found[0]


def part_files(summary: dict, rows: list[dict]) -> list[tuple[str, bytes]]:
    """(name, body) of one host's part: what the aggregator merges (`aggregator.aggregate_job`).
    The search's trial rows go to trials.jsonl too, in the record layout of a search shard
    (`optimizer.search.aggregate`: one JSON object per line, keyed by rung and trial)."""
    import json

    from charter.workloads.handlers.results import finite

    lines = lambda records: "".join(json.dumps(finite(r), sort_keys=True) + "\n" for r in records).encode()  # noqa: E731
    files = [("summary.json", json.dumps(finite(summary), sort_keys=True).encode()), ("rows.jsonl", lines(rows))]
    trials = [r for r in rows if r.get("kind") == "trial"]
    if trials:
        files.append(("trials.jsonl", lines(trials)))
    return files


def run(root: Path | None = None, workers: int | None = None) -> dict:
    """Compute the job whose spec is in the `spec` input and write this host's part; returns
    the result summary."""
    from pydantic import ValidationError

    from charter.optimizer.data import load_market
    from charter.optimizer.errors import OptimizerError
    from charter.optimizer.sagemaker.contract import detect
    from charter.workloads.handlers import datasets
    from charter.workloads.handlers.models import JobSpec
    from charter.workloads.handlers.worker import optimize

    c = detect(root, prefer="processing")
    spec_path = _one_file(c.input(SPEC), "*.json", "job spec")
    try:
        spec = JobSpec.model_validate_json(spec_path.read_bytes())
    except ValidationError as exc:
        raise OptimizerError(f"job spec {spec_path.name} is not valid: {exc.errors()[0]['msg']}") from None
    req = spec.request
    market = _one_file(c.input(MARKET), "*.csv", "market data")
    md = load_market(market, kind="returns", business_days_only=False)
    md.report = {**md.report, "dataset": spec.dataset}
    md = datasets.select(md, req.assets, req.start, req.end, dataset=spec.dataset)
    import os

    # the search's trials on every vCPU of the instance (ml.c5.4xlarge: 16)
    summary, rows = optimize(req, md, workers=workers or os.cpu_count() or 1)
    out = c.output(PARTS) / c.cluster().current_host
    out.mkdir(parents=True, exist_ok=True)
    for name, body in part_files(summary, rows):
        (out / name).write_bytes(body)
    print(f"jobstep: job {spec.job_id}: {len(rows)} result rows -> {out}", flush=True)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="charter.workloads.jobstep",
                                description="One optimization job as a SageMaker Processing step.")
    p.add_argument("--workers", type=int, default=None, help="Processes for the search (default: every vCPU).")
    args = p.parse_args(argv)
    from charter.optimizer.errors import OptimizerError
    from charter.optimizer.sagemaker.contract import detect

    c = detect(prefer="processing")
    try:
        run(workers=args.workers)
    except OptimizerError as exc:
        c.write_failure(str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug: the traceback in the log, the gist as the FailureReason
        traceback.print_exc()
        c.write_failure(f"internal error {type(exc).__name__}: {exc}")
        return EXIT_BUG
    return 0


if __name__ == "__main__":
    sys.exit(main())

