"""Deploy `examples/large` (62 accounts, OUs nested 4 deep, 3 regions) to the embedded AWS,
then deploy it again with no change.

Prints the first deploy's time, the no-change re-deploy's time, and the count of mutating
calls on the re-run (classified by operation name: Describe/List/Get are reads; STS
AssumeRole only fetches credentials). The peer figure is what users of the largest
landing-zone tools report (pipelines of 1-2 hours; ~30 minutes per unchanged StackSet at
800 accounts), because an unchanged StackSet is still re-applied to every instance there;
Charter reads the StackSet's hash tags and leaves it alone.

The plan is the organization plus a service-managed StackSet (a KMS key and an SSM
parameter in every member account and governed region: 62 x 3 = 186 instances);
`--full-plan` deploys every registered builder instead (moto lacks many of their resource
types, so expect failure lines). moto builds ~1,300 AWS-managed IAM policies for every
account it touches, which costs seconds per account and measures moto rather than deploy;
they are off unless `--managed-policies`.

Usage: python benchmarks/deploy.py [--full-plan] [--managed-policies] [--config examples/large/org.yaml]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

READS = ("Describe", "List", "Get")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "examples" / "large" / "org.yaml"))
    parser.add_argument("--full-plan", action="store_true", help="deploy every registered builder's stacks")
    parser.add_argument("--managed-policies", action="store_true", help="let moto load AWS-managed IAM policies")
    args = parser.parse_args()
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true" if args.managed_policies else "false")

    from charter.landing_zone.config import load_config
    from charter.landing_zone.deploy import deploy
    from charter.landing_zone.deploy.testing import write_sample_plan
    from charter.local import LocalAws

    cfg = load_config(args.config)
    out = Path(tempfile.mkdtemp(prefix="charter-deploy-bench-"))
    try:
        write_sample_plan(cfg, out, builders=None if args.full_plan else ["organization"], management=False)
        with LocalAws() as aws:
            sessions = aws.sessions()
            calls: list[str] = []
            sessions.on_client.append(lambda c: c.meta.events.register(
                "before-call", lambda model, **_: calls.append(model.name)))
            t0 = time.perf_counter()
            first = deploy(cfg, out, sessions)
            t_first = time.perf_counter() - t0
            first_calls = len(calls)
            calls.clear()
            t0 = time.perf_counter()
            again = deploy(cfg, out, sessions)
            t_again = time.perf_counter() - t0
            mutating = [c for c in calls if not c.startswith(READS) and c != "AssumeRole"]
            cfn = sessions.client("cloudformation")
            instances = sum(len(cfn.list_stack_instances(StackSetName=s["StackSetName"])["Summaries"])
                            for s in cfn.list_stack_sets(Status="ACTIVE")["Summaries"])
    finally:
        shutil.rmtree(out, ignore_errors=True)

    regions = len(cfg.organization.governed_regions)
    print(f"organization: {len(cfg.accounts)} accounts, {len(cfg.ous)} OUs (max depth "
          f"{max(cfg.ou_depths().values())}), {regions} regions; {instances} StackSet instances")
    print(f"first deploy        {t_first:7.1f} s   {first_calls} API calls, {len(first.changes)} changes, "
          f"{len(first.failures)} failures")
    print(f"no-change re-deploy {t_again:7.1f} s   {len(calls)} API calls, {len(mutating)} mutating "
          f"{sorted(set(mutating)) if mutating else ''}")
    print("peer (reported by users of the largest landing-zone tools, not measured here): "
          "~30 min per unchanged StackSet at 800 accounts; 1-2 h pipelines")
    for line in (first.failures + again.failures)[:10]:
        print("  failure:", line)
    return 0 if not mutating and t_first < 120 and t_again < 15 else 1


if __name__ == "__main__":
    sys.exit(main())
