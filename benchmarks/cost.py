"""`charter cost` on an example, against `charter synth` of the same config in the same run.

The estimate synthesizes the landing zone and every optimizer environment, then prices
each resource in each account and region its stack or StackSet reaches; the peer is the
synth alone (what every `charter` command pays before it does its own work). Both run as
the CLI a user types, in a fresh process each, best of `--repeat`.

The issue's budget: `charter cost` on examples/large in under 5 s on 2 cores.

Usage: python benchmarks/cost.py [-c examples/large/org.yaml] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def best(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1):  # 1: over a --fail-over target, still a full run
            sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", type=Path, default=REPO / "examples" / "large" / "org.yaml")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    charter = [sys.executable, "-m", "charter.cli"]
    from terms import terms

    with tempfile.TemporaryDirectory(prefix="charter-bench-cost-") as tmp:
        synth, cost = [], []
        for i in range(args.repeat):  # alternating, so load on the machine hits both alike
            for which in (("synth", "cost") if i % 2 == 0 else ("cost", "synth")):
                if which == "synth":
                    synth.append(best([*charter, "synth", "-c", str(args.config), "-o", tmp], 1))
                else:
                    cost.append(best([*charter, "cost", "-c", str(args.config), "-f", "json", "-o",
                                      os.path.join(tmp, "cost.json")], 1))
        synth_s, cost_s = min(synth), min(cost)
    print(terms("each command a fresh CLI process, one at a time (interpreter start and imports inside the timer "
                "for both)", f"best of {args.repeat} each", "alternating (synth first in even rounds)",
                "none: the peer (synth) is the part of the work every command shares, not the same result"))
    print(f"config: {args.config}")
    print(f"charter synth: {synth_s:.2f}s")
    print(f"charter cost:  {cost_s:.2f}s  ({cost_s / synth_s:.2f}x synth; budget 5 s)")


if __name__ == "__main__":
    main()
