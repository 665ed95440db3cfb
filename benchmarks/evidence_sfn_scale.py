"""The evidence state machine at 1,000 and 5,000 accounts: a simulation in simulated time.

No AWS and no emulator: a discrete-event model of one run of the evidence stack's state
machine (`landing_zone/builders/evidence_statemachine.py`), with the batch size, Map
concurrency and thread count Charter deploys (`org.yaml` defaults, `fanout` threads), every
API call paying an injected latency and AWS's throttling, against its peer: the single
scheduled Lambda reading the whole organization with the same threads (what ran before).

Per account-region the collectors make `--calls` (29, the figure measured by
benchmarks/evidence_fanout.py on the embedded AWS) read calls, spread over the services
below. Each call waits for a thread of its item (16 per Lambda), for its (account, service)
semaphore (`collectors.base.DEFAULT_SERVICE_LIMITS`) and for its token bucket:

- per account and service: EC2's documented non-mutating bucket (100, refill 20/s); the
  other read APIs at 20/s (AWS documents no figure for most; 20/s is the conservative rate
  AWS support quotes for IAM/Organizations-style control planes), Organizations at 5/s;
- organization-wide, from the audit account: STS AssumeRole (one per account per item;
  modelled at 100/s, below STS's per-account quota) and S3 PutObject into the evidence
  bucket (3,500/s per prefix, documented);
- Step Functions: a Distributed Map runs `MaxConcurrency` items (40 by default); each
  Lambda invocation pays a cold start (`--cold-start`).

Organization-wide rates are counted per 100 ms window (items are simulated one after
another but share those windows as they would share the rate). The latency of each
call is log-normal around `--latency`. Output: run duration (state machine and single
Lambda, and their ratio), peak in-flight calls per service across the organization, the
longest item against Lambda's 900 s, and the run's cost from its state transitions, Lambda
GB-seconds and requests (us-east-1 list prices; see README "Evidence at organization scale").

Usage: python benchmarks/evidence_sfn_scale.py [--accounts 1000 5000] [--regions 17] [--latency 0.08]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from charter.config.model import EvidenceRunSettings  # noqa: E402
from charter.evidence.collectors.base import DEFAULT_SERVICE_LIMIT, DEFAULT_SERVICE_LIMITS  # noqa: E402

#: How the 29 calls of an account-region split over services (the collectors' mix, rounded).
MIX = {"ec2": 6, "kms": 3, "logs": 2, "cloudtrail": 3, "config": 3, "guardduty": 2, "securityhub": 2,
       "s3": 2, "iam": 3, "backup": 1, "accessanalyzer": 1, "organizations": 1}
#: (bucket, refill per second) per account and service.
PER_ACCOUNT = {"ec2": (100, 20.0), "organizations": (5, 5.0)}
DEFAULT_RATE = (20, 20.0)
STS_RATE, S3_PUT_RATE = 100.0, 3500.0
LAMBDA_LIMIT_SECONDS = 900
THREADS = 16
MEMORY_GB = 1.0
#: us-east-1 list prices
PRICE_TRANSITION = 0.025 / 1000
PRICE_GB_SECOND = 0.0000166667
PRICE_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_S3_PUT = 0.005 / 1000
PRICE_S3_GET = 0.0004 / 1000


class Bucket:
    """A token bucket as AWS's throttling is described: `size` burst, `rate` refill per second."""

    def __init__(self, size: float, rate: float) -> None:
        self.size, self.rate = size, rate
        self.tokens, self.at = size, 0.0

    def take(self, now: float) -> float:
        """The time the call may start (a token is reserved)."""
        if now > self.at:
            self.tokens = min(self.size, self.tokens + (now - self.at) * self.rate)
            self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return max(now, self.at)
        wait = (1 - self.tokens) / self.rate
        self.at = max(now, self.at) + wait
        self.tokens = 0.0
        return self.at


class Windows:
    """An organization-wide rate (calls per second) shared by items that run at the same time:
    slots counted per 100 ms window, so items simulated one after another reserve the same
    real-time capacity they would share (order-independent, unlike a single bucket's clock)."""

    def __init__(self, rate: float) -> None:
        self.per_window = max(1, int(rate / 10))
        self.used: dict[int, int] = defaultdict(int)

    def take(self, now: float) -> float:
        window = int(now * 10)
        while self.used[window] >= self.per_window:
            window += 1
        self.used[window] += 1
        return max(now, window / 10)


class World:
    def __init__(self, regions: int, calls: int, latency: float, seed: int) -> None:
        scale = calls / sum(MIX.values())
        self.mix = {s: max(1, round(n * scale)) for s, n in MIX.items()}
        self.regions = regions
        self.latency = latency
        self.rng = random.Random(seed)
        self.sts = Windows(STS_RATE)
        self.s3_put = Windows(S3_PUT_RATE)
        self.intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.calls = 0

    def _latency(self) -> float:
        sigma = 0.5
        return self.rng.lognormvariate(math.log(self.latency) - sigma ** 2 / 2, sigma)

    def item(self, accounts: int, start: float, cold_start: float) -> float:
        """Run one Lambda's batch of accounts from `start`; returns its end."""
        threads = [start + cold_start] * THREADS
        heapq.heapify(threads)
        slots: dict[tuple[int, str], list[float]] = {}
        buckets: dict[tuple[int, str], Bucket] = {}
        end = start + cold_start
        for acct in range(accounts):
            t = heapq.heappop(threads)
            t = self.sts.take(t)
            done = t + self._latency()
            self.intervals["sts"].append((t, done))
            heapq.heappush(threads, done)
            for _region in range(self.regions):
                for service, n in self.mix.items():
                    limit = DEFAULT_SERVICE_LIMITS.get(service, DEFAULT_SERVICE_LIMIT)
                    sem = slots.setdefault((acct, service), [0.0] * limit)
                    bucket = buckets.setdefault((acct, service), Bucket(*PER_ACCOUNT.get(service, DEFAULT_RATE)))
                    for _ in range(n):
                        t = heapq.heappop(threads)
                        free = min(range(limit), key=sem.__getitem__)
                        t = bucket.take(max(t, sem[free]))
                        done = t + self._latency()
                        sem[free] = done
                        self.intervals[service].append((t, done))
                        heapq.heappush(threads, done)
                        self.calls += 1
                # the account-region's artifacts into the store (one per collector, roughly)
                for _ in range(len(self.mix)):
                    t = heapq.heappop(threads)
                    t = self.s3_put.take(t)
                    done = t + self._latency() / 2
                    self.intervals["s3:PutObject (evidence bucket)"].append((t, done))
                    heapq.heappush(threads, done)
            end = max(end, max(threads))
        return max(end, max(threads))


