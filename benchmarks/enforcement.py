"""Permission enforcement in the embedded AWS: what it costs a landing-zone deploy.

Deploys `examples/small` (every builder, as `charter deploy` does) on a fresh embedded AWS
with enforcement off (plain moto, the peer) and on, alternating, and prints the ratio of
the medians. Run: `python benchmarks/enforcement.py [--rounds N] [--config PATH]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one(config: Path, enforce: bool) -> tuple[float, int]:
    from charter.landing_zone.config import load_config
    from charter.landing_zone.deploy import deploy
    from charter.landing_zone.synth import build_plan, synthesize, write_output
    from charter.local import LocalAws

    cfg = load_config(config)
    out = Path(tempfile.mkdtemp(prefix="charter-enforcement-"))
    try:
        stacks = synthesize(cfg)
        write_output(stacks, build_plan(cfg, stacks), out)
        with LocalAws(enforce=enforce) as aws:
            start = time.perf_counter()
            result = deploy(cfg, out, aws.sessions())
            return time.perf_counter() - start, len(result.failures)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--config", type=Path, default=REPO / "examples" / "small" / "org.yaml")
    args = parser.parse_args()
    from terms import terms

    print(terms("each deploy alone in this process with its embedded AWS's threads",
                f"{args.rounds} of each, medians", "alternating (plain moto first in even rounds)",
                "both deploys finish with no failure"), flush=True)
    times: dict[bool, list[float]] = {False: [], True: []}
    failed = 0
    for i in range(args.rounds):
        for enforce in ((False, True) if i % 2 == 0 else (True, False)):
            seconds, failures = one(args.config, enforce)
            times[enforce].append(seconds)
            failed += failures
            print(f"enforcement {'on ' if enforce else 'off'}: {seconds:6.1f} s, {failures} failures", flush=True)
    if failed:
        raise SystemExit(f"DISAGREEMENT: {failed} failures; no ratio printed")
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"deploy with enforcement / plain moto: {on / off:.2f}x ({on:.1f} s vs {off:.1f} s, median of {args.rounds})")


if __name__ == "__main__":
    main()
