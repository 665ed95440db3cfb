"""Collection against a server that answers one API with HTTP 500, vs the same collection with it working.

The embedded AWS serves every collector's reads for one account in three regions; in the
second run one API (KMS ListKeys by default) answers every request with an HTTP 500 page, as
a server that does not implement it does. Prints both wall-clock times, the requests each made
and the ratio (Charter gives up on such a call after one try: botocore alone would make ten
attempts per call with backoff, ~45 s each).

Usage: python benchmarks/broken_api.py [--api TrentService.ListKeys] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import charter.local  # noqa: E402
from charter.aws import SessionFactory  # noqa: E402
from charter.evidence.assessment import assessment_collectors, assessment_config  # noqa: E402
from charter.evidence.fanout import collect_all  # noqa: E402
from charter.local.app import _guarded_app  # noqa: E402

PAGE = b"<!doctype html><title>500 Internal Server Error</title>"


def run(broken: str | None) -> tuple[float, int, int]:
    seen: Counter = Counter()

    def factory():
        app = _guarded_app()

        def wrapped(environ, start_response):
            target = environ.get("HTTP_X_AMZ_TARGET") or environ["PATH_INFO"]
            seen[target] += 1
            if broken and target == broken:
                start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/html"),
                                                             ("Content-Length", str(len(PAGE)))])
                return [PAGE]
            return app(environ, start_response)
        return wrapped

    charter.local._guarded_app = factory
    cfg = assessment_config("us-east-1", ["us-east-1", "us-west-2", "eu-west-1"])
    with charter.local.LocalAws() as aws:
        sessions = SessionFactory.local(aws.endpoint_url)
        names = [c.name for c in assessment_collectors()]
        start = time.perf_counter()
        # no landing zone (no CharterEvidenceReader): the caller reads its own account, as assess does
        artifacts = list(collect_all(sessions, cfg, None, collectors=names, max_workers=8, role_name=""))
        elapsed = time.perf_counter() - start
    return elapsed, sum(seen.values()), sum(a.kind == "gap" for a in artifacts), len(artifacts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", default="TrentService.ListKeys")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from terms import terms

    clean, broken = [], []
    for i in range(args.repeat):  # interleaved, the order alternating, so load on the machine hits both alike
        for api in ((None, args.api) if i % 2 == 0 else (args.api, None)):
            (clean if api is None else broken).append(run(api))
    c, b = statistics.median(r[0] for r in clean), statistics.median(r[0] for r in broken)
    print(terms("both runs in this process with the embedded AWS's threads, collectors on 8 threads",
                f"{args.repeat} of each, medians", "alternating (working first in even rounds)",
                "the working runs have no gap, and each run with the broken API collects as many artifacts"))
    if any(r[2] for r in clean) or len({r[3] for r in clean + broken}) != 1:
        print(f"DISAGREEMENT: gaps with the working API {[r[2] for r in clean]} or artifact counts "
              f"{sorted({r[3] for r in clean + broken})}; no ratio printed")
        sys.exit(1)
    print(f"working API : {c:6.2f} s  {clean[0][1]:4d} requests  {clean[0][2]} gaps")
    print(f"{args.api} 500: {b:6.2f} s  {broken[0][1]:4d} requests  {broken[0][2]} gaps")
    print(f"ratio broken/working: {b / c:.2f} (must stay under 2)")


if __name__ == "__main__":
    main()
