"""Wall time of one API job's computation, per search trial, and the estimate on AWS.

Runs the job step's computation (`workloads.handlers.worker.optimize`, what
`python -m charter.workloads.jobstep` runs inside the Processing job) on a synthetic
market, once with a search of N trials and once without (the peer, same run, same data),
so the search's cost per trial is the difference divided by N. The estimate for a
100-trial job on AWS is then

    pipeline scheduling + Processing start-up + data in/out + ceil(100 / vCPUs) x trial time x slowdown

with the start-up allowance and vCPUs given as arguments (defaults: docs/README figures,
ml.c5.4xlarge = 16 vCPUs) and `slowdown` the ratio of this machine's load to none
(measured here: wall time / CPU time of the run, >= 1).

    python benchmarks/job_time.py [--trials 8] [--assets 20] [--days 756] [--vcpus 16] [--startup-s 300]
"""

from __future__ import annotations

import argparse
import math
import time


def _run(req_body: dict, md) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    from charter.workloads.handlers.models import OptimizeRequest
    from charter.workloads.handlers.worker import optimize

    req = OptimizeRequest.model_validate(req_body)
    wall, cpu = time.perf_counter(), time.process_time()
    optimize(req, md, workers=1)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--assets", type=int, default=20)
    p.add_argument("--days", type=int, default=756)
    p.add_argument("--vcpus", type=int, default=16)
    p.add_argument("--startup-s", type=float, default=300.0, help="Processing job start-up allowance (s).")
    p.add_argument("--overhead-s", type=float, default=60.0, help="Pipeline scheduling, data in and out (s).")
    args = p.parse_args()
    from charter.optimizer import generate_market

    md = generate_market(n_assets=args.assets, n_days=args.days, seed=7)
    assets = list(md.assets)
    base = {"assets": assets, "objective": "mean_variance", "constraints": {"max_weight": 0.2},
            "backtest": {"lookback": 126, "rebalance_every": 21}}
    from terms import terms

    print(terms("one process, the computation on one worker (workers=1) for both",
                "one of each (the peer is the same job without the search)", "the peer first",
                "none: the two runs do different work by design (the difference is the search)"))
    peer_wall, _ = _run(base, md)
    wall, cpu = _run({**base, "search": {"enabled": True, "n_trials": args.trials, "lookback_min": 63,
                                          "lookback_max": 252, "halving": False}}, md)
    per_trial = max(wall - peer_wall, 0.0) / args.trials
    slowdown = max(wall / cpu, 1.0) if cpu > 0 else 1.0
    per_trial_unloaded = per_trial / slowdown
    rounds = math.ceil(100 / args.vcpus)
    compute = rounds * per_trial_unloaded + peer_wall / slowdown
    total = args.startup_s + args.overhead_s + compute
    print(f"job without search: {peer_wall:.2f} s; with {args.trials} trials: {wall:.2f} s "
          f"(ratio {wall / peer_wall:.1f}x the peer); wall/CPU on this machine {slowdown:.2f}")
    print(f"per trial: {per_trial:.3f} s here, {per_trial_unloaded:.3f} s unloaded")
    print(f"100 trials on {args.vcpus} vCPUs: {rounds} rounds x {per_trial_unloaded:.3f} s = {compute:.1f} s compute")
    print(f"estimate on AWS: {args.startup_s:.0f} s start-up + {args.overhead_s:.0f} s pipeline and S3 + "
          f"{compute:.0f} s = {total / 60:.1f} min (target < 15 min)")


if __name__ == "__main__":
    main()