def peak(intervals: list[tuple[float, float]]) -> int:
    import numpy as np

    if not intervals:
        return 0
    arr = np.asarray(intervals)
    times = np.concatenate([arr[:, 0], arr[:, 1]])
    deltas = np.concatenate([np.ones(len(arr)), -np.ones(len(arr))])
    order = np.lexsort((deltas, times))  # ends before starts at the same instant
    return int(np.cumsum(deltas[order]).max())


def state_machine(accounts: int, args: argparse.Namespace, settings: EvidenceRunSettings) -> dict:
    world = World(args.regions, args.calls, args.latency, args.seed)
    batches = [min(settings.batch_accounts, accounts - i) for i in range(0, accounts, settings.batch_accounts)]
    free = [0.0] * settings.max_concurrency  # the Map's concurrent child executions
    heapq.heapify(free)
    plan_seconds = 3.0 + accounts / 1000 * 2  # ListAccounts pages, the items file
    durations = []
    end = 0.0
    for size in batches:
        start = heapq.heappop(free) + plan_seconds
        finish = world.item(size, start, args.cold_start)
        durations.append(finish - start)
        heapq.heappush(free, finish - plan_seconds)
        end = max(end, finish)
    seal_seconds = 5.0 + accounts * args.regions * len(MIX) / 1000 * 0.05  # list the run's artifacts
    total = end + seal_seconds
    items = len(batches)
    transitions = 3 + 1 + items * 2  # Plan, Map, Seal, end; each child: its task and its end
    gb_seconds = MEMORY_GB * (sum(durations) + plan_seconds + seal_seconds)
    artifacts = accounts * args.regions * len(MIX)
    cost = {"transitions": transitions * PRICE_TRANSITION, "lambda": gb_seconds * PRICE_GB_SECOND
            + (items + 2) * PRICE_LAMBDA_REQUEST, "s3": artifacts * PRICE_S3_PUT + items * 2 * PRICE_S3_GET}
    return {"duration": total, "items": items, "max_item": max(durations), "calls": world.calls,
            "peaks": {s: peak(v) for s, v in sorted(world.intervals.items())}, "transitions": transitions,
            "gb_seconds": gb_seconds, "cost": cost}


def single_lambda(accounts: int, args: argparse.Namespace) -> float:
    """The peer: one invocation reading every account with the same threads."""
    world = World(args.regions, args.calls, args.latency, args.seed)
    return world.item(accounts, 0.0, args.cold_start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[60, 1000, 5000])
    parser.add_argument("--regions", type=int, default=17)
    parser.add_argument("--calls", type=int, default=29, help="read calls per account-region (measured: 29)")
    parser.add_argument("--latency", type=float, default=0.08, help="mean seconds per AWS call")
    parser.add_argument("--cold-start", type=float, default=2.5, help="seconds to start a batch Lambda")
    parser.add_argument("--max-concurrency", type=int, default=None)
    parser.add_argument("--batch-accounts", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = EvidenceRunSettings()
    if args.max_concurrency:
        settings.max_concurrency = args.max_concurrency
    if args.batch_accounts:
        settings.batch_accounts = args.batch_accounts
    print(f"model: {args.regions} regions, {args.calls} calls per account-region, {args.latency * 1000:.0f} ms mean "
          f"latency, batches of {settings.batch_accounts} accounts, MaxConcurrency {settings.max_concurrency}, "
          f"{THREADS} threads per Lambda")
    for accounts in args.accounts:
        sm = state_machine(accounts, args, settings)
        peer = single_lambda(accounts, args)
        verdict = "within" if sm["max_item"] <= LAMBDA_LIMIT_SECONDS else "EXCEEDS"
        print(f"\n== {accounts} accounts: {sm['calls']:,} API calls, {sm['items']} Map items")
        print(f"state machine run: {sm['duration'] / 60:.1f} min; single Lambda (peer): {peer / 60:.1f} min "
              f"({'over' if peer > LAMBDA_LIMIT_SECONDS else 'within'} its 15-minute limit); "
              f"ratio peer/state machine: {peer / sm['duration']:.1f}x")
        print(f"longest item: {sm['max_item']:.0f} s of Lambda's {LAMBDA_LIMIT_SECONDS} s ({verdict})")
        print("peak in-flight calls per service, organization-wide: "
              + ", ".join(f"{s} {n}" for s, n in sm["peaks"].items()))
        cost = sm["cost"]
        print(f"per run: {sm['transitions']:,} state transitions, {sm['gb_seconds']:,.0f} Lambda GB-s; cost "
              f"${sum(cost.values()):.2f} (transitions ${cost['transitions']:.3f}, Lambda ${cost['lambda']:.2f}, "
              f"S3 ${cost['s3']:.2f}); daily for a month ${30 * sum(cost.values()):.0f}")


if __name__ == "__main__":
    main()
