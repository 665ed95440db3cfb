"""Container entrypoint: ``python3 -m optimizer.container <subcommand> [options]``.

Subcommands are the five pipeline steps (Processing jobs) and ``search`` (a Training
job, the one SageMaker type with managed spot and checkpoints)::

    validate-data | generate-scenarios --parts N | optimize-shard [--rung R]
    | aggregate [--rung R] [--no-final] | synthesize-agent-report | search (alias: train)

SageMaker's contract for the result: exit code 0 is success; on failure the reason goes
to ``/opt/ml/output/message`` (Processing) or ``/opt/ml/output/failure`` (Training), of
which SageMaker keeps the first 1 KB as the job's FailureReason, and the exit code is
non-zero (2 for a problem in the inputs, 3 for an interrupted shard, 1 for a bug).
argparse, not typer: the image carries numpy and scipy only.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 3
EXIT_BUG = 1

PROCESSING_COMMANDS = ("validate-data", "generate-scenarios", "optimize-shard", "aggregate",
                       "synthesize-agent-report")
COMMANDS = PROCESSING_COMMANDS + ("search", "train")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="charter.optimizer.container",
                                description="The optimizer container: SageMaker pipeline steps and the search.")
    p.add_argument("--job-type", choices=("processing", "training"), default=None,
                   help="Force a contract (default: Training if its resourceconfig.json exists, else Processing).")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("validate-data", help="Parse the job and clean its market data.")
    g = sub.add_parser("generate-scenarios", help="Trial plan split into parts, and stress scenarios.")
    g.add_argument("--parts", type=int, default=1, help="Trial files to write (= optimization hosts).")
    o = sub.add_parser("optimize-shard", help="Evaluate this host's trials of one rung (resumable).")
    o.add_argument("--rung", type=int, default=None)
    o.add_argument("--workers", type=int, default=1)
    o.add_argument("--max-new-trials", type=int, default=None,
                   help="Evaluate at most N trials not yet checkpointed, then stop (exit 3); a re-run resumes.")
    a = sub.add_parser("aggregate", help="Merge the hosts' shard files; promote or finish the search.")
    a.add_argument("--rung", type=int, default=None)
    a.add_argument("--final", action=argparse.BooleanOptionalAction, default=True)
    a.add_argument("--workers", type=int, default=1)
    sub.add_parser("synthesize-agent-report", help="Winner, evidence and stress risk for the agents.")
    # SageMaker starts a Training container as `<ENTRYPOINT> train`: the same command.
    s = sub.add_parser("search", aliases=["train"],
                       help="Training job: whole search or this host's shard, with spot checkpoints.")
    s.add_argument("--workers", type=int, default=None)
    s.add_argument("--max-new-trials", type=int, default=None,
                   help="Evaluate at most N trials not yet checkpointed, then stop (exit 3); a re-run resumes "
                        "(a long search split over jobs with a shorter MaxRuntimeInSeconds).")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from charter.optimizer.container import privileges
    from charter.optimizer.errors import OptimizerError
    from charter.optimizer.sagemaker import contract as ct
    from charter.optimizer.sagemaker import steps

    if args.command == "train":
        args.command = "search"
    prefer = args.job_type or ("training" if args.command == "search" else None)
    c = ct.detect(prefer=prefer)
    try:
        # SageMaker starts the image as root; nothing of the job is read before root is gone
        privileges.drop_privileges(c)
    except (OSError, OptimizerError) as exc:
        c.write_failure(f"{args.command}: cannot hand SageMaker's folders to the runtime user: {exc}")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUG
    try:
        if args.command == "validate-data":
            steps.validate_data(c)
        elif args.command == "generate-scenarios":
            steps.generate_scenarios(c, parts=args.parts)
        elif args.command == "optimize-shard":
            steps.optimize_shard(c, rung=args.rung, workers=args.workers, max_new_trials=args.max_new_trials)
        elif args.command == "aggregate":
            steps.aggregate_results(c, rung=args.rung, final=args.final, workers=args.workers)
        elif args.command == "synthesize-agent-report":
            steps.synthesize_agent_report(c)
        elif args.command == "search":
            steps.search(c, workers=args.workers, max_new_trials=args.max_new_trials)
    except steps.Interrupted as exc:
        c.write_failure(f"interrupted: {exc}")
        print(f"interrupted: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OptimizerError as exc:
        c.write_failure(f"{args.command}: {exc}")
        print(f"error: {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug: keep the traceback in the log, the gist in the message
        traceback.print_exc()
        c.write_failure(f"{args.command}: internal error {type(exc).__name__}: {exc}")
        return EXIT_BUG
    return 0


if __name__ == "__main__":
    sys.exit(main())
