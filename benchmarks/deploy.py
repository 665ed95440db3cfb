"""Deploy `examples/large` (62 accounts, OUs nested 4 deep, 3 regions) to the embedded AWS,
the whole landing zone as `charter deploy` deploys it (every builder), then deploy it again
with no change.

Prints the first deploy's time and its StackSet instances (and how many failed), the
no-change re-deploy's time and its mutating calls (classified by operation name:
Describe/List/Get are reads; STS AssumeRole only fetches credentials), and, measured in the
same run, the peer: re-applying every StackSet to every instance with the same template
(UpdateStackSet, what a pipeline without content hashes does on each run), against which
the no-change re-deploy is a ratio. `--load N` runs N CPU burners beside it (stress-ng, or
Python loops where it is absent) to show the numbers on a busy machine; they are killed
when the benchmark ends.

Usage: python benchmarks/deploy.py [--config examples/large/org.yaml] [--load 2] [--no-peer]
Exit status 0 when the first deploy finished within 120 s with no failed instance and the
re-deploy made no mutating call.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

READS = ("Describe", "List", "Get")
FIRST_DEPLOY_BUDGET_SECONDS = 120


def _burners(count: int) -> list[subprocess.Popen]:
    if count <= 0:
        return []
    if shutil.which("stress-ng"):
        return [subprocess.Popen(["stress-ng", "--cpu", str(count), "--quiet"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)]
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True) for _ in range(count)]


def _reapply_every_stackset(sessions, cfn) -> tuple[float, int]:
    """The peer: UpdateStackSet with the same template for every StackSet, waiting for each."""
    started = time.perf_counter()
    instances = 0
    for summary in cfn.list_stack_sets(Status="ACTIVE")["Summaries"]:
        name = summary["StackSetName"]
        instances += len(cfn.list_stack_instances(StackSetName=name)["Summaries"])
        described = cfn.describe_stack_set(StackSetName=name)["StackSet"]
        op = cfn.update_stack_set(StackSetName=name, UsePreviousTemplate=True, Capabilities=described.get(
            "Capabilities", []), Parameters=[{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
                                             for p in described.get("Parameters", [])])
        while cfn.describe_stack_set_operation(StackSetName=name, OperationId=op["OperationId"])[
                "StackSetOperation"]["Status"] in ("QUEUED", "RUNNING", "STOPPING"):
            time.sleep(0.05)
    return time.perf_counter() - started, instances


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "examples" / "large" / "org.yaml"))
    parser.add_argument("--load", type=int, default=0, help="CPU burners to run beside the benchmark")
    parser.add_argument("--no-peer", action="store_true", help="skip re-applying every StackSet (the peer)")
    args = parser.parse_args()

    from charter.landing_zone.config import load_config
    from charter.landing_zone.deploy import deploy
    from charter.landing_zone.synth import build_plan, synthesize, write_output
    from charter.local import LocalAws

    cfg = load_config(args.config)
    out = Path(tempfile.mkdtemp(prefix="charter-deploy-bench-"))
    burners = _burners(args.load)
    try:
        stacks = synthesize(cfg)  # every builder, as `charter deploy` synthesizes
        write_output(stacks, build_plan(cfg, stacks, Path(args.config).read_text()), out)
        with LocalAws() as aws:
            sessions = aws.sessions()
            calls: list[str] = []
            sessions.on_client.append(lambda c: c.meta.events.register(
                "before-call", lambda model, **_: calls.append(model.name)))
            cpu0 = os.times()
            t0 = time.perf_counter()
            first = deploy(cfg, out, sessions)
            t_first = time.perf_counter() - t0
            cpu_first = sum(os.times()[:2]) - sum(cpu0[:2])
            first_calls = len(calls)
            cfn = sessions.client("cloudformation")
            summaries = [(s["StackSetName"], i) for s in cfn.list_stack_sets(Status="ACTIVE")["Summaries"]
                         for i in cfn.list_stack_instances(StackSetName=s["StackSetName"])["Summaries"]]
            failed = [(n, i["Account"], i["Region"], i.get("StatusReason", "")) for n, i in summaries
                      if i["Status"] != "CURRENT"]
            calls.clear()
            t0 = time.perf_counter()
            again = deploy(cfg, out, sessions)
            t_again = time.perf_counter() - t0
            mutating = [c for c in calls if not c.startswith(READS) and c != "AssumeRole"]
            again_calls = len(calls)
            peer = None if args.no_peer else _reapply_every_stackset(sessions, cfn)
    finally:
        for proc in burners:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        shutil.rmtree(out, ignore_errors=True)

    regions = len(cfg.organization.governed_regions)
    print(f"organization: {len(cfg.accounts)} accounts, {len(cfg.ous)} OUs (max depth "
          f"{max(cfg.ou_depths().values())}), {regions} regions; {len(stacks)} stacks and StackSets, "
          f"{len(summaries)} StackSet instances; {args.load} CPU burners beside, {os.cpu_count()} CPUs")
    print(f"first deploy        {t_first:7.1f} s   ({cpu_first:.0f} s CPU in this process) {first_calls} API calls, "
          f"{len(first.changes)} changes, {len(first.failures)} failures, {len(failed)} instances not CURRENT")
    print(f"no-change re-deploy {t_again:7.1f} s   {again_calls} API calls, {len(mutating)} mutating "
          f"{sorted(set(mutating)) if mutating else ''}")
    if peer is not None:
        print(f"peer: re-apply every StackSet (UpdateStackSet, same template) {peer[0]:7.1f} s for {peer[1]} "
              f"instances; no-change re-deploy is {peer[0] / max(t_again, 1e-9):.1f}x faster")
    for line in (first.failures + again.failures)[:10]:
        print("  failure:", line)
    for name, account, region, reason in failed[:10]:
        print(f"  not current: {name}/{account}/{region}: {reason}")
    ok = not mutating and not failed and not first.failures and t_first <= FIRST_DEPLOY_BUDGET_SECONDS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
