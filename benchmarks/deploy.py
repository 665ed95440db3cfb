"""Deploy `examples/large` (62 accounts, OUs nested 4 deep, 3 regions) to the embedded AWS,
then deploy it again with no change.

Prints the first deploy's time, the no-change re-deploy's time, and the count of mutating
calls on the re-run (classified by operation name: Describe/List/Get are reads; STS
AssumeRole only fetches credentials). The peer is measured in the same run, on the same
embedded AWS, right after Charter's no-change re-deploy: a re-deploy that re-applies every
unchanged StackSet to all of its instances (UpdateStackSet with the same template and
parameters), which is what a pipeline that does not compare what is deployed does; the
agreement asserted is that both leave the same StackSets and instances, none failed.

The plan is the whole landing zone as `charter synth` makes it and `charter deploy` deploys
it (every builder); `--sample-plan` deploys only the organization plus a service-managed
StackSet (a KMS key and an SSM parameter in every member account and governed region:
62 x 3 = 186 instances), for a quick look at the engine alone. moto builds ~1,300 AWS-managed IAM
policies for every account it touches, which costs seconds per account and measures moto
rather than deploy; they are off unless `--managed-policies`.

Scale: `--accounts N` grows the config to N accounts first (`charter.config.grow`: team
accounts with their own VPCs under an OU tree 5 deep) and deploys the full landing zone;
`--accounts 62,250,1000` deploys each size in a fresh embedded AWS (its own process) and
prints the deploy time per account of each and the largest over the smallest (flat = 1.0x).

Usage: python benchmarks/deploy.py [--sample-plan] [--accounts N[,N...]] [--no-peer] [--managed-policies]
                                   [--config examples/large/org.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # sample_plan: the sample StackSets the tests deploy too

READS = ("Describe", "List", "Get")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "examples" / "large" / "org.yaml"))
    parser.add_argument("--sample-plan", action="store_true",
                        help="deploy only the organization and one sample StackSet (default: the whole landing zone)")
    parser.add_argument("--accounts", default="", help="grow the config to N accounts (a comma list: each size "
                        "in its own process) and deploy the full landing zone")
    parser.add_argument("--no-peer", action="store_true", help="skip the re-apply-everything peer")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one size, for the scale table
    parser.add_argument("--managed-policies", action="store_true", help="let moto load AWS-managed IAM policies")
    args = parser.parse_args()
    sizes = [int(x) for x in args.accounts.split(",") if x.strip()]
    if len(sizes) > 1:
        return scale_table(args, sizes)
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true" if args.managed_policies else "false")

    from sample_plan import write_sample_plan

    from charter.landing_zone.config import load_config
    from charter.landing_zone.deploy import deploy
    from charter.local import LocalAws

    cfg = load_config(args.config)
    full = not args.sample_plan
    if sizes:
        from charter.config.grow import grow

        cfg = grow(cfg, sizes[0])
    out = Path(tempfile.mkdtemp(prefix="charter-deploy-bench-"))
    peer_s, peer_calls = None, 0
    try:
        if full:  # the landing zone as `charter synth` makes it and `charter deploy` deploys it
            from charter.landing_zone.synth import build_plan, synthesize, write_output

            write_output(stacks := synthesize(cfg), build_plan(cfg, stacks), out)
        else:
            write_sample_plan(cfg, out, builders=["organization"], management=False)
        with LocalAws() as aws:
            sessions = aws.sessions()
            calls: list[str] = []
            sessions.on_client.append(lambda c: c.meta.events.register(
                "before-call", lambda model, **_: calls.append(model.name)))
            # wall and CPU (this process: deploy and the embedded AWS's threads; the CPU the
            # machine's other load takes from it inflates wall time, not this)
            t0, c0 = time.perf_counter(), time.process_time()
            first = deploy(cfg, out, sessions)
            t_first, c_first = time.perf_counter() - t0, time.process_time() - c0
            first_calls = len(calls)
            calls.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            again = deploy(cfg, out, sessions)
            t_again, c_again = time.perf_counter() - t0, time.process_time() - c0
            mutating = [c for c in calls if not c.startswith(READS) and c != "AssumeRole"]
            again_calls = len(calls)
            cfn = sessions.client("cloudformation")
            before = instances(cfn)
            if not args.no_peer and not args.json:
                calls.clear()
                t0, c0 = time.perf_counter(), time.process_time()
                reapply_every_stackset(sessions)
                peer_s, peer_cpu, peer_calls = time.perf_counter() - t0, time.process_time() - c0, len(calls)
                after = instances(cfn)
                if after != before:
                    print(f"DISAGREEMENT: the peer left {len(after)} instances in other states than Charter's "
                          f"{len(before)}; no ratio printed")
                    return 1
    finally:
        shutil.rmtree(out, ignore_errors=True)

    failed = sum(1 for status in before.values() if status != "CURRENT")
    if args.json:
        print(json.dumps({"accounts": len(cfg.accounts), "first": t_first, "again": t_again,
                          "first_cpu": c_first, "again_cpu": c_again, "instances": len(before),
                          "failed_instances": failed, "failures": len(first.failures) + len(again.failures),
                          "mutating": len(mutating), "failure_lines": (first.failures + again.failures)[:5],
                          "mutating_calls": sorted(set(mutating))}))
        return 0
    regions = len(cfg.organization.governed_regions)
    print(f"organization: {len(cfg.accounts)} accounts, {len(cfg.ous)} OUs (max depth "
          f"{max(cfg.ou_depths().values())}), {regions} regions; {'full landing zone' if full else 'sample plan'}; "
          f"{len(before)} StackSet instances, {failed} not CURRENT")
    print(f"core budget: the embedded AWS and deploy share this process's CPUs {sorted(os.sched_getaffinity(0))}; "
          "runs: one of each, in this order: first deploy, no-change re-deploy, then the peer")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; CPU = this process's user + system time")
    print(f"first deploy        {t_first:7.1f} s (CPU {c_first:6.1f} s)   {first_calls} API calls, "
          f"{len(first.changes)} changes, {len(first.failures)} failures; {t_first / len(cfg.accounts):.3f} s "
          f"per account (CPU {c_first / len(cfg.accounts):.3f} s)")
    print(f"no-change re-deploy {t_again:7.1f} s (CPU {c_again:6.1f} s)   {again_calls} API calls, {len(mutating)} mutating "
          f"{sorted(set(mutating)) if mutating else ''}")
    if peer_s is not None:
        print(f"peer: re-apply every StackSet {peer_s:7.1f} s (CPU {peer_cpu:6.1f} s)   {peer_calls} API calls; "
              f"agreement asserted: the same {len(before)} instances, all as Charter left them")
        print(f"ratio (peer / charter no-change re-deploy): wall {peer_s / t_again:.1f}x, CPU {peer_cpu / c_again:.1f}x")
    for line in (first.failures + again.failures)[:10]:
        print("  failure:", line)
    return 0 if not mutating and not first.failures and not again.failures else 1


def instances(cfn) -> dict[tuple[str, str, str], str]:
    """(StackSet, account, region) -> status of every instance of every active StackSet."""
    out = {}
    for ss in paginated(cfn, "list_stack_sets", "Summaries", Status="ACTIVE"):
        for i in paginated(cfn, "list_stack_instances", "Summaries", StackSetName=ss["StackSetName"]):
            out[(ss["StackSetName"], i["Account"], i["Region"])] = i.get("Status", "")
    return out


def paginated(client, op: str, key: str, **kwargs):
    if client.can_paginate(op):
        for page in client.get_paginator(op).paginate(**kwargs):
            yield from page[key]
    else:
        yield from getattr(client, op)(**kwargs)[key]


def reapply_every_stackset(sessions) -> None:
    """The peer: every StackSet updated with its own template and parameters, waited for."""
    cfn = sessions.client("cloudformation")
    for ss in list(paginated(cfn, "list_stack_sets", "Summaries", Status="ACTIVE")):
        desc = cfn.describe_stack_set(StackSetName=ss["StackSetName"])["StackSet"]
        op = cfn.update_stack_set(
            StackSetName=desc["StackSetName"], TemplateBody=desc["TemplateBody"],
            Parameters=[{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in desc.get("Parameters", [])],
            Capabilities=desc.get("Capabilities", []), Tags=desc.get("Tags", []),
            # AWS wants a self-managed StackSet's roles named again on every update
            **{k: desc[k] for k in ("PermissionModel", "AdministrationRoleARN", "ExecutionRoleName") if desc.get(k)})
        while cfn.describe_stack_set_operation(StackSetName=desc["StackSetName"], OperationId=op["OperationId"])[
                "StackSetOperation"]["Status"] in ("RUNNING", "QUEUED", "STOPPING"):
            time.sleep(0.05)


def scale_table(args: argparse.Namespace, sizes: list[int]) -> int:
    """Each size in a fresh process (a fresh embedded AWS), smallest first; per-account times."""
    rows = []
    print(f"core budget: each size alone, in its own process, on CPUs {sorted(os.sched_getaffinity(0))}; "
          f"runs: one first deploy and one no-change re-deploy per size, sizes in this order: {sizes}")
    for n in sizes:
        cmd = [sys.executable, __file__, "--accounts", str(n), "--json", "--config", args.config]
        if args.managed_policies:
            cmd.append("--managed-policies")
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            print(f"{n} accounts: failed\n{result.stderr[-3000:]}")
            return 1
        row = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['accounts']:6} accounts  first deploy {row['first']:8.1f} s  "
              f"{row['first'] / row['accounts']:.3f} s/account (CPU {row['first_cpu'] / row['accounts']:.3f})  "
              f"no-change {row['again']:6.1f} s  "
              f"{row['instances']} instances, {row['failed_instances']} not CURRENT, {row['failures']} failures, "
              f"{row['mutating']} mutating calls on the re-deploy {row.get('mutating_calls') or ''}", flush=True)
        for line in row.get("failure_lines", []):
            print("  failure:", line, flush=True)
    for label, key in (("wall", "first"), ("CPU", "first_cpu")):
        per = [r[key] / r["accounts"] for r in rows]
        print(f"per-account first deploy ({label}), largest / smallest size: {per[-1] / per[0]:.2f}x "
              f"(max over sizes / min: {max(per) / min(per):.2f}x); flat = 1.0x")
    ok = all(r["failures"] == 0 and r["failed_instances"] == 0 and r["mutating"] == 0 for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
